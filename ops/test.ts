/**
 * `npm test`: typecheck and lint every project (Nx, offline), then run every test (vitest, against real
 * servers that the global setup starts when none listens), and close with one plain summary line.
 * Pass vitest arguments through: `npm test -- --project @tideway/e2e`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' };

function run(cmd: string, argv: string[]): number {
  const result = spawnSync(cmd, argv, { stdio: 'inherit', env });
  return result.status ?? 1;
}

if (!process.env['TIDEWAY_SKIP_CHECKS']) {
  const checks = run('npx', ['nx', 'run-many', '-t', 'typecheck', 'lint', '--outputStyle=static']);
  if (checks !== 0) {
    console.error('typecheck/lint failed');
    process.exit(checks);
  }
}

mkdirSync('.tmp', { recursive: true });
const code = run('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', '--outputFile.json=.tmp/vitest-report.json', ...args]);
try {
  const report = JSON.parse(readFileSync('.tmp/vitest-report.json', 'utf8')) as { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number };
  console.log(`${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests + report.numTodoTests} skipped`);
} catch {
  console.log('no test report was written');
}
process.exit(code);
