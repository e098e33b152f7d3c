import { type Clock, systemClock } from '../clock';
import { OptionError, rejectUnknown, StoreError } from '../errors';
import { type CacheStore, type CasValue, DEFAULT_MAX_VALUE_BYTES } from './contract';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most items kept; the least recently used go first.
   * @default 100_000
   */
  maxItems?: number;
  /**
   * Most bytes of keys plus values kept (UTF-16 length × 2, an estimate).
   * @default 64 MiB
   */
  maxBytes?: number;
  /**
   * Largest value accepted, in UTF-8 bytes, mirroring memcached's item limit.
   * @default 1 MiB − 16 KiB
   */
  maxValueBytes?: number;
  /** Time source; tests pass a `ManualClock`. @default the system clock */
  clock?: Clock;
}

interface Item {
  value: string;
  /** Expiry in ms since the epoch; `Infinity` for none. */
  expiresAt: number;
  cas: number;
  bytes: number;
}

/** Every key of {@link MemoryStoreOptions}. */
const MEMORY_OPTIONS: readonly (keyof MemoryStoreOptions)[] = ['maxItems', 'maxBytes', 'maxValueBytes', 'clock'];

function positiveInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new OptionError(option, `must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * The embedded, in-process store: an LRU-bounded map with memcached's TTL,
 * `add` and `cas` semantics. It is the default store and the fast store of
 * unit tests; it does not share invalidations between processes, so use
 * {@link MemcachedStore} whenever more than one process serves the app.
 *
 * @example
 * ```ts
 * ormCache.install(sequelize, { store: new MemoryStore({ maxItems: 10_000 }) });
 * ```
 */
export class MemoryStore implements CacheStore {
  /** Every command is applied when it is called. */
  readonly ordered = true;
  readonly maxValueBytes: number;
  readonly #maxItems: number;
  readonly #maxBytes: number;
  readonly #clock: Clock;
  readonly #items = new Map<string, Item>();
  #bytes = 0;
  #nextCas = 1;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new OptionError('options', 'of MemoryStore must be an object');
    rejectUnknown(options, MEMORY_OPTIONS, '', 'MemoryStore');
    this.#maxItems = positiveInteger('maxItems', options.maxItems, 100_000);
    this.#maxBytes = positiveInteger('maxBytes', options.maxBytes, 64 * 1024 * 1024);
    this.maxValueBytes = positiveInteger('maxValueBytes', options.maxValueBytes, DEFAULT_MAX_VALUE_BYTES);
    this.#clock = options.clock ?? systemClock;
  }

  /** Number of live items (expired ones are dropped lazily). */
  get size(): number {
    return this.#items.size;
  }

  async get(key: string): Promise<string | undefined> {
    return this.#live(key, 'get')?.value;
  }

  async getMulti(keys: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (const key of keys) {
      const item = this.#live(key, 'getMulti');
      if (item) found.set(key, item.value);
    }
    return found;
  }

  async gets(key: string): Promise<CasValue | undefined> {
    const item = this.#live(key, 'gets');
    return item ? { value: item.value, cas: String(item.cas) } : undefined;
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    this.#store('set', key, value, ttlSeconds);
    return true;
  }

  async add(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    if (this.#live(key, 'add')) return false;
    this.#store('add', key, value, ttlSeconds);
    return true;
  }

  async cas(key: string, value: string, cas: string, ttlSeconds: number): Promise<boolean> {
    const item = this.#live(key, 'cas');
    if (!item || String(item.cas) !== cas) return false;
    this.#store('cas', key, value, ttlSeconds);
    return true;
  }

  async delete(key: string): Promise<boolean> {
    const item = this.#live(key, 'delete');
    if (!item) return false;
    this.#remove(key, item);
    return true;
  }

  async incr(key: string, delta: number, ttlSeconds: number): Promise<number> {
    const item = this.#live(key, 'incr');
    const current = item ? Number.parseInt(item.value, 10) : 0;
    if (item && !/^\d+$/.test(item.value)) throw new StoreError('ESERVER', 'incr', 'cannot increment or decrement non-numeric value');
    const next = Math.max(0, current + delta);
    this.#store('incr', key, String(next), ttlSeconds);
    return next;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#items.clear();
    this.#bytes = 0;
  }

  /** The contract's rule: 0 never expires, a negative TTL is already expired, anything else is relative. */
  #expiry(ttlSeconds: number): number {
    if (ttlSeconds === 0) return Infinity;
    if (ttlSeconds < 0) return -Infinity;
    return this.#clock.now() + ttlSeconds * 1000;
  }

  #live(key: string, operation: string): Item | undefined {
    if (this.#closed) throw new StoreError('ECLOSED', operation, 'store is closed');
    const item = this.#items.get(key);
    if (!item) return undefined;
    if (item.expiresAt <= this.#clock.now()) {
      this.#remove(key, item);
      return undefined;
    }
    // Re-insert to mark as most recently used (Map keeps insertion order).
    this.#items.delete(key);
    this.#items.set(key, item);
    return item;
  }

  #store(operation: string, key: string, value: string, ttlSeconds: number): void {
    if (this.#closed) throw new StoreError('ECLOSED', operation, 'store is closed');
    if (Buffer.byteLength(value) > this.maxValueBytes) {
      throw new StoreError('ETOOLARGE', operation, `value exceeds ${this.maxValueBytes} bytes`);
    }
    const previous = this.#items.get(key);
    if (previous) this.#remove(key, previous);
    const item: Item = {
      value,
      expiresAt: this.#expiry(ttlSeconds),
      cas: this.#nextCas++,
      bytes: (key.length + value.length) * 2,
    };
    if (item.expiresAt <= this.#clock.now()) return;
    this.#items.set(key, item);
    this.#bytes += item.bytes;
    for (const [oldest, old] of this.#items) {
      if (this.#items.size <= this.#maxItems && this.#bytes <= this.#maxBytes) break;
      this.#remove(oldest, old);
    }
  }

  #remove(key: string, item: Item): void {
    this.#items.delete(key);
    this.#bytes -= item.bytes;
  }
}
