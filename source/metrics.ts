/**
 * Counters, per model and per kind of read. Incrementing a number field is
 * the whole cost on the query path (plus two clock reads per cached read for
 * the latency histograms); totals, ratios and the plain snapshot are computed
 * only when someone asks.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ServerHealth } from './store/contract';

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
  /** Reads that skipped the cache: transactions, `cache: false`, unsupported query shapes. */
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
const SUMMED = [
  'staleServed', 'refreshes', 'refreshFailures', 'lockWaits', 'lockAcquired', 'lockTimeouts', 'coalesced', 'bypassed', 'dbQueries', 'dbQueriesSaved',
] as const;

/** Totals of the {@link ReadCounters} named in `SUMMED`, documented there. */
type SummedCounters = Pick<ReadCounters, (typeof SUMMED)[number]>;

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

const RECENT_WARNINGS = 20;

function readCounters(): ReadCounters {
  return {
    hits: 0, misses: 0, staleServed: 0, refreshes: 0, refreshFailures: 0, lockWaits: 0, lockAcquired: 0,
    lockTimeouts: 0, coalesced: 0, bypassed: 0, fills: 0, fillsRejected: 0, dbQueries: 0, dbQueriesSaved: 0,
  };
}

function modelMetrics(): ModelMetrics {
  const invalidations = Object.fromEntries(INVALIDATION_CAUSES.map((c) => [c, 0])) as Record<InvalidationCause, number>;
  return { row: readCounters(), list: readCounters(), count: readCounters(), invalidations, invalidationsDeferred: 0, invalidationWarnings: 0 };
}

