/**
 * The cache never breaks the app (docs/architecture.md, invariant 4): every store call
 * goes through this guard, which turns a failure of any kind (rejection,
 * synchronous throw, a user store returning garbage) into a miss or a "not
 * stored", counts it, and reports it to the `error` listener.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { randomToken } from '../clock';
import { asStoreError, type StoreError } from '../errors';
import type { Metrics } from '../metrics/metrics';
import type { CacheStore, CasValue } from './contract';

export type ErrorReporter = (error: StoreError) => void;

/** Characters of the HMAC prefix of a signed value (base64url of 16 bytes) and its separator. */
const SIGNATURE_CHARS = 22;
const SIGNED_OVERHEAD = SIGNATURE_CHARS + 1;

/** A value read that failed its signature check. */
const FORGED = Symbol('forged');

export class GuardedStore {
  readonly #secret: string | undefined;

  /**
   * @param secret - with one, every value is stored behind an HMAC of its
   *   key and content, and a value whose HMAC does not verify (planted by
   *   whoever can reach memcached, or corrupted) reads as absent.
   */
  readonly #profile: { key: string; suffix: string } | undefined;

  /**
   * @param profile - the value of the token `profile.key` reads with
   *   `profile.suffix` appended (see OrmCache: how this Sequelize instance
   *   turns column values into JavaScript values), so that every entry records
   *   it and an entry another instance stored under other settings never
   *   validates here, while both share the stored token and its rotations.
   */
  constructor(
    readonly store: CacheStore,
    readonly metrics: Metrics,
    readonly report: ErrorReporter,
    secret?: string,
    profile?: { key: string; suffix: string },
  ) {
    this.#secret = secret;
    this.#profile = profile;
  }

