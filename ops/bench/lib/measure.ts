/**
 * The measurement loop every scenario uses: a warm-up run that is not counted, then N repeats, each sampled for
 * CPU and memory of every involved process at the agent's begin/end marks, summarised as median and min–max.
 */
import type { RunHooks } from './children.ts';
import { UsageWindow, type ProcessUsage, type TrackedProcess } from './procs.ts';
import { summarize, type Summary } from './stats.ts';

/** What the harness hands every scenario. */
export interface BenchContext {
  /** NATS_URL, DATABASE_URL, REDIS_URL, S3_*. */
  readonly env: Record<string, string>;
  readonly quick: boolean;
  /** Repeats per measurement (≥ 3). */
  readonly runs: number;
  /** nats-server, postgres, redis. */
  readonly servers: readonly TrackedProcess[];
  log(line: string): void;
  /** A transient progress line (overwritten on a TTY). */
  progress(text: string): void;
}

/** One line of the results table. */
export interface ResultRow {
  /** Stable id, e.g. `ref.publish.core` or `ingest.http.b100`. */
  readonly id: string;
  readonly scenario: string;
  readonly name: string;
  readonly unit: string;
  readonly summary: Summary;
  /** Median CPU seconds and max RSS per process over the measured runs. */
  readonly processes: Record<string, ProcessUsage>;
  /** Length of one measured run, seconds (median), for reading CPU seconds as a share of a core. */
  readonly seconds?: number;
  /** Extra figures (latency percentiles, backlog, settings). */
  readonly details?: Record<string, unknown>;
  readonly note?: string;
  /** Set when the scenario could not run. */
  readonly skipped?: string;
}

export interface RunOutcome {
  /** The figure summarised over repeats (e.g. events/s). */
  readonly value: number;
  readonly seconds?: number;
  readonly details?: Record<string, unknown>;
}

/**
 * Runs `once` for a warm-up and `ctx.runs` repeats. `once(i, hooks)` must pass `hooks` to the agent so the
 * begin/end marks sample `procs` (plus the servers).
 */
export async function repeat(
  ctx: BenchContext,
  label: string,
  procs: () => readonly TrackedProcess[],
  once: (run: number, hooks: RunHooks) => Promise<RunOutcome>,
  options: { warmup?: boolean; format?: (v: number) => string } = {},
): Promise<{ summary: Summary; processes: Record<string, ProcessUsage>; seconds: number; details: Record<string, unknown>[] }> {
  const fmt = options.format ?? ((v: number) => Math.round(v).toLocaleString('en-US'));
  const window = new UsageWindow(() => [...procs(), ...ctx.servers]);
  const hooks = (run: string): RunHooks => ({
    onMark: (phase) => (phase === 'begin' ? window.begin() : undefined),
    onProgress: (text) => ctx.progress(`${label} ${run}: ${text}`),
  });
  if (options.warmup !== false) {
    ctx.progress(`${label} warm-up`);
    await once(-1, hooks('warm-up'));
  }
  const values: number[] = [];
  const seconds: number[] = [];
  const details: Record<string, unknown>[] = [];
  const usages: Record<string, ProcessUsage>[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    ctx.progress(`${label} run ${i + 1}/${ctx.runs}`);
    let usage: Record<string, ProcessUsage> | undefined;
    const h = hooks(`run ${i + 1}/${ctx.runs}`);
    const outcome = await once(i, {
      ...h,
      onMark: (phase) => {
        if (phase === 'begin') window.begin();
        else usage = window.end();
      },
    });
    usage ??= window.end();
    values.push(outcome.value);
    if (outcome.seconds !== undefined) seconds.push(outcome.seconds);
    details.push(outcome.details ?? {});
    usages.push(usage);
    ctx.log(`  ${label} run ${i + 1}/${ctx.runs}: ${fmt(outcome.value)}`);
  }
  const processes: Record<string, ProcessUsage> = {};
  for (const name of new Set(usages.flatMap((u) => Object.keys(u)))) {
    const cpu = summarize(usages.map((u) => u[name]?.cpuSeconds ?? NaN)).median;
    const rss = Math.max(...usages.map((u) => u[name]?.rssMiB ?? 0));
    processes[name] = { cpuSeconds: Math.round(cpu * 100) / 100, rssMiB: rss };
  }
  return { summary: summarize(values), processes, seconds: summarize(seconds).median, details };
}

/** A row for a scenario that could not run here, with the reason. */
export function skippedRow(id: string, scenario: string, name: string, unit: string, reason: string): ResultRow {
  return { id, scenario, name, unit, summary: { median: NaN, min: NaN, max: NaN, runs: [] }, processes: {}, skipped: reason };
}

/** Per-run details folded into one: numbers → median over runs, booleans → true if any run said true, else the last. */
export function foldDetails(details: readonly Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of new Set(details.flatMap((d) => Object.keys(d)))) {
    const values = details.map((d) => d[key]).filter((v) => v !== undefined);
    if (values.every((v) => typeof v === 'number')) out[key] = Math.round(summarize(values).median * 100) / 100;
    else if (values.every((v) => typeof v === 'boolean')) out[key] = values.some(Boolean);
    else out[key] = values.at(-1);
  }
  return out;
}
