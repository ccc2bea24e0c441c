/**
 * Starts the servers the tests talk to when none listens: NATS with JetStream, PostgreSQL and Redis from the
 * machine's own binaries, and s3rver in-process. A server this module starts lives in a temp dir, is stopped by
 * `stop()`, is killed when the process exits, and is killed by a small watchdog if the process dies without
 * running its exit hooks (SIGKILL), so no server outlives the test run.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';

/** A server started by this module. Stopping it twice is harmless. */
export interface StartedServer extends AsyncDisposable {
  /** The URL clients connect to, e.g. `nats://127.0.0.1:4222`. */
  readonly url: string;
  /** The TCP port it listens on (127.0.0.1). */
  readonly port: number;
  /** Its temp dir, removed by {@link StartedServer.stop}. */
  readonly dir: string;
  /** Stops the server, waits until it is gone and removes its temp dir. */
  stop(): Promise<void>;
}

/** An s3rver started by {@link startS3rver}, with the settings an S3 client needs. */
export interface StartedS3Server extends StartedServer {
  /** Same as `url`: `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  /** Always `S3RVER`: s3rver rejects every other access key. */
  readonly accessKey: string;
  /** `S3RVER` (s3rver does not check it). */
  readonly secretKey: string;
  /** `us-east-1`. */
  readonly region: string;
}

/** What {@link ensureServices} hands to the test run. */
export interface Services {
  /** NATS_URL, DATABASE_URL, REDIS_URL, S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY and S3_REGION. */
  readonly env: Record<string, string>;
  /** Stops what `ensureServices` started (never a server it found running) and removes the temp dirs. */
  stop(): Promise<void>;
}

/** Options of {@link ensureServices}. */
export interface EnsureServicesOptions {
  /** Where NATS_URL, DATABASE_URL and REDIS_URL are read from; `process.env` by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Called with one line per server started or reused; silent by default. */
  readonly log?: (line: string) => void;
}

/** Defaults for the server addresses, the same the apps use. */
export const defaultServiceUrls = {
  NATS_URL: 'nats://127.0.0.1:4222',
  DATABASE_URL: 'postgres://root@127.0.0.1:5432/test',
  REDIS_URL: 'redis://127.0.0.1:6379',
} as const;

const READY_TIMEOUT_MS = 60_000;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

// ---------------------------------------------------------------------------------------------------------------
// Probing

/**
 * True when something accepts a TCP connection on `host:port` within `timeoutMs`. This is the whole test for
 * "a server listens": it does not speak the protocol.
 */
export function isListening(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: host.replace(/^\[|\]$/g, ''), port });
    const done = (result: boolean): void => {
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Process bookkeeping: kill on exit, and a watchdog for deaths that skip the exit hooks

interface LiveServer {
  /** Signals the server synchronously (from the `exit` hook, where nothing async runs). */
  killNow(): void;
  /** Removed on exit, if set. */
  readonly dir: string | undefined;
}

const live = new Set<LiveServer>();
let exitHookInstalled = false;

function track(server: LiveServer): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const s of live) {
        try {
          s.killNow();
        } catch {
          // already gone
        }
        try {
          if (s.dir !== undefined) rmSync(s.dir, { recursive: true, force: true });
        } catch {
          // the server may still be writing; the watchdog removes it once the server is gone
        }
      }
    });
  }
  live.add(server);
}

/**
 * A detached shell that waits while both this process and the server live; if this process dies first (even by
 * SIGKILL), it signals the server, waits for it to go and removes its dir. It ends on its own within a second once
 * the server stops normally. Without a pid (an in-process server) it only removes the dir after this process dies,
 * and must be stopped with {@link stopWatchdog}.
 */
