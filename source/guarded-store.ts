/**
 * The cache never breaks the app (DESIGN.md invariant 4): every store call
 * goes through this guard, which turns a failure of any kind (rejection,
 * synchronous throw, a user store returning garbage) into a miss or a "not
 * stored", counts it, and reports it to the `error` listener.
 */
import { randomToken } from './clock';
import { StoreError } from './errors';
import type { Metrics } from './metrics';
import type { CacheStore, CasValue } from './store/contract';

export type ErrorReporter = (error: StoreError) => void;

function asStoreError(error: unknown, operation: string): StoreError {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StoreError('ESERVER', operation, message, undefined, { cause: error });
}

export class GuardedStore {
  constructor(
    readonly store: CacheStore,
    readonly metrics: Metrics,
    readonly report: ErrorReporter,
  ) {}

  /** The values found, and whether the store answered at all (callers skip fills when not). */
  async getMulti(keys: readonly string[]): Promise<{ values: Map<string, string>; ok: boolean }> {
    try {
      const values = await this.store.getMulti(keys);
      if (!(values instanceof Map)) throw new TypeError('getMulti did not return a Map');
      for (const value of values.values()) this.#read(value);
      return { values, ok: true };
    } catch (error) {
      this.#fail(error, 'getMulti');
      return { values: new Map(), ok: false };
    }
  }

  async get(key: string): Promise<string | undefined> {
    try {
      const value = await this.store.get(key);
      return typeof value === 'string' ? this.#read(value) : undefined;
    } catch (error) {
      this.#fail(error, 'get');
      return undefined;
    }
  }

  /** `null` when the store failed (distinct from `undefined`, "absent"). */
  async gets(key: string): Promise<CasValue | undefined | null> {
    try {
      const found = await this.store.gets(key);
      if (found === undefined) return undefined;
      if (typeof found?.value !== 'string' || typeof found.cas !== 'string') throw new TypeError('gets returned garbage');
      this.#read(found.value);
      return found;
    } catch (error) {
      this.#fail(error, 'gets');
      return null;
    }
  }

  set(key: string, value: string, ttl: number): Promise<boolean> {
    this.#written(value);
    return this.#write('set', () => this.store.set(key, value, ttl));
  }

  add(key: string, value: string, ttl: number): Promise<boolean> {
    this.#written(value);
    return this.#write('add', () => this.store.add(key, value, ttl));
  }

  /**
   * The value of a dependency token, creating it (random, no expiry) when
   * absent; when two readers race to create it, both end up with the one
   * that won the `add`. `undefined` when the store cannot tell.
   */
  async ensureToken(key: string): Promise<string | undefined> {
    const fresh = randomToken();
    return (await this.add(key, fresh, 0)) ? fresh : this.get(key);
  }

  /** `add` that tells "the key exists" (false) from "the store failed" (null). */
  async tryAdd(key: string, value: string, ttl: number): Promise<boolean | null> {
    this.#written(value);
    try {
      return (await this.store.add(key, value, ttl)) === true;
    } catch (error) {
      this.#fail(error, 'add');
      return null;
    }
  }

  cas(key: string, value: string, cas: string, ttl: number): Promise<boolean> {
    this.#written(value);
    return this.#write('cas', () => this.store.cas(key, value, cas, ttl));
  }

  delete(key: string): Promise<boolean> {
    return this.#write('delete', () => this.store.delete(key));
  }

  async #write(operation: string, run: () => Promise<boolean>): Promise<boolean> {
    try {
      return (await run()) === true;
    } catch (error) {
      this.#fail(error, operation);
      return false;
    }
  }

  /** Count the bytes of a value read. */
  #read(value: string): string {
    this.metrics.bytesRead += Buffer.byteLength(value);
    return value;
  }

  /** Count the bytes of a value sent (whether or not the store takes it). */
  #written(value: string): void {
    this.metrics.bytesWritten += Buffer.byteLength(value);
  }

  #fail(error: unknown, operation: string): void {
    const storeError = asStoreError(error, operation);
    this.metrics.storeErrors++;
    if (storeError.code === 'ETIMEOUT') this.metrics.storeTimeouts++;
    try {
      this.report(storeError);
    } catch {
      // A throwing error listener must not turn a cache failure into a query failure.
    }
  }
}
