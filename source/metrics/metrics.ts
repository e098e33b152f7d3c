/**
 * Counters, per model and per kind of read. Incrementing a number field is
 * the whole cost on the query path (plus two clock reads per cached read for
 * the latency histograms); totals, ratios and the plain snapshot are computed
 * only when someone asks.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ServerHealth } from '../store/contract';
import {
  type BypassReason,
  INVALIDATION_CAUSES,
  type InvalidationCause,
  LATENCY_BOUNDS,
  type LatencyHistogram,
  type MetricsSnapshot,
  type ModelMetrics,
  READ_KINDS,
  type ReadCounter,
  type ReadCounters,
  type ReadKind,
  type RecentWarning,
  SUMMED,
  type SummedCounters,
} from './snapshot';

const RECENT_WARNINGS = 20;

function readCounters(): ReadCounters {
  return {
    hits: 0, misses: 0, staleServed: 0, refreshes: 0, refreshFailures: 0, lockWaits: 0, lockAcquired: 0,
    lockTimeouts: 0, coalesced: 0, bypassed: 0, fills: 0, fillsRejected: 0, dbQueries: 0, dbQueriesSaved: 0,
  };
}

function modelMetrics(): ModelMetrics {
  const invalidations = Object.fromEntries(INVALIDATION_CAUSES.map((c) => [c, 0])) as Record<InvalidationCause, number>;
  return {
    row: readCounters(),
    list: readCounters(),
    count: readCounters(),
    invalidations,
    invalidationsDeferred: 0,
    invalidationWarnings: 0,
    bypassReasons: { row: {}, list: {}, count: {} },
  };
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

  /**
   * Count one bypassed read with its reason; true the first time this model,
   * kind and reason are seen (the caller then reports the query's shape).
   * @internal
   */
  bypassed(model: string, kind: ReadKind, reason: BypassReason): boolean {
    const counters = this.model(model);
    counters[kind].bypassed++;
    const reasons = counters.bypassReasons[kind];
    const seen = reasons[reason];
    reasons[reason] = (seen ?? 0) + 1;
    return seen === undefined;
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
    const bypassReasons: Partial<Record<BypassReason, number>> = {};
    for (const name of [...this.#models.keys()].sort()) {
      const live = this.#models.get(name) as ModelMetrics;
      const copy: ModelMetrics = {
        row: { ...live.row },
        list: { ...live.list },
        count: { ...live.count },
        invalidations: { ...live.invalidations },
        invalidationsDeferred: live.invalidationsDeferred,
        invalidationWarnings: live.invalidationWarnings,
        bypassReasons: { row: { ...live.bypassReasons.row }, list: { ...live.bypassReasons.list }, count: { ...live.bypassReasons.count } },
      };
      for (const kind of READ_KINDS) {
        const counters = copy[kind];
        counters.dbQueriesSaved = counters.hits + counters.misses - counters.dbQueries;
        for (const key of Object.keys(counters) as (keyof ReadCounters)[]) total[kind][key] += counters[key];
      }
      for (const cause of INVALIDATION_CAUSES) invalidations += copy.invalidations[cause];
      invalidationsDeferred += copy.invalidationsDeferred;
      invalidationWarnings += copy.invalidationWarnings;
      for (const kind of READ_KINDS) {
        for (const [reason, n] of Object.entries(copy.bypassReasons[kind]) as [BypassReason, number][]) {
          bypassReasons[reason] = (bypassReasons[reason] ?? 0) + n;
        }
      }
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
      coverage: reads + sum('bypassed') === 0 ? 0 : reads / (reads + sum('bypassed')),
      bypassReasons,
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