function startWatchdog(pid: number | undefined, signal: 'INT' | 'TERM', dir: string | undefined): ChildProcess {
  const removeDir = dir === undefined ? 'true' : `rm -rf '${dir.replace(/'/g, `'\\''`)}'`;
  const alive =
    pid === undefined
      ? `kill -0 ${process.pid} 2>/dev/null`
      : `kill -0 ${process.pid} 2>/dev/null && kill -0 ${pid} 2>/dev/null`;
  const script = [
    `while ${alive}; do sleep 1; done`,
    ...(pid === undefined
      ? []
      : [
          `if kill -0 ${pid} 2>/dev/null; then`,
          `  kill -${signal} ${pid} 2>/dev/null; i=0`,
          `  while kill -0 ${pid} 2>/dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done`,
          `  kill -KILL ${pid} 2>/dev/null`,
          `fi`,
        ]),
    removeDir,
  ].join('\n');
  const watchdog = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  watchdog.on('error', () => {});
  watchdog.unref();
  return watchdog;
}

/** Ends a watchdog and its `sleep` (it runs in its own process group). */
function stopWatchdog(watchdog: ChildProcess): void {
  try {
    if (watchdog.pid !== undefined) process.kill(-watchdog.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => (result ??= fn());
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Finds an executable: the first existing candidate path, else `name` on PATH. */
function findBinary(name: string, candidates: readonly string[]): string | undefined {
  for (const candidate of candidates) if (existsSync(candidate)) return candidate;
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir !== '' && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** Runs a command to completion, capturing its output; rejects naming the binary if it cannot run or fails. */
function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? READY_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${command}: ${error.message}`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else
        reject(
          new Error(`${[command, ...args].join(' ')} failed (${signal ?? `exit code ${code}`}):\n${output.trimEnd()}`),
        );
    });
  });
}

interface DaemonSpec {
  /** Human name for messages, e.g. `nats-server`. */
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  readonly port: number;
  readonly dir: string;
  /** Remove `dir` on stop (false when the caller owns it). */
  readonly ownsDir: boolean;
  readonly url: string;
  /** A line the server logs once it accepts connections (so another process on the port is not mistaken for it). */
  readonly readyLog: RegExp;
}

/** Rejects when something already listens on the port: the server would fail to bind, or be mistaken for it. */
async function assertPortFree(name: string, port: number): Promise<void> {
  if (await isListening('127.0.0.1', port))
    throw new Error(`cannot start ${name}: port ${port} on 127.0.0.1 is already in use`);
}

/**
 * Spawns a server in the foreground as a child (output to `dir/<name>.log`), waits until it logs that it is ready
 * and its port accepts connections, and returns a handle that stops it with SIGTERM (SIGKILL after 10 s).
 */
async function startDaemon(spec: DaemonSpec): Promise<StartedServer> {
  const logFile = path.join(spec.dir, `${spec.name}.log`);
  const logFd = openSync(logFile, 'a');
  const child = spawn(spec.binary, spec.args, { cwd: spec.dir, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  let exited: string | undefined;
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));
  child.once('exit', (code, signal) => (exited = signal ?? `exit code ${code}`));

  const cleanupDir = async (): Promise<void> => {
    if (spec.ownsDir) await rm(spec.dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (spawnError !== undefined) {
      await cleanupDir();
      throw new Error(`could not start ${spec.name} (${spec.binary}): ${spawnError.message}`, { cause: spawnError });
    }
    if (exited !== undefined) {
      const log = tail(logFile);
      await cleanupDir();
      throw new Error(
        `${spec.name} (${spec.binary}) exited with ${exited} before listening on port ${spec.port}:\n${log}`,
      );
    }
    if (
      spec.readyLog.test(tail(logFile, 200)) &&
      (await isListening('127.0.0.1', spec.port, 250)) &&
      exited === undefined
    )
      break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      const log = tail(logFile);
      await cleanupDir();
      throw new Error(
        `${spec.name} (${spec.binary}) did not listen on port ${spec.port} within ${READY_TIMEOUT_MS} ms:\n${log}`,
      );
    }
    await sleep(50);
  }

  const pid = child.pid;
  if (pid === undefined) throw new Error(`${spec.name} (${spec.binary}) started without a pid`);
  const entry: LiveServer = { killNow: () => child.kill('SIGKILL'), dir: spec.ownsDir ? spec.dir : undefined };
  track(entry);
  startWatchdog(pid, 'TERM', spec.ownsDir ? spec.dir : undefined);

  const stop = once(async () => {
    if (exited === undefined) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    }
    live.delete(entry);
    await cleanupDir();
  });
  return { url: spec.url, port: spec.port, dir: spec.dir, stop, [Symbol.asyncDispose]: stop };
}

async function makeTempDir(prefix: string, parent = tmpdir()): Promise<string> {
  return mkdtemp(path.join(parent, `tideway-${prefix}-`));
}

// ---------------------------------------------------------------------------------------------------------------
// The servers

/** Options of {@link startNatsServer}. */
export interface StartNatsServerOptions {
  /** Port on 127.0.0.1. */
  readonly port: number;
  /** JetStream store dir; a temp dir (removed on stop) when omitted. A given dir is left in place. */
  readonly dir?: string;
  /** Path of `nats-server`; `/usr/sbin/nats-server` or PATH by default. */
  readonly binary?: string;
}

