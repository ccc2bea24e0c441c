/**
 * Summarises a V8 `.cpuprofile` (from `npm run bench -- --profile <process>`): self time by function and by
 * file/package, so a bench finding can quote where the time went.
 *
 *   npx tsx ops/bench/tools/profile-summary.ts bench/profiles/ingest-….cpuprofile [top]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const [path, topArg] = process.argv.slice(2);
if (!path) throw new Error('usage: profile-summary.ts <file.cpuprofile> [top]');
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

function where(url: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  const t = /\/(libs|apps|ops)\/([^/]+)\//.exec(url);
  if (t) return `${t[1]}/${t[2]}`;
  if (url.startsWith('node:')) return url;
  return url === '' ? '(native/gc/idle)' : url.split('/').slice(-2).join('/');
}

const byFn = new Map<string, number>();
const byPkg = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id)!;
  const fn = `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  byFn.set(fn, (byFn.get(fn) ?? 0) + us);
  const pkg = n.callFrame.functionName === '(idle)' ? '(idle)' : where(n.callFrame.url);
  byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + us);
}
const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
console.log(`total ${(total / 1e6).toFixed(2)} s sampled`);
console.log('\nself time by package/file:');
for (const [k, us] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`);
console.log('\nself time by function:');
for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`);
