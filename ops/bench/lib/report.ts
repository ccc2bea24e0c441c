/**
 * The benchmark's outputs: the machine and versions it ran on, the budget verdicts, the console table, the JSON
 * results file and the generated section of docs/benchmarks.md.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import type { ResultRow } from './measure.ts';

export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly loadAverageAtStart: readonly number[];
  readonly versions: Record<string, string>;
  readonly commit: string;
}

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

export async function machineInfo(env: Record<string, string>, repoRoot: string): Promise<MachineInfo> {
  const versions: Record<string, string> = { node: process.version };
  try {
    const nc = await connect({ servers: env['NATS_URL']!.split(','), name: 'tideway-bench-info' });
    versions['nats-server'] = nc.info?.version ?? '?';
    await nc.close();
  } catch {
    versions['nats-server'] = 'unreachable';
  }
  try {
    const sql = postgres(env['DATABASE_URL']!, { max: 1, onnotice: () => {} });
    const [row] = await sql<{ server_version: string }[]>`show server_version`;
    versions['postgres'] = row?.server_version ?? '?';
    await sql.end();
  } catch {
    versions['postgres'] = 'unreachable';
  }
  try {
    const redis = new Redis(env['REDIS_URL']!, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    versions['redis'] = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
    redis.disconnect();
  } catch {
    versions['redis'] = 'unreachable';
  }
  for (const pkg of ['@nats-io/jetstream', 'postgres', 'ioredis', 'hono', 'rxjs']) {
    versions[pkg === 'postgres' ? 'postgres.js' : pkg] = safe(() => (JSON.parse(readFileSync(`${repoRoot}node_modules/${pkg}/package.json`, 'utf8')) as { version: string }).version, '?');
  }
  const git = (...args: string[]): string => safe(() => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(), '');
  const head = git('rev-parse', '--short=12', 'HEAD') || 'unknown';
  const dirty = git('status', '--porcelain') !== '';
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    versions,
    commit: dirty ? `${head} (with uncommitted changes)` : head,
  };
}

/** One budget line: a figure against a target, absolute or as a ratio of a reference. */
export interface BudgetLine {
  readonly name: string;
  readonly row: string;
  /** The figure to check (median, or a detail such as p99). */
  readonly measured: number | undefined;
  readonly unit: string;
  /** For a ratio: the reference rows (the reference is their max or min) and the required ratio. */
  readonly reference?: { rows: readonly string[]; pick: 'max' | 'min'; value: number | undefined; ratio: number | undefined; required: number };
  /** For an absolute target: the bound and its direction. */
  readonly target?: { op: '<' | '≥'; value: number };
  readonly status: 'met' | 'missed' | 'not measured';
  readonly note?: string;
}

export function fmt(v: number | undefined, unit = ''): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  if (unit === 'ms') return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(Math.abs(v) >= 10 ? 1 : 2);
}

function procs(row: ResultRow): string {
  return Object.entries(row.processes)
    .filter(([name, u]) => u.cpuSeconds >= 0.05 || (name !== 'other' && u.rssMiB > 0 && name !== 'redis' && name !== 'postgres' && name !== 'nats-server'))
    .map(([name, u]) => (name === 'other' ? `other load ${u.cpuSeconds.toFixed(1)}s` : `${name} ${u.cpuSeconds.toFixed(1)}s/${u.rssMiB}M`))
    .join(', ');
}

function extraLatency(row: ResultRow): string {
  const d = row.details ?? {};
  const parts: string[] = [];
  for (const k of ['p50', 'p95', 'p99']) if (typeof d[k] === 'number') parts.push(`${k} ${fmt(d[k], 'ms')}`);
  return parts.join(' · ');
}

/** The results table (markdown, readable on a console too). */
export function resultsTable(rows: readonly ResultRow[]): string {
  const lines = [
    '| Scenario | Measure | Median | Min–max | Unit | Latency (median of runs) | CPU s / peak RSS per process (median run) |',
    '|---|---|---:|---:|---|---|---|',
  ];
  for (const r of rows) {
    if (r.skipped) {
      lines.push(`| ${r.scenario} | ${r.name} | – | – | ${r.unit} | skipped: ${r.skipped} | |`);
      continue;
    }
    const latencyUnit = r.unit === 'ms';
    lines.push(
      `| ${r.scenario} | ${r.name}${r.note ? ` (${r.note})` : ''} | ${fmt(r.summary.median, latencyUnit ? 'ms' : '')} | ${fmt(r.summary.min, latencyUnit ? 'ms' : '')}–${fmt(r.summary.max, latencyUnit ? 'ms' : '')} | ${r.unit} | ${extraLatency(r)} | ${procs(r)} |`,
    );
  }
  return lines.join('\n');
}

export function budgetTable(lines: readonly BudgetLine[]): string {
  const out = ['| Budget | Measured | Reference | Ratio | Target | Status |', '|---|---:|---:|---:|---|---|'];
  for (const b of lines) {
    const ref = b.reference;
    out.push(
      `| ${b.name} | ${fmt(b.measured, b.unit === 'ms' ? 'ms' : '')} ${b.unit} | ${ref ? fmt(ref.value) : ''} | ${ref?.ratio !== undefined ? `${(ref.ratio * 100).toFixed(0)}%` : ''} | ${
        ref ? `≥ ${ref.required * 100}% of ${ref.pick === 'max' ? 'the faster' : 'the slower'} of ${ref.rows.join(', ')}` : `${b.target?.op} ${b.target?.value} ${b.unit}`
      } | ${b.status === 'met' ? '**met**' : b.status === 'missed' ? '**missed**' : 'not measured'}${b.note ? ` — ${b.note}` : ''} |`,
    );
  }
  return out.join('\n');
}

export function machineLines(m: MachineInfo, mode: string, startedAt: string, minutes: number): string {
  return [
    `- Run: ${startedAt}, ${mode}, ${minutes.toFixed(1)} min, commit ${m.commit}`,
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; load average at start ${m.loadAverageAtStart.join(' / ')}`,
    `- Versions: ${Object.entries(m.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  ].join('\n');
}

const BEGIN = (section: string): string => `<!-- bench:${section}:begin -->`;
const END = (section: string): string => `<!-- bench:${section}:end -->`;

/** Replaces the generated section `section` of docs/benchmarks.md (creating the file around it if missing). */
export function updateDocs(path: string, section: 'full' | 'latest', body: string, skeleton: () => string): void {
  let text = existsSync(path) ? readFileSync(path, 'utf8') : skeleton();
  if (!text.includes(BEGIN(section))) text = `${text.trimEnd()}\n\n${BEGIN(section)}\n${END(section)}\n`;
  const start = text.indexOf(BEGIN(section)) + BEGIN(section).length;
  const end = text.indexOf(END(section));
  writeFileSync(path, `${text.slice(0, start)}\n${body.trim()}\n${text.slice(end)}`);
}
