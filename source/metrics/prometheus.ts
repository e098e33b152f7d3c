/**
 * The counters in Prometheus's exposition format, through prom-client (the
 * ecosystem's standard), so an app can serve them from its own registry or
 * merge ours into it (`Registry.merge`). The values live in {@link Metrics};
 * each prom-client metric copies them in its `collect()` at scrape time, the
 * pattern prom-client documents for values kept elsewhere, so the query path
 * never pays for label hashing.
 */
import { Counter, Gauge, Histogram, type MetricObjectWithValues, type MetricType, type MetricValueWithName, Registry } from 'prom-client';
import type { Metrics } from './metrics';
import { INVALIDATION_CAUSES, LATENCY_BOUNDS, type MetricsSnapshot, READ_KINDS, type ReadCounters } from './snapshot';

type Labels = Record<string, string>;
type Series = [Labels, number][];

/** One snapshot per scrape: every collector of one scrape reads the same numbers. */
/** Process-wide store counters of the snapshot, exported without labels. */
type TotalField = 'storeErrors' | 'storeTimeouts' | 'lostInvalidations' | 'forgedEntries' | 'invalidationsReplayed' | 'bytesRead' | 'bytesWritten';

function perScrape(metrics: Metrics): () => MetricsSnapshot {
  let current: MetricsSnapshot | undefined;
  return () => {
    if (!current) {
      current = metrics.snapshot();
      // A scrape calls every collector before its first await; the next scrape takes a new snapshot.
      setImmediate(() => {
        current = undefined;
      });
    }
    return current;
  };
}

function perModelKind(snapshot: MetricsSnapshot, field: keyof ReadCounters): Series {
  const series: Series = [];
  for (const [model, counters] of Object.entries(snapshot.models)) {
    for (const kind of READ_KINDS) series.push([{ model, kind }, counters[kind][field]]);
  }
  return series;
}

function perModel(snapshot: MetricsSnapshot, value: (m: MetricsSnapshot['models'][string]) => number): Series {
  return Object.entries(snapshot.models).map(([model, m]) => [{ model }, value(m)]);
}

/**
 * The latency histogram: prom-client's Histogram type and output format,
 * with buckets copied from {@link Metrics} (a prom-client histogram cannot
 * be set, only observed, and observing on the query path costs a label hash).
 */
const LATENCY_HELP = 'Latency of cached reads, by kind and by result (hit: answered by the cache).';

