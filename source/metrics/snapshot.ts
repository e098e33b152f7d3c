/**
 * The shapes of the cache's counters: kinds of reads, invalidation causes,
 * per-read counters, and the plain snapshot `metrics.snapshot()` returns
 * (docs/metrics.md).
 */
import type { ServerHealth } from '../store/contract';

/**
 * What a cached read was: a primary-key read (`row`), a findAll-shaped
 * result (`list`: pointer lists, include trees and results stored whole), or
 * a `count` / aggregate (`rawSelect`).
 */
export type ReadKind = 'row' | 'list' | 'count';

/** Every {@link ReadKind}, in display order. */
export const READ_KINDS: readonly ReadKind[] = Object.freeze(['row', 'list', 'count']);

/**
 * Why entries were invalidated: instance `save`s (create, update, restore,
 * upsert, increment), instance `destroy`s, `bulk` writes (Model.update,
 * destroy, bulkCreate, restore), `raw` SQL, foreign-key `cascade`s the
 * database performs, `sync`, and `manual` calls (`invalidate`, `flush`,
 * `forget`).
 */
export type InvalidationCause = 'save' | 'destroy' | 'bulk' | 'raw' | 'cascade' | 'sync' | 'manual';

/** Every {@link InvalidationCause}. */
export const INVALIDATION_CAUSES: readonly InvalidationCause[] = Object.freeze(['save', 'destroy', 'bulk', 'raw', 'cascade', 'sync', 'manual']);

/**
 * Why a read did not use the cache (docs/metrics.md, Bypass reasons):
 * - `cache-false`: the query said `cache: false`;
 * - `opt-in`: `mode: 'opt-in'` and the query did not ask for the cache;
 * - `transaction-isolation`: inside a transaction whose isolation level does not
 *   allow a cached committed value (REPEATABLE READ, SERIALIZABLE, or unknown);
 * - `transaction-wrote`: inside a transaction that wrote a model the read depends on;
 * - `transaction-refresh`: `cache: { refresh: true }` inside a transaction (a fill would be needed);
 * - `excluded-attribute`: the query names an attribute kept out of the cache;
 * - `suspended`: this process is replaying a lost invalidation;
 * - `option:NAME`: a find option the planner does not key (`lock`, `groupedLimit`, …);
 * - `raw-nest`: `raw` with `nest` over dotted columns;
 * - `volatile-sql`: a literal or function whose value changes without a write (`NOW()`, `RAND()`, …);
 * - `unrepresentable-value`: a value the query key cannot represent faithfully (a function, a class instance);
 * - `uncached-model`: an include or `dependsOn` names a model the cache does not store;
 * - `literal-table`: SQL text in the query reads a table no cached model stores, or cannot be parsed.
 */
export type BypassReason =
  | 'cache-false'
  | 'opt-in'
  | 'transaction-isolation'
  | 'transaction-wrote'
  | 'transaction-refresh'
  | 'excluded-attribute'
  | 'suspended'
  | `option:${string}`
  | 'raw-nest'
  | 'volatile-sql'
  | 'unrepresentable-value'
  | 'uncached-model'
  | 'literal-table';

/** Counters of one model's reads of one kind. */
export interface ReadCounters {
  /** Reads answered from the cache (stale serves included). */
  hits: number;
  /** Reads that went to the database (or waited for another reader's query). */
  misses: number;
  /** Soft-expired entries served while one worker refreshed. */
  staleServed: number;
  /** Background refreshes run. */
  refreshes: number;
  /** Refreshes whose query failed; the stale entry was kept. */
  refreshFailures: number;
  /** Reads that waited for another worker's fill. */
  lockWaits: number;
  /** Fill and refresh locks won. */
  lockAcquired: number;
  /** Waits that ran out (`lockWaitMs`) and queried the database themselves. */
  lockTimeouts: number;
  /** Reads that boarded an identical in-process read (single-flight) instead of looking up themselves. */
  coalesced: number;
  /** Reads that skipped the cache (their reasons in {@link ModelMetrics.bypassReasons}). */
  bypassed: number;
  /** Row entries written after a miss or warmed from another query (row kind only). */
  fills: number;
  /** Row fills refused because a write (tombstone) or another fill got there first (row kind only). */
  fillsRejected: number;
  /** SQL statements the cached reads ran: misses, rows a list lacked, refreshes. */
  dbQueries: number;
  /**
   * Statements the cached reads did not run: reads (hits + misses) minus
   * `dbQueries`, since each read would have been one statement without the
   * cache. Negative when partial hits cost more statements than they saved.
   */
  dbQueriesSaved: number;
}

/** A counter of {@link ReadCounters} that the query path increments. */
export type ReadCounter = Exclude<keyof ReadCounters, 'dbQueriesSaved'>;

