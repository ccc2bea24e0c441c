/**
 * The orchestrator side of child processes: benchmark agents (load generators, raw clients) talking IPC, and the
 * platform's apps started from their real entry points (`apps/<name>/src/main.ts`), each tracked for CPU and
 * memory through /proc.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SERVICE_NODE_FLAGS } from '../../node-flags.ts';
import { TrackedProcess } from './procs.ts';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Processes to run under `--cpu-prof` (names from `--profile`), and where profiles go. */
const profiling = { names: new Set<string>(), dir: `${repoRoot}bench/profiles` };
export function profileProcesses(names: readonly string[]): void {
  for (const n of names) profiling.names.add(n);
  if (names.length > 0) mkdirSync(profiling.dir, { recursive: true });
}
/** Node's arguments for a child: the platform's services run as `npm start` runs them; agents with Node's defaults. */
function execArgvFor(name: string, service = false): string[] {
  const base = [...(service ? SERVICE_NODE_FLAGS : []), '--import', 'tsx'];
  // One directory per process: node writes one profile per thread (tsx's loader runs in a worker thread).
  return profiling.names.has(name) || profiling.names.has('all') ? [...base, '--cpu-prof', '--cpu-prof-dir', `${profiling.dir}/${name}`] : base;
}

/** Hooks a run can pass: called at the agent's measurement marks and on its progress lines. */
export interface RunHooks {
  onMark?(phase: 'begin' | 'end'): void;
  onProgress?(text: string): void;
}

type FromAgent =
  | { t: 'ready' }
  | { t: 'mark'; id: number; phase: 'begin' | 'end' }
  | { t: 'progress'; text: string }
  | { t: 'result'; id: number; value: unknown }
  | { t: 'error'; id: number; message: string };

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) if (c.exitCode === null) c.kill('SIGKILL');
});

/** A long-lived agent process (`ops/bench/agents/<script>.ts`). */
export class Agent {
  private runSeq = 0;
  private current: { id: number; hooks: RunHooks; resolve: (v: unknown) => void; reject: (e: Error) => void } | undefined;
  readonly proc: TrackedProcess;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    this.proc = new TrackedProcess(name, child.pid!);
    child.on('message', (raw) => this.onMessage(raw as FromAgent));
    child.on('exit', (code, signal) => {
      live.delete(child);
      this.current?.reject(new Error(`agent ${name} exited (${signal ?? code}) during a run`));
      this.current = undefined;
    });
  }

  static async start(name: string, script: string, env: Record<string, string | undefined> = process.env): Promise<Agent> {
    const child = fork(`${repoRoot}ops/bench/agents/${script}.ts`, [], {
      execArgv: execArgvFor(name),
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    live.add(child);
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: unknown): void => {
        if ((m as FromAgent).t === 'ready') {
          child.off('message', onMessage);
          resolve();
        }
      };
      child.on('message', onMessage);
      child.once('exit', (code) => reject(new Error(`agent ${script} exited with ${code} before it was ready`)));
    });
    return new Agent(name, child);
  }

  private onMessage(m: FromAgent): void {
    const run = this.current;
    if (m.t === 'mark') {
      run?.hooks.onMark?.(m.phase);
      this.child.send({ t: 'marked', id: m.id });
    } else if (m.t === 'progress') {
      run?.hooks.onProgress?.(m.text);
    } else if ((m.t === 'result' || m.t === 'error') && run && m.id === run.id) {
      this.current = undefined;
      if (m.t === 'result') run.resolve(m.value);
      else run.reject(new Error(`agent ${this.name}: ${m.message}`));
    }
  }

  /** Runs one measurement request; one at a time per agent. */
  run<T>(args: unknown, hooks: RunHooks = {}): Promise<T> {
    if (this.current) throw new Error(`agent ${this.name} is busy`);
    const id = ++this.runSeq;
    return new Promise<T>((resolve, reject) => {
      this.current = { id, hooks, resolve: resolve as (v: unknown) => void, reject };
      this.child.send({ t: 'run', id, args });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ t: 'exit' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** One of the platform's apps, started from `apps/<app>/src/main.ts` with the scenario's environment. */
export class AppProcess {
  readonly proc: TrackedProcess;
  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    this.proc = new TrackedProcess(name, child.pid!);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(
    app: 'ingest' | 'projector' | 'query',
    env: Record<string, string>,
    port: number,
    options: { name?: string; onSpawn?: (proc: TrackedProcess) => void } = {},
  ): Promise<AppProcess> {
    const name = options.name ?? app;
    const child = spawn(process.execPath, [...execArgvFor(name, true), `${repoRoot}apps/${app}/src/main.ts`], {
      cwd: repoRoot,
      env: { LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    live.add(child);
    child.once('exit', () => live.delete(child));
    options.onSpawn?.(new TrackedProcess(name, child.pid!));
    const started = Date.now();
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} during start-up`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        if (res.ok) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() - started > 60_000) throw new Error(`${name} was not ready on port ${port} within 60 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return new AppProcess(name, port, child);
  }

  /** SIGTERM (graceful: drains in-flight work, writes a CPU profile when profiling), SIGKILL after 15 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}
