/**
 * The child side of a benchmark agent: a long-lived process that runs measurement requests sent by the
 * orchestrator over IPC, so JIT warm-up carries from the warm-up run to the measured ones. Inside a run the agent
 * calls `mark('begin')`/`mark('end')` around the measured interval; the orchestrator samples every process's CPU
 * and memory at those instants.
 */
export interface AgentContext {
  /** Waits until the orchestrator has sampled every process at this instant. */
  mark(phase: 'begin' | 'end'): Promise<void>;
  /** A progress line for the console. */
  progress(text: string): void;
}

type Message = { t: 'run'; id: number; args: unknown } | { t: 'marked'; id: number } | { t: 'exit' };

/** Serves runs of `handler` until the orchestrator says exit. */
export function serveAgent<A>(handler: (args: A, ctx: AgentContext) => Promise<unknown>): void {
  if (!process.send) throw new Error('a benchmark agent must be started by ops/bench/main.ts (no IPC channel)');
  const send = (m: object): void => void process.send!(m);
  let markSeq = 0;
  const waiting = new Map<number, () => void>();
  const ctx: AgentContext = {
    mark: (phase) =>
      new Promise<void>((resolve) => {
        const id = ++markSeq;
        waiting.set(id, resolve);
        send({ t: 'mark', id, phase });
      }),
    progress: (text) => send({ t: 'progress', text }),
  };
  process.on('message', (raw) => {
    const m = raw as Message;
    if (m.t === 'marked') {
      waiting.get(m.id)?.();
      waiting.delete(m.id);
    } else if (m.t === 'exit') {
      process.exit(0);
    } else if (m.t === 'run') {
      handler(m.args as A, ctx).then(
        (value) => send({ t: 'result', id: m.id, value }),
        (error: unknown) => send({ t: 'error', id: m.id, message: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ t: 'ready' });
}
