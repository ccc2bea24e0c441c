import type { StoredEvent } from '@tideway/events';
import type { ApplyResult, ProjectionStore } from './port.ts';

/**
 * A store rebuilt from a factory on every `reopen()`: for stores that cache state between applies (open
 * objects, registries) and must drop it when a rebuild swapped their backing data.
 */
export class ReopenableStore implements ProjectionStore {
  private inner: ProjectionStore;

  constructor(private readonly factory: () => ProjectionStore) {
    this.inner = factory();
  }

  get name(): string {
    return this.inner.name;
  }

  reopen(): Promise<void> {
    this.inner = this.factory();
    return this.inner.reopen?.() ?? Promise.resolve();
  }

  reject(event: StoredEvent): string | undefined {
    return this.inner.reject?.(event);
  }

  checkpoint(): Promise<number> {
    return this.inner.checkpoint();
  }

  apply(batch: readonly StoredEvent[], throughSeq: number): Promise<ApplyResult> {
    return this.inner.apply(batch, throughSeq);
  }
}