class LatencyExport extends Histogram<'kind' | 'result'> {
  constructor(
    readonly metricName: string,
    readonly read: () => MetricsSnapshot,
  ) {
    super({ name: metricName, help: LATENCY_HELP, labelNames: ['kind', 'result'], buckets: [...LATENCY_BOUNDS], registers: [] });
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<'kind' | 'result' | 'le'>>> {
    const snapshot = this.read();
    const name = this.metricName;
    const values: MetricValueWithName<'kind' | 'result' | 'le'>[] = [];
    for (const kind of READ_KINDS) {
      for (const result of ['hit', 'miss'] as const) {
        const h = snapshot.latency[kind][result];
        let cumulative = 0;
        h.bounds.forEach((le, i) => {
          cumulative += h.counts[i] as number;
          values.push({ metricName: `${name}_bucket`, labels: { kind, result, le }, value: cumulative });
        });
        values.push({ metricName: `${name}_bucket`, labels: { kind, result, le: '+Inf' }, value: h.count });
        values.push({ metricName: `${name}_sum`, labels: { kind, result }, value: h.sum });
        values.push({ metricName: `${name}_count`, labels: { kind, result }, value: h.count });
      }
    }
    // prom-client's types declare an enum for `type`; its code and the format use the string.
    const type = 'histogram' as unknown as MetricType;
    return { name, help: LATENCY_HELP, type, aggregator: 'sum', values, collect: () => undefined };
  }

  // The registry prefers this method when a metric has it; the histogram's own
  // would read prom-client's (empty) buckets.
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<'kind' | 'result' | 'le'>>> {
    return this.get();
  }
}

/**
 * Register the cache's metrics on `registry` (a new one when left out) and
 * return it. Names follow Prometheus conventions (`orm_cache_` prefix,
 * `_total` counters, base units); see the README's metrics table.
 */
export function registerMetrics(metrics: Metrics, registry: Registry = new Registry(), prefix = 'orm_cache_'): Registry {
  const read = perScrape(metrics);
  const counter = (name: string, help: string, labelNames: string[], series: (s: MetricsSnapshot) => Series) =>
    new Counter({
      name: prefix + name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, value] of series(read())) this.inc(labels, value);
      },
    });
  const gauge = (name: string, help: string, labelNames: string[], series: (s: MetricsSnapshot) => Series) =>
    new Gauge({
      name: prefix + name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, value] of series(read())) this.set(labels, value);
      },
    });
  const readCounter = (name: string, help: string, field: keyof ReadCounters) =>
    counter(name, help, ['model', 'kind'], (s) => perModelKind(s, field));

  readCounter('hits_total', 'Reads answered from the cache.', 'hits');
  readCounter('misses_total', 'Reads that went to the database.', 'misses');
  readCounter('stale_served_total', 'Soft-expired entries served while one worker refreshed.', 'staleServed');
  readCounter('refreshes_total', 'Background refreshes of soft-expired entries.', 'refreshes');
  readCounter('refresh_failures_total', 'Refreshes whose query failed (the stale entry was kept).', 'refreshFailures');
  readCounter('lock_waits_total', "Reads that waited for another worker's fill.", 'lockWaits');
  readCounter('lock_acquired_total', 'Fill and refresh locks won.', 'lockAcquired');
  readCounter('lock_timeouts_total', 'Lock waits that ran out and queried the database.', 'lockTimeouts');
  readCounter('coalesced_total', 'Reads that boarded an identical in-process read.', 'coalesced');
  counter('bypassed_total', 'Reads that skipped the cache, by reason (docs/metrics.md, Bypass reasons).', ['model', 'kind', 'reason'], (s) =>
    Object.entries(s.models).flatMap(([model, m]) =>
      READ_KINDS.flatMap((kind) => Object.entries(m.bypassReasons[kind]).map(([reason, n]): [Labels, number] => [{ model, kind, reason }, n ?? 0])),
    ),
  );
  readCounter('row_fills_total', 'Row entries written after a miss or warmed from a list.', 'fills');
  readCounter('row_fills_rejected_total', 'Row fills refused because a write or another fill got there first.', 'fillsRejected');
  readCounter('db_queries_total', 'SQL statements cached reads ran.', 'dbQueries');
  gauge('db_queries_saved', 'SQL statements cached reads did not run (reads minus statements run).', ['model', 'kind'], (s) =>
    perModelKind(s, 'dbQueriesSaved'),
  );
  gauge('hit_ratio', 'Hits over hits and misses since start, every kind.', [], (s) => [[{}, s.hitRatio]]);
  counter('invalidations_total', 'Invalidations performed, by cause.', ['model', 'cause'], (s) =>
    Object.entries(s.models).flatMap(([model, m]) => INVALIDATION_CAUSES.map((cause): [Labels, number] => [{ model, cause }, m.invalidations[cause]])),
  );
  counter('invalidations_deferred_total', "Invalidations deferred to a transaction's commit.", ['model'], (s) =>
    perModel(s, (m) => m.invalidationsDeferred),
  );
  counter('invalidation_warnings_total', 'Cached entries that pointed at rows that no longer exist.', ['model'], (s) =>
    perModel(s, (m) => m.invalidationWarnings),
  );
  const totalCounter = (name: string, help: string, field: TotalField) => counter(name, help, [], (s) => [[{}, s[field]]]);
  totalCounter('store_errors_total', 'Store operations that failed (timeouts and open breakers included).', 'storeErrors');
  totalCounter('store_timeouts_total', 'Store operations that hit their deadline.', 'storeTimeouts');
  totalCounter('lost_invalidations_total', 'Invalidations the store did not take, even retried at once (replayed as epoch rotations).', 'lostInvalidations');
  totalCounter('forged_entries_total', 'Values read whose signature did not verify (sign option): treated as absent.', 'forgedEntries');
  totalCounter('replayed_invalidations_total', 'Lost invalidations the store has since taken.', 'invalidationsReplayed');
  totalCounter('store_read_bytes_total', 'Bytes of the values read from the store.', 'bytesRead');
  totalCounter('store_written_bytes_total', 'Bytes of the values written to the store.', 'bytesWritten');
  gauge('breaker_state', "Each store server's circuit breaker: 1 for its current state.", ['server', 'state'], (s) =>
    s.servers.flatMap((h) => (['closed', 'open', 'half-open'] as const).map((state): [Labels, number] => [{ server: h.server, state }, h.breaker === state ? 1 : 0])),
  );
  counter('breaker_opened_total', "Times each store server's circuit breaker opened.", ['server'], (s) =>
    s.servers.map((h) => [{ server: h.server }, h.breakerOpened]),
  );
  registry.registerMetric(new LatencyExport(`${prefix}read_duration_seconds`, read));
  return registry;
}

export { Registry };