/**
 * Starts `nats-server -a 127.0.0.1 -p PORT -js -sd DIR` as a child process and resolves once the port accepts
 * connections. Rejects, naming the binary and quoting its log, if it cannot start.
 */
export async function startNatsServer(options: StartNatsServerOptions): Promise<StartedServer> {
  const binary = options.binary ?? findBinary('nats-server', ['/usr/sbin/nats-server', '/usr/local/bin/nats-server']);
  if (binary === undefined)
    throw new Error('cannot start NATS: nats-server not found in /usr/sbin, /usr/local/bin or PATH');
  await assertPortFree('nats-server', options.port);
  const dir = options.dir ?? (await makeTempDir('nats'));
  if (options.dir !== undefined) await mkdir(dir, { recursive: true });
  const storeDir = path.join(dir, 'jetstream');
  return startDaemon({
    name: 'nats-server',
    binary,
    args: ['-a', '127.0.0.1', '-p', String(options.port), '-js', '-sd', storeDir],
    port: options.port,
    dir,
    ownsDir: options.dir === undefined,
    url: `nats://127.0.0.1:${options.port}`,
    readyLog: /Server is ready/,
  });
}

/** Options of {@link startRedisServer}. */
export interface StartRedisServerOptions {
  /** Port on 127.0.0.1. */
  readonly port: number;
  /** Path of `redis-server`; `/usr/bin/redis-server` or PATH by default. */
  readonly binary?: string;
}

/**
 * Starts `redis-server` in the foreground on 127.0.0.1 with nothing persisted (`--save "" --appendonly no`), its
 * working dir a temp dir, and resolves once the port accepts connections.
 */
