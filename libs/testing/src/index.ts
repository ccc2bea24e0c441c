/**
 * Test support for Tideway: the servers a test run needs (started when none listens) and per-test-file isolation
 * on them.
 */
export {
  cleanupRedisPrefix,
  createPgSchema,
  createS3Bucket,
  createS3Client,
  deleteStreams,
  natsNamespace,
  redisPrefix,
  sweepStaleStreams,
  uniqueSuffix,
  waitFor,
  withSearchPath,
  type PgSchema,
  type S3Bucket,
  type S3Env,
  type WaitForOptions,
} from './isolation.ts';
export {
  defaultServiceUrls,
  ensureServices,
  findInitdb,
  freePort,
  isListening,
  startNatsServer,
  startPostgresCluster,
  startRedisServer,
  startS3rver,
  type EnsureServicesOptions,
  type Services,
  type StartedS3Server,
  type StartedServer,
  type StartNatsServerOptions,
  type StartPostgresClusterOptions,
  type StartRedisServerOptions,
  type StartS3rverOptions,
} from './services.ts';
