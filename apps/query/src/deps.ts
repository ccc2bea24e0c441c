import type { AnalyticsReader } from '@tideway/analytics';
import type { EntityState } from '@tideway/entities';
import type { EventEnvelope } from '@tideway/events';
import type { EventSearch } from '@tideway/event-query';
import type { SchemaRegistry } from '@tideway/schemas';
import type { WarmStore } from '@tideway/warm';
import type { QueryConfig } from './config.ts';
import type { ProjectionClock } from './context.ts';
import type { LiveTailSource } from './live-tail.ts';

/** The hot store as the query API reads it (`@tideway/hot`'s `HotStoreReader`). */
export interface HotEntityReader {
  getEntity(tenant: string, entityType: string, entityId: string): Promise<EntityState | undefined>;
}

/** Everything the routes use, wired by `startQuery` (or a test). */
export interface QueryDeps {
  readonly config: QueryConfig;
  readonly warm: WarmStore;
  readonly search: EventSearch;
  readonly analytics: AnalyticsReader;
  readonly registry: SchemaRegistry;
  readonly clocks: {
    readonly warm: ProjectionClock;
    /** The warm projection of the DERIVED stream (window results, anomalies, alerts). */
    readonly derived: ProjectionClock;
    /** Absent when no hot store is wired. */
    readonly hot?: ProjectionClock;
  };
  readonly hot?: HotEntityReader;
  /** Live tail and stream positions; absent when NATS is not wired. */
  readonly live?: LiveTailSource;
  /** Publishes an event to the EVENTS stream (alert acknowledgements); absent when NATS is not wired. */
  readonly publish?: (event: EventEnvelope) => Promise<{ readonly seq: number; readonly duplicate: boolean }>;
  /** Whether the cold archive is wired into event reads. */
  readonly coldArchive: boolean;
}