  #profiled(values: Map<string, string>): Map<string, string> {
    const profile = this.#profile;
    const value = profile && values.get(profile.key);
    if (profile && value) values.set(profile.key, value + profile.suffix);
    return values;
  }

  /** Largest value the callers may hand over (room is kept for the signature). */
  get maxValueBytes(): number {
    return this.store.maxValueBytes - (this.#secret === undefined ? 0 : SIGNED_OVERHEAD);
  }

  /** The values found, and whether the store answered at all (callers skip fills when not). */
  async getMulti(keys: readonly string[]): Promise<{ values: Map<string, string>; ok: boolean }> {
    try {
      const found = await this.store.getMulti(keys);
      if (!(found instanceof Map)) throw new TypeError('getMulti did not return a Map');
      if (this.#secret === undefined) {
        // Nothing to verify: count the bytes and hand the map on as it is.
        for (const [key, value] of found) this.#open(key, value);
        return { values: this.#profiled(found), ok: true };
      }
      const values = new Map<string, string>();
      for (const [key, value] of found) {
        // A forged value reads as present but empty: no entry decodes from
        // it (so a fill replaces it by CAS), and token readers take '' for
        // "missing" (so it is replaced by a fresh token, never recorded).
        const opened = this.#open(key, value);
        values.set(key, opened === FORGED ? '' : opened);
      }
      return { values: this.#profiled(values), ok: true };
    } catch (error) {
      this.#fail(error, 'getMulti');
      return { values: new Map(), ok: false };
    }
  }

  async get(key: string): Promise<string | undefined> {
    const value = await this.#get(key);
    return value === FORGED ? undefined : value;
  }

  async #get(key: string): Promise<string | undefined | typeof FORGED> {
    try {
      const value = await this.store.get(key);
      return typeof value === 'string' ? this.#open(key, value) : undefined;
    } catch (error) {
      this.#fail(error, 'get');
      return undefined;
    }
  }

  /**
   * The values of `keys` as {@link getMulti} gives them, each read with its
   * own `gets`, sent when called (a multi-get waits for the tick's batch):
   * on an `ordered` store, commands called after this are applied after
   * these reads. `undefined` when the store failed.
   */
  async readNow(keys: readonly string[]): Promise<Map<string, string> | undefined> {
    const found = await Promise.all(keys.map((key) => this.gets(key)));
    if (found.some((value) => value === null)) return undefined;
    const values = new Map<string, string>();
    keys.forEach((key, i) => {
      const value = found[i]?.value;
      if (value !== undefined) values.set(key, value);
    });
    return this.#profiled(values);
  }

  /**
   * `null` when the store failed (distinct from `undefined`, "absent"). A
   * value that fails its signature comes back empty, with its CAS, so that
   * a fill can replace it.
   */
  async gets(key: string): Promise<CasValue | undefined | null> {
    try {
      const found = await this.store.gets(key);
      if (found === null) return null; // cannot tell now: no failure to report
      if (found === undefined) return undefined;
      if (typeof found?.value !== 'string' || typeof found.cas !== 'string') throw new TypeError('gets returned garbage');
      const opened = this.#open(key, found.value);
      return { value: opened === FORGED ? '' : opened, cas: found.cas };
    } catch (error) {
      this.#fail(error, 'gets');
      return null;
    }
  }

  set(key: string, value: string, ttl: number): Promise<boolean> {
    const sealed = this.#seal(key, value);
    return this.#write('set', () => this.store.set(key, sealed, ttl));
  }

  add(key: string, value: string, ttl: number): Promise<boolean> {
    const sealed = this.#seal(key, value);
    return this.#write('add', () => this.store.add(key, sealed, ttl));
  }

  /**
   * The value of a dependency token, creating it (random, no expiry) when
   * absent; when two readers race to create it, both end up with the one
   * that won the `add`. `undefined` when the store cannot tell. A token that
   * fails its signature is replaced: a new token only ever invalidates.
   */
  async ensureToken(key: string): Promise<string | undefined> {
    return (await this.createToken(key)).value;
  }

  /**
   * {@link ensureToken}, telling whether this call's own `add` made the
   * token (`added`): then its value was settled when the `add` was applied,
   * and a read the store applies after that `add` (on an `ordered` store, one
   * called after it) comes after the token. Otherwise it was read, or
   * replaced, one round trip later.
   */
  async createToken(key: string): Promise<{ value: string | undefined; added: boolean }> {
    const suffix = this.#profile?.key === key ? this.#profile.suffix : '';
    const fresh = randomToken();
    if (await this.add(key, fresh, 0)) return { value: fresh + suffix, added: true };
    const found = await this.#get(key);
    if (found !== FORGED) return { value: found && found + suffix, added: false };
    return { value: (await this.set(key, fresh, 0)) ? fresh + suffix : undefined, added: false };
  }

  /** `add` that tells "the key exists" (false) from "the store failed" (null). */
  async tryAdd(key: string, value: string, ttl: number): Promise<boolean | null> {
    const sealed = this.#seal(key, value);
    try {
      return (await this.store.add(key, sealed, ttl)) === true;
    } catch (error) {
      this.#fail(error, 'add');
      return null;
    }
  }

  cas(key: string, value: string, cas: string, ttl: number): Promise<boolean> {
    const sealed = this.#seal(key, value);
    return this.#write('cas', () => this.store.cas(key, sealed, cas, ttl));
  }

  #signature(key: string, value: string): string {
    // The key is signed too, so a genuine value cannot be moved to another key.
    return createHmac('sha256', this.#secret as string).update(key).update('\n').update(value).digest('base64url').slice(0, SIGNATURE_CHARS);
  }

  /** The value as stored: signed when a secret is set. Counts its bytes. */
  #seal(key: string, value: string): string {
    const sealed = this.#secret === undefined ? value : `${this.#signature(key, value)}.${value}`;
    this.metrics.bytesWritten += Buffer.byteLength(sealed);
    return sealed;
  }

  /** A stored value's content, or FORGED when its signature does not verify. Counts its bytes. */
  #open(key: string, stored: string): string | typeof FORGED {
    this.metrics.bytesRead += Buffer.byteLength(stored);
    if (this.#secret === undefined) return stored;
    const value = stored.slice(SIGNED_OVERHEAD);
    const given = Buffer.from(stored.slice(0, SIGNATURE_CHARS));
    const expected = Buffer.from(this.#signature(key, value));
    if (stored[SIGNATURE_CHARS] === '.' && given.length === expected.length && timingSafeEqual(given, expected)) return value;
    this.metrics.forgedEntries++;
    return FORGED;
  }

  delete(key: string): Promise<boolean> {
    return this.#write('delete', () => this.store.delete(key));
  }

  /** Whether the store applies this process's commands in the order called (see CacheStore.ordered). */
  get ordered(): boolean {
    return this.store.ordered === true;
  }

  /** Whether the store keeps counters (write marks). */
  get counts(): boolean {
    return typeof this.store.incr === 'function';
  }

  /**
   * Step a counter (a write mark); `undefined` when the store failed or keeps
   * no counters. Counters are never signed: memcached does the arithmetic.
   */
  async step(key: string, delta: number, ttl: number): Promise<number | undefined> {
    if (typeof this.store.incr !== 'function') return undefined;
    try {
      const value = await this.store.incr(key, delta, ttl);
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError('incr did not return a number');
      return value;
    } catch (error) {
      this.#fail(error, 'incr');
      return undefined;
    }
  }

  /**
   * The counters of `keys` (absent ones as 0) in one round trip;
   * `undefined` when the store failed or a value is not a counter (a
   * planted value can only make the caller store nothing). A store without
   * counters reads every one as 0.
   */
  async counters(keys: readonly string[]): Promise<Map<string, number> | undefined> {
    const out = new Map(keys.map((key) => [key, 0]));
    if (typeof this.store.incr !== 'function' || keys.length === 0) return out;
    try {
      const found = await this.store.getMulti(keys);
      for (const [key, value] of found) {
        // memcached may leave a decremented number space-padded.
        const text = value.trim();
        if (!/^\d{1,15}$/.test(text)) return undefined;
        out.set(key, Number(text));
      }
      return out;
    } catch (error) {
      this.#fail(error, 'getMulti');
      return undefined;
    }
  }

  async #write(operation: string, run: () => Promise<boolean>): Promise<boolean> {
    try {
      return (await run()) === true;
    } catch (error) {
      this.#fail(error, operation);
      return false;
    }
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
