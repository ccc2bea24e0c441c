export { rebuildProjections, type RebuildOptions, type RebuildSummary, type RebuildScope } from './commands/replay.ts';
