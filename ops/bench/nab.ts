/**
 * NAB benchmark of the anomaly detectors in `@tideway/operators`.
 *
 * Streams every CSV of the Numenta Anomaly Benchmark corpus, row by row in file order, through the real
 * `anomalyScores` operator (one detector configuration for all files, fresh state per file), writes
 * `timestamp,value,anomaly_score` result files, then scores them with the NAB scorer and prints the three
 * profile scores next to NAB's published reference points.
 *
 *   npm run bench:nab -- [--data DIR] [--out DIR] [--scorer PATH] [--config JSON] [--no-score]
 *
 * `--config` overrides the detector options (a JSON `CombinedDetectorOptions`); without it the library default
 * (`DEFAULT_DETECTOR_OPTIONS`) runs, which is what the processor uses.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { from, toArray } from 'rxjs';
import { CombinedDetector, DEFAULT_DETECTOR_OPTIONS, anomalyScores, type CombinedDetectorOptions } from '@tideway/operators';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/nab' },
    out: { type: 'string', default: 'bench/results/nab' },
    scorer: { type: 'string', default: '../shared/tools/nab_score.py' },
    config: { type: 'string' },
    'no-score': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (args.help) {
  console.log('usage: npm run bench:nab -- [--data DIR] [--out DIR] [--scorer PATH] [--config JSON] [--no-score]');
  process.exit(0);
}

const dataDir = resolve(repoRoot, args.data);
const outDir = resolve(repoRoot, args.out);
const scorer = resolve(repoRoot, args.scorer);
const detectorOptions: CombinedDetectorOptions = args.config
  ? { ...DEFAULT_DETECTOR_OPTIONS, ...(JSON.parse(args.config) as CombinedDetectorOptions) }
  : DEFAULT_DETECTOR_OPTIONS;

/** NAB's published scoreboard (NAB v1.0): standard / reward_low_FP_rate / reward_low_FN_rate. */
const REFERENCE: readonly (readonly [string, number, number, number])[] = [
  ['Numenta HTM', 70.5, 62.6, 75.2],
  ['Windowed Gaussian', 39.6, 20.9, 47.4],
  ['Random', 11.0, 1.2, 19.5],
  ['Null', 0, 0, 0],
];
const PROFILES = ['standard', 'reward_low_FP_rate', 'reward_low_FN_rate'] as const;

interface Row {
  readonly timestamp: string;
  readonly value: string;
}

function readRows(path: string): Row[] {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  const rows: Row[] = [];
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const comma = line.indexOf(',');
    rows.push({ timestamp: line.slice(0, comma), value: line.slice(comma + 1) });
  }
  return rows;
}

/** Scores one file through the operator, in row order, with a fresh detector. */
function scoreFile(rel: string, rows: readonly Row[]): Promise<number[]> {
  return new Promise((resolvePromise, reject) => {
    from(rows)
      .pipe(
        anomalyScores({ key: () => rel, value: (r: Row) => Number(r.value), detector: () => new CombinedDetector(detectorOptions) }),
        toArray(),
      )
      .subscribe({
        next: (out) => {
          // Every row must come back as a score: an invalid row would shift the output against the data.
          const scores = out.map((o) => (o.kind === 'score' ? o.score : 0));
          const invalid = out.filter((o) => o.kind === 'invalid').length;
          if (invalid > 0) process.stderr.write(`\nwarning: ${rel}: ${invalid} rows without a numeric value scored 0\n`);
          resolvePromise(scores);
        },
        error: reject,
      });
  });
}

async function main(): Promise<void> {
  const manifest = JSON.parse(readFileSync(join(dataDir, 'manifest.json'), 'utf8')) as Record<string, number>;
  const files = Object.keys(manifest).sort();
  const started = performance.now();
  let rowsDone = 0;
  for (const [i, rel] of files.entries()) {
    const rows = readRows(join(dataDir, rel));
    if (rows.length !== manifest[rel]) throw new Error(`${rel}: ${rows.length} rows, manifest says ${manifest[rel]}`);
    const scores = await scoreFile(rel, rows);
    const lines = ['timestamp,value,anomaly_score'];
    rows.forEach((r, j) => lines.push(`${r.timestamp},${r.value},${scores[j] ?? 0}`));
    const target = join(outDir, rel);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, `${lines.join('\n')}\n`);
    rowsDone += rows.length;
    const progress = `[${i + 1}/${files.length}] ${rel}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${progress.padEnd(80)}`);
    else if ((i + 1) % 10 === 0 || i + 1 === files.length) process.stderr.write(`${progress}\n`);
  }
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}${files.length} files, ${rowsDone} rows in ${seconds.toFixed(1)} s (${Math.round(rowsDone / seconds)} rows/s)\n`);
  console.log(`detector options: ${JSON.stringify(detectorOptions)}`);
  if (args['no-score']) return;

  const reportPath = join(outDir, 'report.json');
  const run = spawnSync('python3', [scorer, outDir, '--data', dataDir, '--json', reportPath], { stdio: 'inherit' });
  if (run.status !== 0) throw new Error(`scorer exited with ${run.status ?? run.signal}`);
  // Python's json writes Infinity/NaN (e.g. the threshold of a profile nothing detects); JSON.parse does not read them.
  const reportText = readFileSync(reportPath, 'utf8').replace(/-?\b(?:Infinity|NaN)\b/g, 'null');
  const report = JSON.parse(reportText) as { profiles: Record<string, { score: number }> };
  const ours = PROFILES.map((p) => report.profiles[p]?.score ?? NaN);
  const fmt = (x: number): string => x.toFixed(1).padStart(8);
  console.log(`\n${'detector'.padEnd(24)}${'standard'.padStart(8)}${'low_FP'.padStart(8)}${'low_FN'.padStart(8)}`);
  console.log(`${'Tideway (this run)'.padEnd(24)}${ours.map(fmt).join('')}`);
  for (const [name, ...scores] of REFERENCE) console.log(`${name.padEnd(24)}${scores.map(fmt).join('')}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
