/**
 * The driver question of the benchmark: is the `memcached` client (the
 * default) the bottleneck? The same four request shapes the cache sends, on
 * the `memcached` client directly, through MemcachedStore (its deadline,
 * breaker and key checks), and on `memcache-client`, interleaved in rounds:
 * one at a time (latency, CPU per operation) and with 32 in flight
 * (throughput, CPU per operation), where MemcachedStore batches the reads of
 * a tick into shared multi-gets.
 */
import Memcached from 'memcached';
import { MemcacheClient } from 'memcache-client';
import { MemcachedStore } from '../source';
import { inFlight, percentile, timed } from './timing';

export interface DriverRow {
  shape: string;
  driver: string;
  median: number;
  p99: number;
  /** CPU of this process per operation, one at a time, µs. */
  cpuPerOp: number;
  /** With 32 operations in flight: operations per second and CPU per operation (µs). */
  concurrentOpsPerSecond: number;
  concurrentCpuPerOp: number;
}

/** Operations in flight in the concurrent pass. */
const IN_FLIGHT = 32;

interface Figures {
  latencies: number[];
  cpu: number;
  ops: number;
  concurrentOps: number;
  concurrentCpu: number;
  concurrentMs: number;
}

const promised = <T>(start: (cb: (error: unknown, value: T) => void) => void) =>
  new Promise<T>((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value))));

/** Median and p99 in milliseconds of each shape on each driver. */
export async function compareDrivers(server: string, prefix: string, rounds: number, ops: number): Promise<DriverRow[]> {
  const raw = new Memcached(server, { retries: 0, timeout: 1000, poolSize: 10, idle: 60_000 });
  const store = new MemcachedStore(server, { timeoutMs: 200 });
  const other = new MemcacheClient({ server: { server, maxConnections: 10 } });
  try {
    const row = 'r'.repeat(900);
    const rows = Array.from({ length: 50 }, (_, i) => `${prefix}:row:${i}`);
    const small = [rows[0] as string, `${prefix}:t1`, `${prefix}:t2`];
    await Promise.all(rows.map((k) => store.set(k, row, 600)));
    await Promise.all([store.set(`${prefix}:t1`, 'token1', 600), store.set(`${prefix}:t2`, 'token2', 600)]);
    const sets = (send: (key: string) => Promise<unknown>) => Promise.all([1, 2, 3, 4, 5].map((i) => send(`${prefix}:s${i}`)));
    const shapes: [string, Record<string, () => Promise<unknown>>][] = [
      ['get 1 × 900 B', {
        memcached: () => promised((cb) => raw.get(rows[0] as string, cb)),
        MemcachedStore: () => store.get(rows[0] as string),
        'memcache-client': () => other.get(rows[0] as string),
      }],
      ['multi-get 3 keys (a row hit)', {
        memcached: () => promised((cb) => raw.getMulti(small, cb)),
        MemcachedStore: () => store.getMulti(small),
        'memcache-client': () => other.get(small),
      }],
      ['multi-get 50 × 900 B (a list hit\'s rows)', {
        memcached: () => promised((cb) => raw.getMulti(rows, cb)),
        MemcachedStore: () => store.getMulti(rows),
        'memcache-client': () => other.get(rows),
      }],
      ['5 concurrent sets (a write\'s invalidation)', {
        memcached: () => sets((k) => promised((cb) => raw.set(k, 'token', 600, cb))),
        MemcachedStore: () => sets((k) => store.set(k, 'token', 600)),
        'memcache-client': () => sets((k) => other.set(k, 'token', { lifetime: 600 })),
      }],
    ];
    const samples = new Map<string, Figures>();
    const cpuOf = (usage: NodeJS.CpuUsage) => usage.user + usage.system;
    for (let round = 0; round < rounds; round++) {
      for (const [shape, drivers] of shapes) {
        for (const [driver, run] of Object.entries(drivers)) {
          let cpu0 = process.cpuUsage();
          const { latencies } = await timed(Array.from({ length: ops }), run);
          const cpu = cpuOf(process.cpuUsage(cpu0));
          cpu0 = process.cpuUsage();
          const concurrent = await inFlight(ops, IN_FLIGHT, run);
          const concurrentCpu = cpuOf(process.cpuUsage(cpu0));
          if (round === 0) continue;
          const key = `${shape}\u0000${driver}`;
          const f = samples.get(key) ?? { latencies: [], cpu: 0, ops: 0, concurrentOps: 0, concurrentCpu: 0, concurrentMs: 0 };
          f.latencies.push(...latencies);
          f.cpu += cpu;
          f.ops += latencies.length;
          f.concurrentOps += ops;
          f.concurrentCpu += concurrentCpu;
          f.concurrentMs += concurrent.elapsed;
          samples.set(key, f);
        }
      }
    }
    return [...samples].map(([key, f]) => {
      const [shape, driver] = key.split('\u0000') as [string, string];
      const sorted = f.latencies.sort((a, b) => a - b);
      return {
        shape,
        driver,
        median: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        cpuPerOp: f.cpu / f.ops,
        concurrentOpsPerSecond: f.concurrentOps / (f.concurrentMs / 1000),
        concurrentCpuPerOp: f.concurrentCpu / f.concurrentOps,
      };
    });
  } finally {
    raw.end();
    await store.close();
    other.shutdown();
  }
}
