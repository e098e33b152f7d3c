/**
 * Counters. Incrementing a number is the whole cost on the query path;
 * `snapshot()` copies them into a plain object only when someone asks.
 */

/** A point-in-time copy of every counter. */
export interface MetricsSnapshot {
  /** Row reads answered from the cache. */
  rowHits: number;
  /** Row reads that went to the database. */
  rowMisses: number;
  /** Row entries written after a miss or warmed from another query. */
  rowFills: number;
  /** Fills refused because a write (tombstone) or another fill got there first. */
  rowFillsRejected: number;
  /** List reads answered from the cache (list caches). */
  listHits: number;
  /** List reads that went to the database (list caches). */
  listMisses: number;
  /** Soft-expired entries served while one worker refreshed (stampede protection). */
  staleServed: number;
  /** Background refreshes run (stampede protection). */
  refreshes: number;
  /** Refreshes whose query failed; the stale entry was kept. */
  refreshFailures: number;
  /** Reads that waited for another worker's fill (stampede protection). */
  lockWaits: number;
  /** Fill locks won: this reader queried the database for a cold key. */
  lockAcquired: number;
  /** Waits that ran out (`lockWaitMs`) and queried the database themselves. */
  lockTimeouts: number;
  /** Reads that boarded an identical in-process read (single-flight) instead of looking up themselves. */
  coalesced: number;
  /** Reads that skipped the cache: transactions, `cache: false`, unsupported query shapes. */
  bypassed: number;
  /** Invalidations performed: row tombstones plus token rotations. */
  invalidations: number;
  /** Invalidations deferred to a transaction's commit. */
  invalidationsDeferred: number;
  /** Rows pointed to by a cached list but missing from the database. */
  invalidationWarnings: number;
  /** Store operations that failed (including timeouts and open breakers). */
  storeErrors: number;
  /** Store operations that hit their deadline. */
  storeTimeouts: number;
}

export type MetricName = keyof MetricsSnapshot;

/** The live counters of one installed cache. */
export class Metrics {
  readonly #counters: MetricsSnapshot = {
    rowHits: 0,
    rowMisses: 0,
    rowFills: 0,
    rowFillsRejected: 0,
    listHits: 0,
    listMisses: 0,
    staleServed: 0,
    refreshes: 0,
    refreshFailures: 0,
    lockWaits: 0,
    lockAcquired: 0,
    lockTimeouts: 0,
    coalesced: 0,
    bypassed: 0,
    invalidations: 0,
    invalidationsDeferred: 0,
    invalidationWarnings: 0,
    storeErrors: 0,
    storeTimeouts: 0,
  };

  /** Add `by` (default 1) to a counter. */
  add(name: MetricName, by = 1): void {
    this.#counters[name] += by;
  }

  /** A copy of every counter. */
  snapshot(): MetricsSnapshot {
    return { ...this.#counters };
  }
}
