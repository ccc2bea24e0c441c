/**
 * `npm run bench`: the platform measured against the raw infrastructure, in one run, on this machine.
 *
 *   npm run bench [-- --quick] [--only <name>[,<name>…]]… [--runs N] [--profile <process>…]
 *   npm run bench -- --report bench/results/<date>.json   (render a saved run's tables and docs section again)
 *
 * Starts the servers it needs (those already listening are used as they are), measures the raw references
 * (JetStream publish and consume, PostgreSQL COPY, Redis pipelines) and every scenario after a warm-up, at least
 * three times each (median and min–max), with CPU seconds and peak RSS per process. Prints the tables, writes
 * `bench/results/<date>.json` and regenerates the table in docs/benchmarks.md (the full-run section for a full
 * run, the latest-run section for a quick or partial one).
 *
 * Scenarios: references, ingest (HTTP batches of 1/100/1000), ndjson, drain (projections), e2e (open-loop
 * ingest → queryable latency), replay (window + anomaly operators), query (entity state, one-hour page).
 * `--profile ingest,projector` runs those processes under `node --cpu-prof` (profiles in bench/profiles/).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ensureServices, sweepStaleStreams } from '@tideway/testing';
import { profileProcesses, repoRoot } from './lib/children.ts';
import { skippedRow, type BenchContext, type ResultRow } from './lib/measure.ts';
import { serverProcesses } from './lib/procs.ts';
import { budgetTable, machineInfo, machineLines, resultsTable, updateDocs, type BudgetLine, type MachineInfo } from './lib/report.ts';
import { drain } from './scenarios/drain.ts';
import { e2eLatency } from './scenarios/e2e.ts';
import { httpIngest, ndjsonIngest } from './scenarios/ingest.ts';
import { queryLatency } from './scenarios/query.ts';
import { references } from './scenarios/references.ts';
import { replay } from './scenarios/replay.ts';

const SCENARIOS: Record<string, (ctx: BenchContext) => Promise<ResultRow[]>> = {
  references,
  ingest: httpIngest,
  ndjson: ndjsonIngest,
  drain,
  e2e: e2eLatency,
  replay,
  query: queryLatency,
};

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string', multiple: true },
    runs: { type: 'string' },
    profile: { type: 'string', multiple: true },
    report: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (args.help) {
  console.log(`usage: npm run bench -- [--quick] [--only <name>[,<name>]] [--runs N] [--profile <process>]\nscenarios: ${Object.keys(SCENARIOS).join(', ')}`);
  process.exit(0);
}

const only = (args.only ?? []).flatMap((o) => o.split(',')).map((s) => s.trim()).filter(Boolean);
for (const name of only) if (!(name in SCENARIOS)) throw new Error(`--only ${name}: no such scenario (${Object.keys(SCENARIOS).join(', ')})`);
const selected = Object.keys(SCENARIOS).filter((name) => only.length === 0 || only.includes(name));
const runs = Math.max(3, Number(args.runs ?? 3));
profileProcesses((args.profile ?? []).flatMap((p) => p.split(',')));

const tty = process.stderr.isTTY;
let progressShown = false;
const progress = (text: string): void => {
  if (tty) {
    process.stderr.write(`\r\x1b[2K… ${text.slice(0, (process.stderr.columns || 120) - 3)}`);
    progressShown = true;
  } else {
    process.stderr.write(`… ${text}\n`);
  }
};
const log = (line: string): void => {
  if (progressShown) process.stderr.write('\r\x1b[2K');
  progressShown = false;
  process.stderr.write(`${line}\n`);
};

interface SavedRun {
  startedAt: string;
  mode: string;
  minutes: number;
  machine: MachineInfo;
  rows: ResultRow[];
}

/** Runs the selected scenarios, or (`--report <results.json>`) reads a saved run to render its tables again. */
async function obtainRun(): Promise<SavedRun & { fresh: boolean }> {
  if (args.report) {
    const saved = JSON.parse(readFileSync(args.report, 'utf8')) as SavedRun;
    log(`rendering the tables of ${args.report} (${saved.mode} run of ${saved.startedAt})`);
    return { ...saved, fresh: false };
  }
  const startedAt = new Date();
  const started = performance.now();
  log(`tideway bench: ${args.quick ? 'quick' : 'full'} run of ${selected.join(', ')}, ${runs} repeats each`);
  const services = await ensureServices({ log: (line) => log(`[services] ${line}`) });
  Object.assign(process.env, services.env);
  const env = services.env;
  // Streams of killed runs (a disposal that never ran) make nats-server work in the background: clear them first.
  const swept = await sweepStaleStreams(env['NATS_URL']!);
  if (swept.length > 0) log(`[services] deleted ${swept.length} stale namespaced streams left by earlier runs (idle for over an hour)`);
  const ctx: BenchContext = { env, quick: args.quick, runs, servers: serverProcesses(env), log, progress };
  log(`tracking servers: ${ctx.servers.map((s) => `${s.name} (pid ${s.pid})`).join(', ') || 'none found'}`);
  const machine = await machineInfo(env, repoRoot);
  const rows: ResultRow[] = [];
  for (const name of selected) {
    log(`\n== ${name}`);
    const t0 = performance.now();
    try {
      rows.push(...(await SCENARIOS[name]!(ctx)));
    } catch (error) {
      log(`scenario ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      rows.push(skippedRow(`${name}.failed`, name, 'scenario failed', '', `failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`));
    }
    log(`== ${name} done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  await services.stop();
  const mode = `${args.quick ? 'quick' : 'full'}${only.length ? ` (--only ${only.join(',')})` : ''}`;
  return { startedAt: startedAt.toISOString(), mode, minutes: (performance.now() - started) / 60_000, machine, rows, fresh: true };
}

// Interrupted: exit through process.exit so the child processes are killed (lib/children.ts).
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

const run = await obtainRun();
const rows = run.rows;

// ---------------------------------------------------------------------------------------------------------------
// Budget

const byId = new Map(rows.map((r) => [r.id, r]));
const median = (id: string): number | undefined => {
  const r = byId.get(id);
  return r && !r.skipped && Number.isFinite(r.summary.median) ? r.summary.median : undefined;
};
function ratioLine(name: string, row: string, unit: string, refs: string[], pick: 'max' | 'min', required: number, note?: string): BudgetLine {
  const measured = median(row);
  const refValues = refs.map(median).filter((v): v is number => v !== undefined);
  const value = refValues.length === refs.length ? (pick === 'max' ? Math.max(...refValues) : Math.min(...refValues)) : undefined;
  const ratio = measured !== undefined && value !== undefined ? measured / value : undefined;
  // Outside load (cores busy elsewhere) during the row and during the reference it is divided by: a reference
  // measured on a busier machine reads low and flatters the ratio, and the other way round.
  const refRow = refs.find((id) => median(id) === value);
  const busy = (id: string | undefined): number | undefined => {
    const r = id ? byId.get(id) : undefined;
    const other = r?.processes['other']?.cpuSeconds;
    return other !== undefined && r?.seconds ? other / r.seconds : undefined;
  };
  const [busyRow, busyRef] = [busy(row), busy(refRow)];
  const skew =
    busyRow !== undefined && busyRef !== undefined && Math.abs(busyRef - busyRow) > 0.3
      ? `outside load ${busyRow.toFixed(1)} cores during the scenario vs ${busyRef.toFixed(1)} during the reference: ratio ${busyRef > busyRow ? 'flattered' : 'understated'}`
      : undefined;
  const notes = [note, skew].filter(Boolean).join('; ');
  return {
    name,
    row,
    measured,
    unit,
    reference: { rows: refs, pick, value, ratio, required },
    status: ratio === undefined ? 'not measured' : ratio >= required ? 'met' : 'missed',
    ...(notes ? { note: notes } : {}),
  };
}
function targetLine(name: string, row: string, op: '<', value: number, extra?: (r: ResultRow) => string | undefined): BudgetLine {
  const measured = median(row);
  const r = byId.get(row);
  const problem = r && extra ? extra(r) : undefined;
  const status = measured === undefined ? 'not measured' : measured < value && !problem ? 'met' : 'missed';
  return { name, row, measured, unit: 'ms', target: { op, value }, status, ...(problem ? { note: problem } : {}) };
}
const budget: BudgetLine[] = [
  ratioLine('HTTP ingest, batches of 100', 'ingest.http.b100', 'events/s', ['ref.publish.js', 'ref.publish.core'], 'max', 0.5),
  ratioLine('Warm projection drain', 'drain.warm', 'events/s', ['ref.consume.ack-batch', 'ref.copy.events'], 'min', 0.5),
  targetLine('E2E ingest → queryable in warm, 1k events/s, p99', 'e2e.warm.1k', '<', 100),
  targetLine('E2E ingest → queryable in warm, 10k events/s, p99 (and no growing backlog)', 'e2e.warm.10k', '<', 500, (r) => {
    const problem = r.details?.['backlogGrowing'] === true ? 'backlog grew during the run' : r.details?.['keptUp'] === false ? 'offered rate not sustained' : undefined;
    const cores = r.details?.['platformCoresAtRate'];
    return problem && typeof cores === 'number' ? `${problem}; the platform's processes used ${cores} cores' worth of CPU per second of offered load (the machine has ${run.machine.cores})` : problem;
  }),
  // The processor's own replay when it exists, else the operators composed directly; against the ordered consumer
  // on the same stream in the same scenario (the references' ordered consumer when that row is missing).
  ratioLine(
    'Bounded replay through window + anomaly operators',
    median('replay.pipeline') !== undefined ? 'replay.pipeline' : 'replay.operators',
    'events/s',
    [median('replay.ordered') !== undefined ? 'replay.ordered' : 'ref.consume.ordered'],
    'max',
    0.5,
  ),
  ...(median('replay.pipeline') !== undefined && median('replay.operators') !== undefined
    ? [ratioLine('(for comparison) window + anomaly operators over one ordered consumer', 'replay.operators', 'events/s', [median('replay.ordered') !== undefined ? 'replay.ordered' : 'ref.consume.ordered'], 'max', 0.5)]
    : []),
  ...(median('replay.decode') !== undefined
    ? [ratioLine('(floor) decoding every envelope over one ordered consumer, no operators', 'replay.decode', 'events/s', [median('replay.ordered') !== undefined ? 'replay.ordered' : 'ref.consume.ordered'], 'max', 0.5)]
    : []),
  targetLine('Entity state p99', 'query.entity', '<', 5),
  targetLine('One-hour event page p99', 'query.page', '<', 50),
];
const relevantBudget = budget.filter((b) => byId.has(b.row));

const header = machineLines(run.machine, run.mode, run.startedAt, run.minutes);
const resultMd = resultsTable(rows);
const budgetMd = relevantBudget.length ? budgetTable(relevantBudget) : '';
log(`\n${header}\n\n${budgetMd}\n\n${resultMd}\n`);

const partial = run.mode !== 'full';
const stamp = run.startedAt.slice(0, 10);
const suffix = run.mode.startsWith('quick') ? '-quick' : partial ? '-partial' : '';
const jsonPath = `${repoRoot}bench/results/${stamp}${suffix}.json`;
mkdirSync(`${repoRoot}bench/results`, { recursive: true });
const { fresh: _fresh, ...saved } = run;
writeFileSync(jsonPath, `${JSON.stringify({ ...saved, budget: relevantBudget, rows }, null, 2)}\n`);
const section = partial ? 'latest' : 'full';
updateDocs(`${repoRoot}docs/benchmarks.md`, section, `${header}\n\n${budgetMd}\n\n${resultMd}\n\nRaw results: \`bench/results/${stamp}${suffix}.json\`.`, () => '# Benchmarks\n');
log(`wrote ${jsonPath} and the ${section === 'full' ? 'full-run' : 'latest-run'} section of docs/benchmarks.md (${run.minutes.toFixed(1)} min)`);
process.exit(0);
