// Starts the replay's engine thread (replay-worker.ts). Worker threads do not inherit the TypeScript loader the
// process runs under (`node --import tsx`), so a TypeScript entry registers tsx first.
import { workerData } from 'node:worker_threads';

const { entry } = workerData;
if (entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(entry);
