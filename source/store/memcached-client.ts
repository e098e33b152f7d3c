/**
 * Protocol-safe keys and error shapes for MemcachedStore, and the `memcached`
 * package (2.2.2) as one of its two drivers (`client: 'memcached'`):
 * configured against its known failure modes, its error shapes read as store
 * errors, and its response parser guarded against values that break the text
 * protocol's framing.
 */
import Memcached from 'memcached';
import { StoreError } from '../errors';
import { sha256 } from '../util';
import { type CasValue, MAX_KEY_BYTES } from './contract';
import type { Done, DriverSettings, MemcachedDriver } from './memcached-driver';

/** A key the text protocol carries as it is. */
const SAFE_KEY = /^[\x21-\x22\x24-\x7e][\x21-\x7e]*$/;

/**
 * memcached keys are at most 250 bytes of printable ASCII without spaces or
 * control characters; anything else would break the text protocol (a space
 * splits the command, CR/LF ends it). Unsafe or long keys are replaced by a
 * digest. Safe keys never start with `#`, and digests always do, so the two
 * can never collide.
 */
export function memcachedKey(key: string): string {
  if (key.length <= MAX_KEY_BYTES && SAFE_KEY.test(key)) return key;
  return `#${sha256(key)}`;
}

/**
 * memcached 2.2.2 reports errors as an Error, an array of them, or a string;
 * NOT_STORED comes back as an error flagged `notStored`, which for `add` is an
 * ordinary "key exists" answer.
 */
/** The first of the client's errors. */
export function firstError(error: unknown): unknown {
  return Array.isArray(error) ? error[0] : error;
}

export function isNotStored(error: unknown): boolean {
  const first = firstError(error);
  return typeof first === 'object' && first !== null && (first as { notStored?: boolean }).notStored === true;
}

export function toStoreError(error: unknown, operation: string, server: string): StoreError {
  const first = firstError(error);
  if (first instanceof StoreError) return first;
  const message = first instanceof Error ? first.message : String(first);
  const code = /connect|ECONN|EPIPE|readyState|not available|closed/i.test(message) ? 'ECONNECTION' : 'ESERVER';
  return new StoreError(code, operation, message, server, { cause: first });
}

/** The parts of a connection of the `memcached` client that its response parser uses. */
interface ClientStream {
  bufferArray: string[];
  responseBuffer: string;
  metaData: { callback?: (...args: unknown[]) => void }[];
  destroy(): void;
}

/** The client's parser methods the guard wraps. */
type ParsingClient = {
  rawDataReceived(stream: ClientStream): unknown;
  delegateCallback(meta: unknown, error: unknown, result: unknown, callback: (...args: unknown[]) => void): void;
};

/**
 * Whether a connection's buffered response lines have lost their framing: a
 * VALUE whose data line is not the declared number of bytes. memcached 2.2.2
 * splits responses on CR LF instead of reading the declared length, so a
 * value holding CR LF (never one of ours: they are refused on write; only a
 * foreign writer's) turns its remainder into "responses" that are handed to
 * the next requests on the connection: an earlier answer for the same key
 * could then be taken for a current one. Invalid UTF-8 shows up the same way
 * (the client decodes as UTF-8).
 */
function unframed(lines: readonly string[]): boolean {
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!line.startsWith('VALUE ')) continue;
    const data = lines[i + 1];
    if (data === undefined) return false;
    if (Buffer.byteLength(data) !== Number(line.split(' ')[3])) return true;
    i++;
  }
  return false;
}

/**
 * Check every batch of response lines before the client parses it, and after:
 * a connection whose framing is lost (see {@link unframed}), or whose parser
 * stopped at a line it does not know (every later answer would wait behind
 * it, or be shifted), is closed and each of its pending requests fails. A
 * failed read is a miss and a failed write is replayed, so a confused
 * connection costs misses, never a wrong answer.
 */
export function guardResponseStream(client: Memcached, address: string): void {
  const parsing = client as unknown as ParsingClient;
  const parse = parsing.rawDataReceived.bind(client);
  const drop = (stream: ClientStream) => {
    const pending = stream.metaData.splice(0);
    stream.bufferArray = [];
    stream.responseBuffer = '';
    stream.destroy();
    const error = new Error(`memcached ${address}: response stream lost its framing (a value with CR/LF or invalid UTF-8); connection closed`);
    for (const meta of pending) if (meta.callback) parsing.delegateCallback(meta, error, false, meta.callback);
  };
  parsing.rawDataReceived = (stream: ClientStream) => {
    if (unframed(stream.bufferArray)) return drop(stream);
    parse(stream);
    const head = stream.bufferArray[0];
    // Normally only a VALUE waiting for its END stays buffered.
    if (head !== undefined && head !== '' && !head.startsWith('VALUE ')) drop(stream);
  };
}

