/**
 * Invalidations that must arrive (docs/architecture.md, invariant 4): rows
 * changed are tombstoned and their lists' tokens rotated, or the model's
 * epoch rotated when the rows cannot be named; if any store operation fails
 * meanwhile, the model's epoch is rotated again until the store takes it, and
 * while one is still pending this process reads from the database.
 */
// Real timers, whatever fake timers an app's tests install (source/clock.ts).
import { clearTimeout, setTimeout } from 'node:timers';
import type { EntryCache } from '../lists/entry-cache';
import type { Metrics } from '../metrics/metrics';
import type { InvalidationCause } from '../metrics/snapshot';
import type { ModelSchema } from '../model-schema';
import type { RowCache } from '../rows/row-cache';

/** Delivers one process's invalidations, replaying those the store did not take. */
export class InvalidationDelivery {
  /** Models whose invalidation did not reach the store, by name: their epochs are rotated until it does. */
  readonly #unsent = new Map<string, ModelSchema>();
  #replayTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly rows: RowCache,
    private readonly entries: EntryCache,
    private readonly metrics: Metrics,
    private readonly replayMs: number,
  ) {}

  /** Whether an invalidation of this process has not reached the store yet (reads skip the cache meanwhile). */
  get pending(): boolean {
    return this.#unsent.size > 0;
  }

  /**
   * Rows changed: tombstone their entries (`keys`) and invalidate the lists
   * their old and new `versions` belong to, or every list of the model when
   * the versions are not known. A `cause` of null is not counted (a write's
   * first invalidation, before its statement). `changed`: the attributes an
   * update can have changed, when known (lists that read none of them stay).
   */
  async rowsChanged(
    schema: ModelSchema,
    keys: readonly string[],
    versions: readonly Record<string, unknown>[] | undefined,
    cause: InvalidationCause | null,
    /** The write's generation in the model's write mark, recorded in the tombstones. */
    generation?: number,
    changed?: ReadonlySet<string>,
  ): Promise<void> {
    if (cause) this.metrics.invalidated(schema.name, cause);
    await this.#delivered(schema, () =>
      Promise.all([
        // A first invalidation (no cause) leaves the warm token to the last.
        keys.length > 0 ? this.rows.tombstone(schema, keys, generation, cause !== null) : undefined,
        versions ? this.entries.rowsChanged(schema, versions, changed) : this.entries.allListsChanged(schema),
      ]),
    );
  }

  /** Rows changed that cannot be named: every row and list of the model (`cause` null: not counted). */
  async modelChanged(schema: ModelSchema, cause: InvalidationCause | null): Promise<void> {
    if (cause) this.metrics.invalidated(schema.name, cause);
    await this.#delivered(schema, () => this.rows.rotateEpoch(schema));
  }

  /** Stop replaying (uninstall). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#replayTimer);
  }

  /**
   * Run an invalidation; if any store operation failed meanwhile (a timeout,
   * a dropped connection, a hung or unreachable server), the model's epoch
   * is rotated, which invalidates every row and list of the model: at once,
   * twice more with short pauses, and then every `replayMs` until the store
   * takes it. A store that merely dropped a connection takes the first retry,
   * so the write returns with its invalidation delivered. While one is still
   * pending this process reads from the database, so it always reads its own
   * writes; other processes can read what it should have removed until the
   * replay lands (docs/reliability.md). Any failure in the window counts, not
   * just this invalidation's own: replaying too much costs misses, replaying
   * too little would cost stale reads.
   */
  async #delivered(schema: ModelSchema, run: () => Promise<unknown>): Promise<void> {
    const failuresBefore = this.metrics.storeErrors;
    await run();
    if (this.metrics.storeErrors === failuresBefore) return;
    for (const pause of [0, 10, 40]) {
      if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
      if (await this.rows.rotateEpoch(schema)) return;
    }
    this.metrics.lostInvalidations++;
    this.#unsent.set(schema.name, schema);
    this.#scheduleReplay();
  }

  #scheduleReplay(): void {
    if (this.#replayTimer || this.#unsent.size === 0 || this.#stopped) return;
    this.#replayTimer = setTimeout(() => {
      this.#replayTimer = undefined;
      void this.#replay();
    }, this.replayMs);
    // A pending replay must not keep a finished program alive.
    this.#replayTimer.unref();
  }

  async #replay(): Promise<void> {
    await Promise.all(
      [...this.#unsent].map(async ([name, schema]) => {
        if (await this.rows.rotateEpoch(schema)) {
          this.#unsent.delete(name);
          this.metrics.invalidationsReplayed++;
        }
      }),
    );
    this.#scheduleReplay();
  }
}
