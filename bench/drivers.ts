/**
 * The driver question of the benchmark: which memcached client should the
 * store speak through? The same four request shapes the cache sends, on the
 * `memcached` package directly, through MemcachedStore on its built-in client
 * (the default) and on the `memcached` package (its deadline, breaker and key
 * checks either way), on `memcache-client`, and on `memjs` (the binary
 * protocol), interleaved in rounds: one at
 * a time (latency, CPU per operation) and with 32 in flight (throughput, CPU
 * per operation), where MemcachedStore batches the reads of a tick into
 * shared multi-gets. Every request asks for keys of its own (a window over
 * 1000 stored rows), so batching shares commands, never answers.
 */
import Memcached from 'memcached';
import { MemcacheClient } from 'memcache-client';
import memjs from 'memjs';
import { MemcachedStore } from '../source';
import { type DriverRow, measureShapes } from './timing';

export type { DriverRow };

const promised = <T>(start: (cb: (error: unknown, value: T) => void) => void) =>
  new Promise<T>((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value))));

/** Median and p99 in milliseconds of each shape on each driver. */
export async function compareDrivers(server: string, prefix: string, rounds: number, ops: number): Promise<DriverRow[]> {
  const raw = new Memcached(server, { retries: 0, timeout: 1000, poolSize: 10, idle: 60_000 });
  const store = new MemcachedStore(server, { timeoutMs: 200 });
  const packaged = new MemcachedStore(server, { timeoutMs: 200, client: 'memcached' });
  const other = new MemcacheClient({ server: { server, maxConnections: 10 } });
  // memjs speaks the binary protocol on one connection per server; 1.3.2
  // has no multi-get, so a multi-get is its gets sent together.
  const binary = memjs.Client.create(server, { timeout: 1, retries: 0 });
  try {
    const row = 'r'.repeat(900);
    const ROWS = 1000;
    const rowKey = (i: number) => `${prefix}:row:${i % ROWS}`;
    for (let i = 0; i < ROWS; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => store.set(rowKey(i + j), row, 600)));
    await Promise.all([store.set(`${prefix}:t1`, 'token1', 600), store.set(`${prefix}:t2`, 'token2', 600)]);
    const one = (i: number) => rowKey(i * 7);
    const small = (i: number) => [rowKey(i * 7), `${prefix}:t1`, `${prefix}:t2`];
    const list = (i: number) => Array.from({ length: 50 }, (_, j) => rowKey(i * 50 + j));
    const sets = (i: number, send: (key: string) => Promise<unknown>) => Promise.all([1, 2, 3, 4, 5].map((j) => send(`${prefix}:s${(i * 5 + j) % 500}`)));
    const stores = { MemcachedStore: store, 'MemcachedStore (memcached package)': packaged };
    const viaStores = (run: (s: MemcachedStore, i: number) => Promise<unknown>) =>
      Object.fromEntries(Object.entries(stores).map(([name, s]) => [name, (i: number) => run(s, i)]));
    const shapes: [string, Record<string, (i: number) => Promise<unknown>>][] = [
      ['get 1 × 900 B', {
        memcached: (i) => promised((cb) => raw.get(one(i), cb)),
        ...viaStores((s, i) => s.get(one(i))),
        'memcache-client': (i) => other.get(one(i)),
        memjs: (i) => binary.get(one(i)),
      }],
      ['multi-get 3 keys (a row hit)', {
        memcached: (i) => promised((cb) => raw.getMulti(small(i), cb)),
        ...viaStores((s, i) => s.getMulti(small(i))),
        'memcache-client': (i) => other.get(small(i)),
        memjs: (i) => Promise.all(small(i).map((k) => binary.get(k))),
      }],
      ['multi-get 50 × 900 B (a list hit\'s rows)', {
        memcached: (i) => promised((cb) => raw.getMulti(list(i), cb)),
        ...viaStores((s, i) => s.getMulti(list(i))),
        'memcache-client': (i) => other.get(list(i)),
        memjs: (i) => Promise.all(list(i).map((k) => binary.get(k))),
      }],
      ['5 concurrent sets (a write\'s invalidation)', {
        memcached: (i) => sets(i, (k) => promised((cb) => raw.set(k, 'token', 600, cb))),
        ...viaStores((s, i) => sets(i, (k) => s.set(k, 'token', 600))),
        'memcache-client': (i) => sets(i, (k) => other.set(k, 'token', { lifetime: 600 })),
        memjs: (i) => sets(i, (k) => binary.set(k, 'token', { expires: 600 })),
      }],
    ];
    return await measureShapes(shapes, rounds, ops);
  } finally {
    raw.end();
    await store.close();
    await packaged.close();
    other.shutdown();
    binary.close();
  }
}