class Histogram {
  readonly counts = new Array<number>(LATENCY_BOUNDS.length + 1).fill(0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BOUNDS.length && seconds > (LATENCY_BOUNDS[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += seconds;
    this.count++;
  }

  copy(): LatencyHistogram {
    return { bounds: [...LATENCY_BOUNDS], counts: [...this.counts], sum: this.sum, count: this.count };
  }
}

/**
 * What one HTTP request's cached reads did, for the `Server-Timing` header
 * (filled only inside `cache.serverTiming()`).
 */
export class RequestTiming {
  hits = 0;
  misses = 0;
  /** Seconds spent in reads the cache answered. */
  hitSeconds = 0;
  /** Seconds spent in reads that went to the database. */
  missSeconds = 0;
  /** SQL statements cached reads ran. */
  dbQueries = 0;
}

/**
 * One cached read in progress: counts into its model's and kind's counters,
 * and on {@link ReadMeter.done} records its latency as a hit or a miss.
 */
export class ReadMeter {
  #outcome: 'hit' | 'miss' | undefined;
  readonly #started = performance.now();

  constructor(
    readonly counters: ReadCounters,
    readonly kind: ReadKind,
    readonly metrics: Metrics,
    readonly request: RequestTiming | undefined,
  ) {}

  /** Add one to a counter; a hit or a miss also decides how the read is timed. */
  count(name: ReadCounter): void {
    this.counters[name]++;
    if (name === 'hits') this.#outcome ??= 'hit';
    else if (name === 'misses') this.#outcome = 'miss';
  }

  /** One SQL statement this read runs. */
  query(): void {
    this.counters.dbQueries++;
    if (this.request) this.request.dbQueries++;
  }

  /** The read answered: record its latency. */
  done(): void {
    if (!this.#outcome) return;
    const seconds = (performance.now() - this.#started) / 1000;
    this.metrics.observe(this.kind, this.#outcome, seconds);
    const request = this.request;
    if (!request) return;
    if (this.#outcome === 'hit') {
      request.hits++;
      request.hitSeconds += seconds;
    } else {
      request.misses++;
      request.missSeconds += seconds;
    }
  }
}

/** The live counters of one installed cache. */
export class Metrics {
  readonly #models = new Map<string, ModelMetrics>();
  readonly #latency = Object.fromEntries(READ_KINDS.map((k) => [k, { hit: new Histogram(), miss: new Histogram() }])) as Record<
    ReadKind,
    { hit: Histogram; miss: Histogram }
  >;
  readonly #warnings: RecentWarning[] = [];
  readonly #startedAt = new Date().toISOString();
  readonly #requests = new AsyncLocalStorage<RequestTiming>();
  #tracking = false;
  /** Store counters, added to by the guarded store. @internal */
  storeErrors = 0;
  /** @internal */
  storeTimeouts = 0;
  /** @internal */
  lostInvalidations = 0;
  /** @internal */
  invalidationsReplayed = 0;
  /** @internal */
  forgedEntries = 0;
  /** @internal */
  bytesRead = 0;
  /** @internal */
  bytesWritten = 0;

  /** @param health the store's server health, read at snapshot time */
  constructor(readonly health: () => ServerHealth[] = () => []) {}

  /** The counters of one model (created on first use). @internal */
  model(name: string): ModelMetrics {
    let found = this.#models.get(name);
    if (!found) {
      found = modelMetrics();
      this.#models.set(name, found);
    }
    return found;
  }

  /** Start metering one cached read. @internal */
  meter(model: string, kind: ReadKind): ReadMeter {
    return new ReadMeter(this.model(model)[kind], kind, this, this.#tracking ? this.#requests.getStore() : undefined);
  }

  /** Record one cached read's latency. @internal */
  observe(kind: ReadKind, outcome: 'hit' | 'miss', seconds: number): void {
    this.#latency[kind][outcome].observe(seconds);
  }

  /** Count an invalidation of a model's entries. @internal */
  invalidated(model: string, cause: InvalidationCause): void {
    this.model(model).invalidations[cause]++;
  }

  /** Count an InvalidationWarning and keep it for the dashboard. @internal */
  warned(model: string, missing: readonly unknown[], message: string): void {
    this.model(model).invalidationWarnings++;
    this.#warnings.push({ at: new Date().toISOString(), model, missing: missing.slice(0, 20), message });
    if (this.#warnings.length > RECENT_WARNINGS) this.#warnings.shift();
  }

  /**
   * Run `next` with per-request timing: cached reads made inside it (in its
   * async context) add to `timing`. Until the first call, reads skip the
   * async-context lookup altogether.
   * @internal
   */
  track<T>(timing: RequestTiming, next: () => T): T {
    this.#tracking = true;
    return this.#requests.run(timing, next);
  }

  /** A copy of every counter, with totals and ratios. */
  snapshot(): MetricsSnapshot {
    const models: Record<string, ModelMetrics> = {};
    const total = { row: readCounters(), list: readCounters(), count: readCounters() };
    let invalidations = 0;
    let invalidationsDeferred = 0;
    let invalidationWarnings = 0;
    for (const name of [...this.#models.keys()].sort()) {
      const live = this.#models.get(name) as ModelMetrics;
      const copy: ModelMetrics = {
        row: { ...live.row },
        list: { ...live.list },
        count: { ...live.count },
        invalidations: { ...live.invalidations },
        invalidationsDeferred: live.invalidationsDeferred,
        invalidationWarnings: live.invalidationWarnings,
      };
      for (const kind of READ_KINDS) {
        const counters = copy[kind];
        counters.dbQueriesSaved = counters.hits + counters.misses - counters.dbQueries;
        for (const key of Object.keys(counters) as (keyof ReadCounters)[]) total[kind][key] += counters[key];
      }
      for (const cause of INVALIDATION_CAUSES) invalidations += copy.invalidations[cause];
      invalidationsDeferred += copy.invalidationsDeferred;
      invalidationWarnings += copy.invalidationWarnings;
      models[name] = copy;
    }
    const sum = (key: keyof ReadCounters) => total.row[key] + total.list[key] + total.count[key];
    const hits = sum('hits');
    const reads = hits + sum('misses');
    let servers: ServerHealth[] = [];
    try {
      servers = this.health().map((s) => ({ ...s }));
    } catch {
      // A user store whose health() throws reports no servers.
    }
    return {
      rowHits: total.row.hits,
      rowMisses: total.row.misses,
      rowFills: total.row.fills,
      rowFillsRejected: total.row.fillsRejected,
      listHits: total.list.hits,
      listMisses: total.list.misses,
      countHits: total.count.hits,
      countMisses: total.count.misses,
      hitRatio: reads === 0 ? 0 : hits / reads,
      ...(Object.fromEntries(SUMMED.map((key) => [key, sum(key)])) as SummedCounters),
      invalidations,
      invalidationsDeferred,
      invalidationWarnings,
      storeErrors: this.storeErrors,
      storeTimeouts: this.storeTimeouts,
      lostInvalidations: this.lostInvalidations,
      invalidationsReplayed: this.invalidationsReplayed,
      forgedEntries: this.forgedEntries,
      bytesRead: this.bytesRead,
      bytesWritten: this.bytesWritten,
      models,
      latency: Object.fromEntries(
        READ_KINDS.map((k) => [k, { hit: this.#latency[k].hit.copy(), miss: this.#latency[k].miss.copy() }]),
      ) as MetricsSnapshot['latency'],
      servers,
      recentWarnings: this.#warnings.map((w) => ({ ...w, missing: [...w.missing] })),
      startedAt: this.#startedAt,
    };
  }
}