/**
 * The `memcached` package behind the driver interface:
 * - connection pool retries are millisecond-scale (the default five retries
 *   with exponential backoff take about 100 s to report a refused
 *   connection);
 * - the client's own failure bookkeeping is switched off: its reconnect path
 *   spawns the system `ping` (and crashes the process where `ping` is
 *   missing), and `remove: true` would drop a server from one process's ring
 *   but not another's, sending invalidations to the wrong server; the
 *   store's circuit breaker does the fast-failing instead;
 * - its parser is guarded ({@link guardResponseStream}).
 */
export class PackageClient implements MemcachedDriver {
  readonly #client: Memcached;

  constructor(address: string, settings: DriverSettings) {
    // minTimeout / maxTimeout / factor are passed to the pool but missing from @types/memcached.
    const client = new Memcached(address, {
      // A few millisecond-scale retries remain: a burst larger than the pool
      // on a fresh store finds every connection still connecting, which the
      // pool reports as "pool is full".
      retries: 3,
      minTimeout: 5,
      maxTimeout: 40,
      factor: 2,
      timeout: settings.connectTimeoutMs,
      poolSize: settings.poolSize,
      remove: false,
      keyCompression: false,
      maxKeySize: MAX_KEY_BYTES,
      maxValue: Number.MAX_SAFE_INTEGER,
      idle: 60_000,
    } as Memcached.options);
    // Replace IssueLog: it marks servers dead and schedules a reconnect that
    // spawns `ping` hours later (keeping the process alive until then). The
    // broken socket is still closed.
    (client as unknown as { connectionIssue: (e: unknown, s?: { end?: () => void }) => void }).connectionIssue = (
      _error,
      socket,
    ) => {
      if (socket && typeof socket.end === 'function') socket.end();
    };
    guardResponseStream(client, address);
    client.on('failure', () => undefined);
    (client as unknown as NodeJS.EventEmitter).on('error', () => undefined);
    this.#client = client;
  }

  get(keys: readonly string[], done: Done<Map<string, string>>): void {
    const found = (data: Record<string, unknown> | undefined) => {
      const values = new Map<string, string>();
      for (const key of keys) {
        const value = data?.[key];
        if (typeof value === 'string') values.set(key, value);
      }
      return values;
    };
    const only = keys.length === 1 ? (keys[0] as string) : undefined;
    if (only !== undefined) this.#client.get(only, (error, value) => (error ? done(error) : done(undefined, found({ [only]: value }))));
    else this.#client.getMulti([...keys], (error, data) => (error ? done(error) : done(undefined, found(data))));
  }

  gets(key: string, done: Done<CasValue | undefined>): void {
    this.#client.gets(key, (error, data: Record<string, unknown> | undefined) => {
      if (error) return done(error);
      const value = data?.[key];
      const cas = data?.cas;
      done(undefined, typeof value === 'string' && typeof cas === 'string' ? { value, cas } : undefined);
    });
  }

  store(command: 'set' | 'add' | 'cas', key: string, value: string, ttl: number, cas: string | undefined, done: Done<boolean>): void {
    // NOT_STORED comes back as an error flagged `notStored`: for `add` and
    // `cas` an ordinary "not stored" answer.
    const stored = (error: unknown, result: unknown) => (error && !isNotStored(error) ? done(error) : done(undefined, result === true));
    if (command === 'cas') this.#client.cas(key, value, cas as string, ttl, stored);
    else this.#client[command](key, value, ttl, stored);
  }

  delete(key: string, done: Done<boolean>): void {
    this.#client.del(key, (error, result: unknown) => (error ? done(error) : done(undefined, result === true)));
  }

  counter(key: string, delta: number, done: Done<number | undefined>): void {
    const method = delta >= 0 ? this.#client.incr : this.#client.decr;
    method.call(this.#client, key, Math.abs(delta), (error: unknown, value: unknown) => {
      if (error) return done(error);
      if (typeof value === 'number') return done(undefined, value);
      done(undefined, typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined);
    });
  }

  touch(key: string, ttl: number, done: Done<boolean>): void {
    this.#client.touch(key, ttl, (error: unknown) => (error ? done(error) : done(undefined, true)));
  }

  end(): void {
    this.#client.end();
  }
}
