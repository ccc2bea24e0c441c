/**
 * `npm start`: provisions streams and migrations, starts ingest, projector, query and processor, and (unless
 * TIDEWAY_DEMO=off) runs the demo workload against them. Ctrl-C stops everything gracefully.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startDemoProducer } from '@tideway/demo';
import { SERVICE_NODE_FLAGS } from './node-flags.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const env = { ...process.env };
const ports = {
  ingest: Number(env['INGEST_PORT'] ?? 8080),
  query: Number(env['QUERY_PORT'] ?? 8081),
  projector: Number(env['PROJECTOR_PORT'] ?? 8082),
  processor: Number(env['PROCESSOR_PORT'] ?? 8083),
};
const demo = (env['TIDEWAY_DEMO'] ?? 'on') !== 'off';

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

// The cold archive needs S3. Without S3_ENDPOINT, run a local S3-compatible server (s3rver) whose data persists
// in .tmp/s3rver, next to the manifest that PostgreSQL keeps; point S3_ENDPOINT at real S3/MinIO to use that.
let s3rver: { close(): Promise<void> } | undefined;
if (!env['S3_ENDPOINT']) {
  const port = Number(env['TIDEWAY_S3RVER_PORT'] ?? 9000);
  if (await listening(port)) {
    console.error(`port ${port} is taken and S3_ENDPOINT is not set: set S3_ENDPOINT (and keys) for the cold archive`);
    process.exit(1);
  }
  const directory = `${root}.tmp/s3rver`;
  mkdirSync(directory, { recursive: true });
  const S3rver = createRequire(import.meta.url)('s3rver') as new (o: object) => {
    run(): Promise<unknown>;
    close(): Promise<void>;
  };
  const server = new S3rver({ address: '127.0.0.1', port, directory, silent: true });
  await server.run();
  s3rver = server;
  Object.assign(env, {
    S3_ENDPOINT: `http://127.0.0.1:${port}`,
    S3_ACCESS_KEY: 'S3RVER',
    S3_SECRET_KEY: 'S3RVER',
    S3_REGION: 'us-east-1',
  });
  console.log(`local S3 (s3rver) on port ${port}, data in .tmp/s3rver`);
}
// Every tier: warm (PostgreSQL), hot (Redis) and cold (S3), plus the derived-event projections.
env['PROJECTIONS'] ??= 'warm,derived,hot,hot-derived,cold';
// ... and the query API reads all of them: a time range past warm retention comes from the archive.
env['QUERY_COLD'] ??= 'on';
// API keys are required (TIDEWAY_AUTH=required). npm start registers a bootstrap admin key for tenant `default`:
// TIDEWAY_BOOTSTRAP_KEY when set, else one generated once and kept in .tmp/bootstrap-key. The demo producer and the
// sample curls below use it.
if (!env['TIDEWAY_BOOTSTRAP_KEY']) {
  const keyFile = `${root}.tmp/bootstrap-key`;
  if (!existsSync(keyFile)) {
    mkdirSync(`${root}.tmp`, { recursive: true });
    writeFileSync(keyFile, `tw_local_${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  }
  env['TIDEWAY_BOOTSTRAP_KEY'] = readFileSync(keyFile, 'utf8').trim();
}
const apiKey = env['TIDEWAY_BOOTSTRAP_KEY'];
const children: { name: string; child: ChildProcess }[] = [];
let stopping = false;

function start(name: keyof typeof ports): void {
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, '--import', 'tsx', `${root}apps/${name}/src/main.ts`], {
    cwd: root,
    env: { ...env, LOG_LEVEL: env['LOG_LEVEL'] ?? 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${name} exited (${signal ?? code}); stopping the platform`);
      void stop(1);
    }
  });
  children.push({ name, child });
}

async function ready(name: keyof typeof ports, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${ports[name]}/readyz`);
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline)
      throw new Error(`${name} did not become ready on port ${ports[name]} within ${timeoutMs / 1000}s`);
    if (stopping) throw new Error('stopping');
    await new Promise((r) => setTimeout(r, 200));
  }
}

let producer: ReturnType<typeof startDemoProducer> | undefined;
let statsTimer: NodeJS.Timeout | undefined;

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(statsTimer);
  await producer?.stop();
  await Promise.all(
    children.map(
      ({ child }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  await s3rver?.close();
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

console.log('starting Tideway: ingest, projector, query …');
// The ingest service provisions the streams first; the projector then applies migrations and binds its consumer.
start('ingest');
await ready('ingest');
start('projector');
start('query');
// The stream processor runs the pipelines in pipelines/ (the demo's: 1-minute stats per sensor, anomaly alerts).
start('processor');
await Promise.all([ready('projector'), ready('query'), ready('processor')]);

const ingestUrl = `http://127.0.0.1:${ports.ingest}`;
const queryUrl = `http://127.0.0.1:${ports.query}`;
console.log(`
Tideway is running.
  ingest     ${ingestUrl}/v1/events        (POST CloudEvents: structured, batch, binary, NDJSON; also /v1/batch (Segment), /v1/webhooks/:source, /v1/uploads)
  query      ${queryUrl}/v1/events         (GET, see ${queryUrl}/openapi.json)
  projector  http://127.0.0.1:${ports.projector}/metrics
  processor  http://127.0.0.1:${ports.processor}/v1/pipelines   (1-minute stats per sensor, anomalies, alerts → DERIVED)
  health     /healthz  /readyz  /metrics on every service

API key (admin, tenant default; TIDEWAY_BOOTSTRAP_KEY): ${apiKey}

Try:
  export TIDEWAY_API_KEY=${apiKey}
  curl -s -X POST ${ingestUrl}/v1/events -H "authorization: Bearer $TIDEWAY_API_KEY" -H 'content-type: application/json' \\
    -d '{"specversion":"1.0","source":"urn:me","type":"iot.sensor.reading","subject":"sensor-x","data":{"device_id":"sensor-x","reading_value":42.5}}'
  curl -s -H "authorization: Bearer $TIDEWAY_API_KEY" '${queryUrl}/v1/events?type=iot.sensor.reading&limit=5'
`);

if (demo) {
  producer = startDemoProducer({ ingestUrl, apiKey, log: (line) => console.error(`[demo] ${line}`) });
  console.log(
    'demo workload: 50 sensors reporting every second, order batches every 5 s (TIDEWAY_DEMO=off to disable)',
  );
  const report = async (): Promise<void> => {
    const stats = producer!.stats();
    let warm = '?';
    try {
      const page = (await (
        await fetch(`${queryUrl}/v1/events?limit=1`, { headers: { authorization: `Bearer ${apiKey}` } })
      ).json()) as {
        items: { seq: number }[];
      };
      warm = String(page.items[0]?.seq ?? 0);
    } catch {
      /* query not answering */
    }
    console.log(`[demo] sent ${stats.sent} events (${stats.failed} failed); newest seq queryable: ${warm}`);
  };
  statsTimer = setInterval(() => void report(), 10_000);
} else {
  console.log('TIDEWAY_DEMO=off: the platform runs without the demo workload. Ctrl-C to stop.');
}
if (env['TIDEWAY_RUN_SECONDS']) setTimeout(() => void stop(0), Number(env['TIDEWAY_RUN_SECONDS']) * 1000);