export async function startRedisServer(options: StartRedisServerOptions): Promise<StartedServer> {
  const binary = options.binary ?? findBinary('redis-server', ['/usr/bin/redis-server', '/usr/local/bin/redis-server']);
  if (binary === undefined)
    throw new Error('cannot start Redis: redis-server not found in /usr/bin, /usr/local/bin or PATH');
  await assertPortFree('redis-server', options.port);
  const dir = await makeTempDir('redis');
  return startDaemon({
    name: 'redis-server',
    binary,
    args: [
      '--port',
      String(options.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--dir',
      dir,
    ],
    port: options.port,
    dir,
    ownsDir: true,
    url: `redis://127.0.0.1:${options.port}`,
    readyLog: /Ready to accept connections/,
  });
}

/** Options of {@link startPostgresCluster}. */
export interface StartPostgresClusterOptions {
  /** Port on 127.0.0.1. */
  readonly port: number;
  /** Superuser created by initdb (trust auth); `root` by default. */
  readonly user?: string;
  /** Database created after start; `test` by default. */
  readonly database?: string;
  /** Path of `initdb`; the newest `/usr/lib/postgresql/<v>/bin/initdb`, `/usr/local/bin/initdb` or PATH by default. */
  readonly initdb?: string;
}

/** The newest installed `initdb`, preferring Debian's versioned dirs. */
export function findInitdb(): string | undefined {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+(\.\d+)?$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  return findBinary('initdb', [...versions.map((v) => `${root}/${v}/bin/initdb`), '/usr/local/bin/initdb']);
}

interface OsUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

function lookupUser(name: string): OsUser | undefined {
  try {
    const uid = Number(
      execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
    );
    const gid = Number(
      execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
    );
    return Number.isInteger(uid) && Number.isInteger(gid) ? { name, uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/** initdb and postgres refuse to run as root: pick (or create) an unprivileged user to run them as. */
function unprivilegedUser(): OsUser {
  const found = lookupUser('postgres') ?? lookupUser('nobody');
  if (found !== undefined) return found;
  try {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], {
      stdio: 'ignore',
    });
  } catch (error) {
    throw new Error('cannot start PostgreSQL as root: no user "postgres" or "nobody", and useradd failed', {
      cause: error,
    });
  }
  const created = lookupUser('postgres');
  if (created === undefined)
    throw new Error('cannot start PostgreSQL as root: useradd postgres did not create a usable user');
  return created;
}

/**
 * Creates a throwaway cluster with `initdb --auth=trust -U USER` in a temp dir, starts it with
 * `pg_ctl -w start` on 127.0.0.1:PORT (socket in the temp dir; fsync off, it is thrown away), and creates the
 * database. As root, initdb and postgres run as the OS user `postgres` (else `nobody`) through `runuser`.
 */
export async function startPostgresCluster(options: StartPostgresClusterOptions): Promise<StartedServer> {
  const initdb = options.initdb ?? findInitdb();
  if (initdb === undefined) {
    throw new Error('cannot start PostgreSQL: initdb not found in /usr/lib/postgresql/*/bin, /usr/local/bin or PATH');
  }
  const binDir = path.dirname(realpathSync(initdb));
  const pgCtl = path.join(binDir, 'pg_ctl');
  const user = options.user ?? 'root';
  const database = options.database ?? 'test';
  const { port } = options;
  await assertPortFree('PostgreSQL', port);

  const asRoot = process.getuid?.() === 0;
  // As root the cluster belongs to another user, who must be able to reach it: $TMPDIR may sit under /root.
  const base = await makeTempDir('pg', asRoot && existsSync('/tmp') ? '/tmp' : tmpdir());
  const dataDir = path.join(base, 'data');
  const logFile = path.join(base, 'postgres.log');
  let prefix: string[] = [];
  if (asRoot) {
    const osUser = unprivilegedUser();
    const runuser = findBinary('runuser', ['/usr/sbin/runuser', '/sbin/runuser']);
    if (runuser === undefined) throw new Error('cannot start PostgreSQL as root: runuser not found');
    await chown(base, osUser.uid, osUser.gid);
    prefix = [runuser, '-u', osUser.name, '--'];
  }
  const as = (command: string, args: string[]): [string, string[]] =>
    prefix.length === 0 ? [command, args] : [prefix[0] ?? command, [...prefix.slice(1), command, ...args]];

  let started = false;
  let postmasterPid: number | undefined;
  let entry: LiveServer | undefined;
  const stopCluster = async (): Promise<void> => {
    if (started) {
      try {
        await run(...as(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', '-t', '30', 'stop']), { cwd: base });
      } catch {
        if (postmasterPid !== undefined && isAlive(postmasterPid)) {
          process.kill(postmasterPid, 'SIGQUIT');
          await waitUntilGone(postmasterPid, 10_000);
        }
      }
    }
    if (entry !== undefined) live.delete(entry);
    await rm(base, { recursive: true, force: true });
  };

  try {
    await run(...as(initdb, ['-D', dataDir, '--auth=trust', '-U', user, '-E', 'UTF8', '--locale=C', '--no-sync']), {
      cwd: base,
    });
    const serverOptions = [
      `-p ${port}`,
      `-k ${base}`,
      '-c listen_addresses=127.0.0.1',
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
    ].join(' ');
    started = true;
    try {
      await run(...as(pgCtl, ['-D', dataDir, '-l', logFile, '-o', serverOptions, '-w', '-t', '60', 'start']), {
        cwd: base,
        timeoutMs: 90_000,
      });
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- postgres log ---\n${tail(logFile)}`, { cause: error });
    }
    const pidLine = (await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '';
    postmasterPid = Number(pidLine);
    if (!Number.isInteger(postmasterPid) || postmasterPid <= 0)
      throw new Error(`unreadable postmaster.pid: ${pidLine}`);

    const pid = postmasterPid;
    entry = { killNow: () => process.kill(pid, 'SIGQUIT'), dir: base };
    track(entry);
    startWatchdog(pid, 'INT', base);

    const sql = postgres({ host: '127.0.0.1', port, user, database: 'postgres', max: 1, onnotice: () => {} });
    try {
      if (database !== 'postgres') await sql`create database ${sql(database)}`;
    } finally {
      await sql.end();
    }
  } catch (error) {
    await stopCluster();
    throw new Error(`could not start PostgreSQL (${initdb}) on port ${port}: ${(error as Error).message}`, {
      cause: error,
    });
  }

  const stop = once(stopCluster);
  const url = `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return { url, port, dir: base, stop, [Symbol.asyncDispose]: stop };
}

/** Options of {@link startS3rver}. */
export interface StartS3rverOptions {
  /** Port on 127.0.0.1; a free one (chosen by the OS) by default. */
  readonly port?: number;
}

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: [];
}) => S3rverInstance;

/**
 * Starts s3rver in this process on 127.0.0.1, storing objects in a temp dir. Access key `S3RVER`. It handles
 * buckets and single-part objects only: every multipart upload fails, so clients must pass object sizes and use a
 * part size larger than any object (see `createS3Client`).
 */
export async function startS3rver(options: StartS3rverOptions = {}): Promise<StartedS3Server> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;
  const dir = await makeTempDir('s3');
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    directory: dir,
    silent: true,
    configureBuckets: [],
  });
  let port: number;
  try {
    ({ port } = await server.run());
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not start s3rver: ${(error as Error).message}`, { cause: error });
  }
  const entry: LiveServer = { killNow: () => {}, dir };
  track(entry);
  const watchdog = startWatchdog(undefined, 'TERM', dir);
  const stop = once(async () => {
    await server.close();
    stopWatchdog(watchdog);
    live.delete(entry);
    await rm(dir, { recursive: true, force: true });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    url: endpoint,
    endpoint,
    port,
    dir,
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    region: 'us-east-1',
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// ensureServices

function hostAndPort(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: parsed.port === '' ? defaultPort : Number(parsed.port) };
}

/**
 * Makes sure NATS (JetStream), PostgreSQL and Redis listen where NATS_URL, DATABASE_URL and REDIS_URL point
 * (defaults: {@link defaultServiceUrls}): a server already listening there is used as it is; otherwise one is
 * started from the machine's binaries on that port (only for a loopback address). s3rver is always started, on a
 * free port. `stop()` stops only what this call started.
 *
 * @example
 * const { env, stop } = await ensureServices();
 * Object.assign(process.env, env); // NATS_URL, DATABASE_URL, REDIS_URL, S3_*
 * // ... run the tests ...
 * await stop();
 */
export async function ensureServices(options: EnsureServicesOptions = {}): Promise<Services> {
  const source = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const natsUrl = source['NATS_URL'] ?? defaultServiceUrls.NATS_URL;
  const databaseUrl = source['DATABASE_URL'] ?? defaultServiceUrls.DATABASE_URL;
  const redisUrl = source['REDIS_URL'] ?? defaultServiceUrls.REDIS_URL;

  const ensure = async (
    variable: string,
    url: string,
    defaultPort: number,
    start: (port: number) => Promise<StartedServer>,
  ): Promise<StartedServer | undefined> => {
    const { host, port } = hostAndPort(url, defaultPort);
    if (await isListening(host, port)) {
      log(`${variable}: using the server listening on ${host}:${port}`);
      return undefined;
    }
    if (!LOOPBACK_HOSTS.has(host)) {
      throw new Error(
        `${variable}=${url}: nothing listens on ${host}:${port}, and servers are only started on this machine`,
      );
    }
    const server = await start(port);
    log(`${variable}: nothing listened on ${host}:${port}; started one (${server.dir})`);
    return server;
  };

  const firstNatsUrl = natsUrl.split(',')[0]?.trim() ?? natsUrl;
  const parsedDatabaseUrl = new URL(databaseUrl);
  const pgUser = decodeURIComponent(parsedDatabaseUrl.username) || 'root';
  const pgDatabase = decodeURIComponent(parsedDatabaseUrl.pathname.slice(1)) || pgUser;

  const results = await Promise.allSettled([
    ensure('NATS_URL', firstNatsUrl, 4222, (port) => startNatsServer({ port })),
    ensure('DATABASE_URL', databaseUrl, 5432, (port) =>
      startPostgresCluster({ port, user: pgUser, database: pgDatabase }),
    ),
    ensure('REDIS_URL', redisUrl, 6379, (port) => startRedisServer({ port })),
    startS3rver(),
  ]);
  const started = results.flatMap((r) => (r.status === 'fulfilled' && r.value !== undefined ? [r.value] : []));
  const stopAll = once(async () => {
    const outcomes = await Promise.allSettled(started.map((s) => s.stop()));
    const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
    if (failures.length > 0) throw new AggregateError(failures, 'some test servers did not stop cleanly');
  });
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failures.length > 0) {
    await stopAll().catch(() => {});
    throw failures.length === 1
      ? failures[0]
      : new AggregateError(failures, failures.map((f) => (f instanceof Error ? f.message : String(f))).join('\n'));
  }
  const [, , , s3] = results;
  if (s3.status !== 'fulfilled') throw new Error('unreachable: s3rver failed without being reported');
  const s3Server = s3.value;
  log(`S3_ENDPOINT: started s3rver on ${s3Server.endpoint}`);

  return {
    env: {
      NATS_URL: natsUrl,
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      S3_ENDPOINT: s3Server.endpoint,
      S3_ACCESS_KEY: s3Server.accessKey,
      S3_SECRET_KEY: s3Server.secretKey,
      S3_REGION: s3Server.region,
    },
    stop: stopAll,
  };
}
