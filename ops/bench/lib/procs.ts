/**
 * Per-process resource accounting from /proc, uniform for every process a scenario involves: our own child
 * processes (load generators, apps under test) and the servers (nats-server, PostgreSQL, Redis).
 *
 * CPU is `utime + stime` (plus `cutime + cstime` for a server whose exited children it reaped: PostgreSQL's
 * postmaster reaps its backends, so their CPU is never lost when a pool closes a connection mid-run).
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

/** One sample of a tracked process group. */
export interface CpuSample {
  readonly cpuSeconds: number;
  /** Resident memory now (sum over the group), bytes. */
  readonly rssBytes: number;
  /** Peak resident memory of the group's main process (VmHWM), bytes. */
  readonly peakRssBytes: number;
}

function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: fields start after the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function statusKb(pid: number, field: string): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** `fields` index = (man proc field number) − 3. */
function cpuTicks(fields: string[], withChildren: boolean): number {
  const own = Number(fields[11]) + Number(fields[12]);
  return withChildren ? own + Number(fields[13]) + Number(fields[14]) : own;
}

function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f && Number(f[1]) === ppid) out.push(Number(entry));
  }
  return out;
}

/** A process (or a server's process tree) whose CPU and memory a scenario reports. */
export class TrackedProcess {
  constructor(
    readonly name: string,
    readonly pid: number,
    /** Count the process's children too (PostgreSQL backends). */
    private readonly tree = false,
  ) {}

  sample(): CpuSample {
    const main = statFields(this.pid);
    if (!main) return { cpuSeconds: NaN, rssBytes: 0, peakRssBytes: 0 };
    let ticks = cpuTicks(main, this.tree);
    let rss = statusKb(this.pid, 'VmRSS');
    if (this.tree) {
      for (const child of childrenOf(this.pid)) {
        const f = statFields(child);
        if (f) ticks += cpuTicks(f, false);
        rss += statusKb(child, 'RssAnon');
      }
    }
    return { cpuSeconds: ticks / TICKS, rssBytes: rss, peakRssBytes: statusKb(this.pid, 'VmHWM') };
  }
}

/** The pid of the process listening on 127.0.0.1/0.0.0.0/[::]:port, found through the socket's inode. */
export function pidListeningOn(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      if (!local || cols[3] !== '0A') continue; // 0A = LISTEN
      if (parseInt(local.split(':')[1] ?? '', 16) === port && cols[9]) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const link = readlinkSync(`/proc/${entry}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m && inodes.has(m[1]!)) return Number(entry);
      } catch {
        /* fd closed meanwhile */
      }
    }
  }
  return undefined;
}

/** The servers' processes, found by the ports of their URLs. */
export function serverProcesses(env: Record<string, string>): TrackedProcess[] {
  const out: TrackedProcess[] = [];
  const add = (name: string, url: string | undefined, fallback: number, tree: boolean): void => {
    if (!url) return;
    const port = Number(new URL(url.split(',')[0]!).port || fallback);
    const pid = pidListeningOn(port);
    if (pid !== undefined) out.push(new TrackedProcess(name, pid, tree));
  };
  add('nats-server', env['NATS_URL'], 4222, false);
  add('postgres', env['DATABASE_URL'], 5432, true);
  add('redis', env['REDIS_URL'], 6379, false);
  return out;
}

/** CPU seconds and peak RSS per process over one measured interval. */
export interface ProcessUsage {
  readonly cpuSeconds: number;
  /** Peak RSS of the process so far (lifetime VmHWM) for our processes; current RSS of the tree for servers. */
  readonly rssMiB: number;
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineBusySeconds(): number {
  const cols = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
  const busy = cols.slice(0, 8).reduce((a, b) => a + b, 0) - (cols[3] ?? 0) - (cols[4] ?? 0);
  return busy / TICKS;
}

/**
 * Snapshots a set of processes at the start and end of a measured interval. The pseudo-process `other` is the
 * machine's busy CPU that none of them used: load from outside the benchmark, which makes a run less reliable.
 */
export class UsageWindow {
  private start = new Map<string, CpuSample>();
  private machineStart = 0;
  constructor(private readonly procs: () => readonly TrackedProcess[]) {}

  begin(): void {
    this.start = new Map(this.procs().map((p) => [p.name, p.sample()]));
    this.machineStart = machineBusySeconds();
  }

  end(): Record<string, ProcessUsage> {
    const out: Record<string, ProcessUsage> = {};
    const machine = machineBusySeconds() - this.machineStart;
    for (const p of this.procs()) {
      const a = this.start.get(p.name);
      const b = p.sample();
      if (!a || Number.isNaN(b.cpuSeconds)) continue;
      const server = p.name === 'nats-server' || p.name === 'postgres' || p.name === 'redis';
      out[p.name] = {
        cpuSeconds: Math.round((b.cpuSeconds - a.cpuSeconds) * 100) / 100,
        rssMiB: Math.round((server ? b.rssBytes : b.peakRssBytes) / 1048576),
      };
    }
    const ours = Object.values(out).reduce((a, u) => a + u.cpuSeconds, 0);
    out['other'] = { cpuSeconds: Math.max(0, Math.round((machine - ours) * 100) / 100), rssMiB: 0 };
    return out;
  }
}