/** Everything counted for one model. */
export interface ModelMetrics {
  row: ReadCounters;
  list: ReadCounters;
  count: ReadCounters;
  /** Invalidations performed, by cause (a write's rows and lists count once). */
  invalidations: Record<InvalidationCause, number>;
  /** Invalidations deferred to a transaction's commit. */
  invalidationsDeferred: number;
  /** Cached entries found pointing at rows of this model that no longer exist. */
  invalidationWarnings: number;
  /** Bypassed reads by kind and {@link BypassReason}; they add up to each kind's `bypassed`. */
  bypassReasons: Record<ReadKind, Partial<Record<BypassReason, number>>>;
}

/** A latency histogram, in seconds. */
export interface LatencyHistogram {
  /** Upper bounds of the buckets, in seconds, ascending. */
  bounds: number[];
  /** Observations per bucket (not cumulative); one more than `bounds`, the last above the largest bound. */
  counts: number[];
  /** Sum of every observation, in seconds. */
  sum: number;
  /** Number of observations. */
  count: number;
}

/** One InvalidationWarning, as kept for the dashboard. */
export interface RecentWarning {
  /** When it was raised (ISO 8601). */
  at: string;
  model: string;
  /** Primary keys pointed to but missing. */
  missing: unknown[];
  message: string;
}

/** Read counters the snapshot also gives as totals over every model and kind. */
export const SUMMED = [
  'staleServed', 'refreshes', 'refreshFailures', 'lockWaits', 'lockAcquired', 'lockTimeouts', 'coalesced', 'bypassed', 'dbQueries', 'dbQueriesSaved',
] as const;

/** Totals of the {@link ReadCounters} named in `SUMMED`, documented there. */
export type SummedCounters = Pick<ReadCounters, (typeof SUMMED)[number]>;

/**
 * A point-in-time copy of every counter: totals first (including, summed over
 * every model and kind, staleServed, refreshes, refreshFailures, lockWaits,
 * lockAcquired, lockTimeouts, coalesced, bypassed, dbQueries and
 * dbQueriesSaved), then the breakdowns.
 */
export interface MetricsSnapshot extends SummedCounters {
  /** Row reads answered from the cache. */
  rowHits: number;
  /** Row reads that went to the database. */
  rowMisses: number;
  /** Row entries written after a miss or warmed from another query. */
  rowFills: number;
  /** Fills refused because a write (tombstone) or another fill got there first. */
  rowFillsRejected: number;
  /** findAll-shaped reads answered from the cache. */
  listHits: number;
  /** findAll-shaped reads that went to the database. */
  listMisses: number;
  /** Counts and aggregates answered from the cache. */
  countHits: number;
  /** Counts and aggregates that went to the database. */
  countMisses: number;
  /** hits / (hits + misses) over every kind; 0 before the first read. */
  hitRatio: number;
  /**
   * (hits + misses) / (hits + misses + bypassed) over every kind: the share of
   * reads of cached models that went through the cache; 0 before the first read.
   */
  coverage: number;
  /** Bypassed reads by {@link BypassReason}, over every model and kind. */
  bypassReasons: Partial<Record<BypassReason, number>>;
  /** Invalidations performed, every cause. */
  invalidations: number;
  /** Invalidations deferred to a transaction's commit. */
  invalidationsDeferred: number;
  /** Rows pointed to by a cached entry but missing from the database. */
  invalidationWarnings: number;
  /** Store operations that failed (including timeouts and open breakers). */
  storeErrors: number;
  /** Store operations that hit their deadline. */
  storeTimeouts: number;
  /**
   * Invalidations that did not reach the store, even after three immediate
   * retries: the model's epoch is rotated every `replayMs` until the store
   * takes it (and this process reads from the database meanwhile).
   */
  lostInvalidations: number;
  /** Lost invalidations the store has since taken (replayed). */
  invalidationsReplayed: number;
  /** Values read whose signature did not verify (with `sign`): treated as absent. */
  forgedEntries: number;
  /** UTF-8 bytes of the values read from the store. */
  bytesRead: number;
  /** UTF-8 bytes of the values written to the store. */
  bytesWritten: number;
  /** Per model name. */
  models: Record<string, ModelMetrics>;
  /** Latency of cached reads by kind, split into reads the cache answered (`hit`) and the rest (`miss`). */
  latency: Record<ReadKind, { hit: LatencyHistogram; miss: LatencyHistogram }>;
  /** The store's servers and their circuit breakers (empty for stores that do not report). */
  servers: ServerHealth[];
  /** The latest InvalidationWarnings, newest last (at most 20). */
  recentWarnings: RecentWarning[];
  /** When counting started (ISO 8601). */
  startedAt: string;
}

/** Bucket bounds of the latency histograms, in seconds: 50 µs to 2.5 s. */
export const LATENCY_BOUNDS: readonly number[] = Object.freeze([
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
]);
