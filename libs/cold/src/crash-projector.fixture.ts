/**
 * Test fixture: runs the cold projection under `runProjection` in its own process, so that a test can SIGKILL
 * it at any point. Configuration comes as one JSON argument (see {@link CrashProjectorConfig}); the process
 * runs until it is killed, or stops cleanly on SIGTERM.
 *
 *     node --import tsx crash-projector.fixture.ts '<json>'
 */
import { connect } from '@nats-io/transport-node';
import { Client as MinioClient } from 'minio';
import { runProjection } from '@tideway/projection';
import { acquireProjectionLock, openWarmStore } from '@tideway/warm';
import { createColdProjection } from './projection.ts';
import { openColdStore } from './db.ts';

export interface CrashProjectorConfig {
  readonly databaseUrl: string;
  readonly schema: string;
  readonly s3: { readonly endPoint: string; readonly port: number; readonly accessKey: string; readonly secretKey: string; readonly region: string };
  readonly bucket: string;
  readonly natsUrl: string;
  readonly stream: string;
  readonly consumer: Record<string, unknown> & { durable_name: string };
  readonly subjectRoot: string;
  readonly name: string;
  readonly prefix: string;
  readonly windowSize: number;
  readonly maxObjectBytes: number;
  readonly maxBatch: number;
  readonly maxWaitMs: number;
}

const config = JSON.parse(process.argv[2] ?? '') as CrashProjectorConfig;
const s3 = new MinioClient({ ...config.s3, useSSL: false, pathStyle: true, partSize: 5 * 1024 * 1024 * 1024 });
const store = openColdStore({ url: config.databaseUrl, schema: config.schema, s3, bucket: config.bucket, max: 2 });
const locks = openWarmStore({ url: config.databaseUrl, schema: config.schema, max: 2 });
const nc = await connect({ servers: config.natsUrl, name: 'cold-crash-fixture' });
const running = await runProjection({
  nc,
  connected: () => !nc.isClosed(),
  stream: config.stream,
  consumer: config.consumer,
  store: createColdProjection({ store, name: config.name, prefix: config.prefix, windowSize: config.windowSize, maxObjectBytes: config.maxObjectBytes }),
  scheme: { root: config.subjectRoot, partitions: 16 },
  acquireLock: (projection, onWaiting) => acquireProjectionLock(locks, projection, { pollMs: 100, onWaiting }),
  maxBatch: config.maxBatch,
  maxWaitMs: config.maxWaitMs,
  log: {
    info: () => {},
    error: (obj, msg) => process.stderr.write(`${msg} ${JSON.stringify(obj, (_k, v: unknown) => (v instanceof Error ? v.message : v))}\n`),
  },
});
process.once('SIGTERM', () => {
  void (async () => {
    await running.stop();
    await nc.close();
    await Promise.all([store.close(), locks.close()]);
    process.exit(0);
  })();
});
