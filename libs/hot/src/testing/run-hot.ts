/**
 * Runs the hot projection of a test namespace with the projection runner, in this process or (through
 * `hot-projector-child.ts`) in a child process a test may SIGKILL.
 */
import { connectNats, inNamespace, loadDefinitions, streamName } from '@tideway/nats';
import { runProjection, type RunningProjection } from '@tideway/projection';
import { Redis } from 'ioredis';
import {
  createHotProjection,
  HOT_PROJECTOR_CONSUMER,
  type HotProjection,
  type HotProjectionOptions,
} from '../projection.ts';

/** Where and how to run (JSON-serialisable: it is passed to the child process on its command line). */
export interface HotRunConfig {
  readonly natsUrl: string;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly streamsDir: string;
  readonly subjectRoot: string;
  readonly streamSuffix: string;
  readonly partitions: number;
  readonly maxBatch: number;
  readonly maxWaitMs?: number;
  readonly leaseMs: number;
  /** Base name of the stream to read (default `EVENTS`). */
  readonly stream?: string;
  /** The consumer definition in `streams/` (default `hot-projector`). */
  readonly consumer?: string;
  /** Read with another durable configured like it (a rebuild). */
  readonly durable?: string;
  readonly store?: Pick<HotProjectionOptions, 'ttl' | 'limits' | 'name'> & {
    readonly entities?: false;
    readonly derived?: false;
  };
}

/** A hot projection running in this process. */
export interface RunningHot {
  readonly projection: HotProjection;
  readonly running: RunningProjection;
  close(): Promise<void>;
}

/** Starts the hot projection described by `config` and resolves once it is consuming. */
export async function runHot(
  config: HotRunConfig,
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void },
): Promise<RunningHot> {
  const namespace = { subjectRoot: config.subjectRoot, streamSuffix: config.streamSuffix };
  const definitions = inNamespace(await loadDefinitions(config.streamsDir), namespace);
  const stream = streamName(config.stream ?? 'EVENTS', namespace);
  const durable = config.consumer ?? HOT_PROJECTOR_CONSUMER;
  const definition = definitions.consumers.find((c) => c.stream === stream && c.config.durable_name === durable);
  if (!definition) throw new Error(`no consumer ${durable} of ${stream} in ${config.streamsDir}`);
  const consumer = { ...definition.config, durable_name: config.durable ?? durable };

  const redis = new Redis(config.redisUrl);
  const nats = await connectNats({ servers: config.natsUrl, name: 'tideway-hot-test' });
  const projection = createHotProjection({
    redis,
    prefix: config.prefix,
    ...config.store,
    lock: { leaseMs: config.leaseMs, pollMs: 50 },
  });
  const running = await runProjection({
    nc: nats.nc,
    connected: nats.connected,
    stream,
    consumer,
    store: projection.store,
    scheme: { root: config.subjectRoot, partitions: config.partitions },
    acquireLock: projection.acquireLock,
    maxBatch: config.maxBatch,
    maxWaitMs: config.maxWaitMs ?? 5,
    log,
  });
  return {
    projection,
    running,
    close: async () => {
      await running.stop();
      await nats.nc.close();
      redis.disconnect();
    },
  };
}
