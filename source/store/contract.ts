/**
 * The one small contract every cache engine implements (keyv's storage
 * adapter and Kysely's "the subset of the driver we need" interfaces are the
 * model). Values are strings the plugin encodes itself, so a store never has
 * to know about types, flags or line breaks.
 *
 * Semantics follow memcached's text protocol, which MemoryStore mirrors:
 * - `ttlSeconds` is always relative to now; 0 means "no expiry" (eviction
 *   may still drop the item). A memcached store converts TTLs over 30 days
 *   to the absolute times its protocol wants; callers never do.
 * - `add` stores only when the key is absent; `cas` only when the item is
 *   unchanged since the `gets` that returned `cas`.
 * - Every method may reject with a `StoreError`; the cache treats a rejected
 *   read as a miss and a rejected write as not stored.
 */

/** A value with the compare-and-swap token it was read with. */
export interface CasValue {
  value: string;
  cas: string;
}

/** Health of one server of a store, for metrics and the dashboard. */
export interface ServerHealth {
  /** The server's address. */
  server: string;
  /** Its circuit breaker: `open` while the store skips it after failures. */
  breaker: 'closed' | 'open' | 'half-open';
  /** How many times the breaker opened since the store was created. */
  breakerOpened: number;
  /** A standalone Redis known to be a replica (nothing is read from it while it is). */
  replica?: boolean;
}

/** A cache engine. Implement it to put the cache on another engine. */
export interface CacheStore {
  /** Largest value (in UTF-8 bytes) the store accepts; larger writes reject with `ETOOLARGE`. */
  readonly maxValueBytes: number;
  /** The value stored under `key`, or `undefined`. */
  get(key: string): Promise<string | undefined>;
  /** Every present key's value, in one round trip per server. */
  getMulti(keys: readonly string[]): Promise<Map<string, string>>;
  /**
   * The value with its CAS token, `undefined` when absent, or `null` when the
   * store cannot tell now (a server back from an outage, in its grace
   * period): a writer reads the scheme registry with `gets`, and an absent
   * registry would let it rotate too little.
   */
  gets(key: string): Promise<CasValue | undefined | null>;
  /** Store unconditionally; `true` when stored. */
  set(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /** Store only if `key` is absent; `false` when it exists. */
  add(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /** Store only if unchanged since the `gets` that returned `cas`. */
  cas(key: string, value: string, cas: string, ttlSeconds: number): Promise<boolean>;
  /** Remove `key`; `true` when it existed. */
  delete(key: string): Promise<boolean>;
  /**
   * Add `delta` (a negative one subtracts, never below 0) to the decimal
   * counter under `key`, creating it at `max(delta, 0)` when absent, and
   * reset its TTL; the new value. Counters are read with `getMulti` as
   * decimal text. Optional: without it the cache keeps no write marks (see
   * docs/transparency.md).
   */
  incr?(key: string, delta: number, ttlSeconds: number): Promise<number>;
  /**
   * True when the store applies this process's commands in the order they
   * were called (one server, one connection, no reordering queue): a write
   * then sends its first invalidation with its write mark, in one round
   * trip (source/tokens/write-marks.ts). Leave it out when unsure.
   */
  readonly ordered?: boolean;
  /** Release connections and timers. */
  close(): Promise<void>;
  /** Each server's health, for metrics; stores without servers leave it out. */
  health?(): ServerHealth[];
}

/** memcached treats expirations above this many seconds as Unix timestamps. */
export const MEMCACHED_RELATIVE_TTL_LIMIT = 60 * 60 * 24 * 30;

/**
 * memcached's default item size is 1 MiB including the key and ~50 bytes of
 * item header; values at or near the limit are rejected, and memcached 2.2.2
 * then marks the server as failing. Stay well below it.
 */
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024 - 16 * 1024;

/** memcached's key limit, in bytes. */
export const MAX_KEY_BYTES = 250;
