/**
 * `npm start`: provisions streams and migrations, starts ingest, projector and query, and (unless
 * TIDEWAY_DEMO=off) runs the demo workload against them. Ctrl-C stops everything gracefully.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startDemoProducer } from '@tideway/demo';

const root = fileURLToPath(new URL('..', import.meta.url));
const env = { ...process.env };
const ports = {
  ingest: Number(env['INGEST_PORT'] ?? 8080),
  query: Number(env['QUERY_PORT'] ?? 8081),
  projector: Number(env['PROJECTOR_PORT'] ?? 8082),
};
const demo = (env['TIDEWAY_DEMO'] ?? 'on') !== 'off';
const children: { name: string; child: ChildProcess }[] = [];
let stopping = false;

function start(name: keyof typeof ports): void {
  const child = spawn(process.execPath, ['--import', 'tsx', `${root}apps/${name}/src/main.ts`], {
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
    if (Date.now() > deadline) throw new Error(`${name} did not become ready on port ${ports[name]} within ${timeoutMs / 1000}s`);
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
await Promise.all([ready('projector'), ready('query')]);

const ingestUrl = `http://127.0.0.1:${ports.ingest}`;
const queryUrl = `http://127.0.0.1:${ports.query}`;
console.log(`
Tideway is running.
  ingest     ${ingestUrl}/v1/events        (POST CloudEvents JSON)
  query      ${queryUrl}/v1/events         (GET, see ${queryUrl}/openapi.json)
  projector  http://127.0.0.1:${ports.projector}/metrics
  health     /healthz  /readyz  /metrics on every service

Try:
  curl -s -X POST ${ingestUrl}/v1/events -H 'content-type: application/json' \\
    -d '{"specversion":"1.0","source":"urn:me","type":"iot.sensor.reading","subject":"sensor-x","data":{"device_id":"sensor-x","reading_value":42.5}}'
  curl -s '${queryUrl}/v1/events?type=iot.sensor.reading&limit=5'
`);

if (demo) {
  producer = startDemoProducer({ ingestUrl, log: (line) => console.error(`[demo] ${line}`) });
  console.log('demo workload: 50 sensors reporting every second, order batches every 5 s (TIDEWAY_DEMO=off to disable)');
  const report = async (): Promise<void> => {
    const stats = producer!.stats();
    let warm = '?';
    try {
      const page = (await (await fetch(`${queryUrl}/v1/events?limit=1`)).json()) as { items: { seq: number }[] };
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
