/**
 * A hot projector process for the kill test: `node --import tsx hot-projector-child.ts '<HotRunConfig JSON>'`.
 * Prints `projecting` once it consumes, and runs until killed (SIGTERM stops it cleanly).
 */
import { runHot, type HotRunConfig } from './run-hot.ts';

const config = JSON.parse(process.argv[2] ?? '{}') as HotRunConfig;
const hot = await runHot(config, {
  info: () => {},
  error: (obj, msg) =>
    process.stderr.write(
      `[hot child] ${msg} ${JSON.stringify(obj, (k, v: unknown) => (v instanceof Error ? v.message : v))}\n`,
    ),
});
process.stdout.write('projecting\n');
process.once('SIGTERM', () => {
  void hot.close().then(() => process.exit(0));
});
