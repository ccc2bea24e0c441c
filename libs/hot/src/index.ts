/**
 * The hot projection store (Redis): latest entity state, open and recently closed window results, recent
 * anomalies and alerts, each batch written with its checkpoint in one Lua script.
 */
export {
  createHotProjection,
  HOT_PROJECTOR_CONSUMER,
  HOT_DERIVED_CONSUMER,
  type HotProjection,
  type HotProjectionOptions,
} from './projection.ts';
export {
  HotProjectionStore,
  type HotProjectionStoreOptions,
  type HotTtlOptions,
  type HotLimitOptions,
  type HotApplyResult,
  type PreparedHotBatch,
} from './store.ts';
export { HotStoreReader, type HotStoreReaderOptions, type WindowResultQuery, type SignalQuery } from './reader.ts';
export { redisWriterLock, type RedisWriterLockOptions } from './lock.ts';
export { hotChecksum, type HotChecksum } from './checksum.ts';
export { HotKeys, keySegment, unescapeKeySegment, windowIndexMember, parseWindowIndexMember } from './keys.ts';
export {
  defaultDerivedRouting,
  type DerivedKind,
  type DerivedRouting,
  type StoredWindowResult,
  type StoredSignal,
  type WindowBounds,
} from './derived.ts';
export type { HotOp, DroppedEffect } from './plan.ts';
export { HotStoreErrorCode, HotStoreError, isHotStoreError } from './errors.ts';
export { APPLY_SCRIPT } from './apply-script.ts';
export { HotGenerations, GenerationalHotStore, GenerationalHotReader } from './generations.ts';
