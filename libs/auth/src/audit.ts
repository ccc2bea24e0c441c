import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import type { AuthStore } from './db.ts';
import { securityAudit } from './schema.ts';

/** One audit record. */
export interface AuditEntry {
  readonly tenant?: string | null;
  /** A key id, `webhook:<source>`, `cli`. */
  readonly actor?: string | null;
  /** e.g. `webhook.refused`, `key.created`, `key.revoked`, `quarantine.rejected`. */
  readonly action: string;
  readonly code?: string | null;
  readonly detail?: Record<string, unknown>;
}

/** A stored audit record. */
export interface AuditRecord extends AuditEntry {
  readonly id: number;
  readonly at: string;
}

/** Options of {@link AuditLog}. */
export interface AuditLogOptions {
  /** Most records waiting to be written; further ones are dropped and counted (a flood must not exhaust memory). */
  readonly maxQueued?: number;
  /** Called when a batch could not be written or records were dropped. */
  readonly onError?: (error: unknown) => void;
  readonly onDropped?: (count: number) => void;
}

/**
 * The security audit log in PostgreSQL. `record` never blocks the request that triggers it: entries are queued
 * (bounded) and written in batches by one writer; `flush` waits for what is queued.
 */
export class AuditLog {
  private queue: AuditEntry[] = [];
  private writing: Promise<void> | undefined;
  private readonly maxQueued: number;
  dropped = 0;

  constructor(
    private readonly store: AuthStore,
    private readonly options: AuditLogOptions = {},
  ) {
    this.maxQueued = options.maxQueued ?? 10_000;
  }

  /** Queues a record for writing. */
  record(entry: AuditEntry): void {
    if (this.queue.length >= this.maxQueued) {
      this.dropped++;
      this.options.onDropped?.(1);
      return;
    }
    this.queue.push(entry);
    this.writing ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, 500);
        try {
          await this.store.db.insert(securityAudit).values(
            batch.map((e) => ({
              tenant: e.tenant ?? null,
              actor: e.actor ?? null,
              action: e.action,
              code: e.code ?? null,
              detail: e.detail ?? null,
            })),
          );
        } catch (error) {
          this.options.onError?.(error);
        }
      }
    } finally {
      this.writing = undefined;
    }
  }

  /** Resolves once every queued record has been written (or failed). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Newest first; `before` is the id of the last record of the previous page. */
  async list(
    filter: { tenant?: string; action?: string; before?: number; limit?: number } = {},
  ): Promise<AuditRecord[]> {
    const conditions: SQL[] = [];
    if (filter.tenant !== undefined) conditions.push(eq(securityAudit.tenant, filter.tenant));
    if (filter.action !== undefined) conditions.push(eq(securityAudit.action, filter.action));
    if (filter.before !== undefined) conditions.push(lt(securityAudit.id, filter.before));
    const rows = await this.store.db
      .select()
      .from(securityAudit)
      .where(and(...conditions))
      .orderBy(desc(securityAudit.id))
      .limit(filter.limit ?? 100);
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      tenant: r.tenant,
      actor: r.actor,
      action: r.action,
      code: r.code,
      detail: (r.detail ?? undefined) as Record<string, unknown> | undefined,
    }));
  }
}
