export { rebuildWarm, type WarmRebuildOptions, type WarmRebuildSummary } from './commands/replay.ts';
