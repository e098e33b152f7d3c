import HashRing from 'hashring';
import Memcached from 'memcached';
import { OptionError, rejectUnknown, StoreError } from '../errors';
import { CircuitBreaker } from './circuit-breaker';
import {
  type CacheStore,
  type CasValue,
  type ServerHealth,
  DEFAULT_MAX_VALUE_BYTES,
  MAX_KEY_BYTES,
  MEMCACHED_RELATIVE_TTL_LIMIT,
} from './contract';
import { withDeadline } from './deadline';
import { ReadBatches } from './read-batches';
import { systemClock } from '../clock';
import { firstError, guardResponseStream, isNotStored, memcachedKey, toStoreError } from './memcached-client';

/** Options of {@link MemcachedStore}. */
export interface MemcachedStoreOptions {
  /**
   * Deadline of every operation in milliseconds. A timed-out read is a miss,
   * a timed-out write is "not stored"; the query goes on to the database.
   * @default 50
   */
  timeoutMs?: number;
  /**
   * How long to wait for a TCP connection to be established, in milliseconds.
   * @default 1000
   */
  connectTimeoutMs?: number;
  /**
   * Consecutive failures (timeouts, connection errors) that open a server's
   * circuit breaker.
   * @default 3
   */
  breakerThreshold?: number;
  /**
   * How long an open breaker skips its server before one probe, in ms.
   * @default 1000
   */
  breakerCooldownMs?: number;
  /**
   * Connections per server.
   * @default 10
   */
  poolSize?: number;
  /**
   * After a server's breaker closes again (it was unreachable, and answers
   * now), reads from it are misses for this long, in ms, while writes go
   * through. A server that comes back with its old contents (paused,
   * partitioned: not restarted) may still hold entries whose invalidations
   * were lost while it was away; the processes that lost them replay them
   * within about a breaker cooldown plus `replayMs` of its return, and
   * nothing is read from it until then.
   * @default breakerCooldownMs + 1000
   */
  returnGraceMs?: number;
  /**
   * Largest value sent, in UTF-8 bytes. memcached rejects items at its 1 MiB
   * limit (key and header included) and the client then marks the server as
   * failing, so values are refused locally well before that.
   * @default 1 MiB − 16 KiB
   */
  maxValueBytes?: number;
}

/** Every key of {@link MemcachedStoreOptions}. */
const MEMCACHED_OPTIONS: readonly (keyof MemcachedStoreOptions)[] = [
  'timeoutMs', 'connectTimeoutMs', 'breakerThreshold', 'breakerCooldownMs', 'poolSize', 'returnGraceMs', 'maxValueBytes',
];

/**
 * Keys per multi-get command: memcached 2.2.2 rescans its whole response
 * buffer on every data event, so one huge multi-get costs quadratic time.
 */
const MULTI_GET_BATCH = 100;

function positive(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new OptionError(option, `must be a positive number, got ${String(value)}`);
  }
  return value;
}

interface Server {
  address: string;
  client: Memcached;
  breaker: CircuitBreaker;
  /** Operations sent and not answered yet. */
  active: number;
  /** Operations waiting for one of those to finish. */
  waiting: (() => void)[];
}

/**
 * Operations in flight per pooled connection. A burst larger than that (a
 * 40,000-row list: 400 multi-get batches, then 39,000 fills) waits here, and
 * each operation's deadline starts when it is sent: queued behind the
 * others inside the client, the last ones would time out although the
 * server answers every one quickly, and one timed-out batch fails the
 * whole multi-get.
 */
const IN_FLIGHT_PER_CONNECTION = 8;

/**
 * A store on one memcached server or a consistent-hashing ring of them, on the
 * `memcached` package, hardened against that client's known failure modes:
 *
 * - every operation has a deadline (`timeoutMs`), because the client never
 *   calls back when a server hangs or drops a connection mid-request;
 * - connection pool retries are millisecond-scale (the default five
 *   retries with exponential backoff take about 100 s to report a refused
 *   connection);
 * - the client's own failure bookkeeping is replaced by a circuit breaker per
 *   server: its reconnect path spawns the system `ping` (and crashes the
 *   process where `ping` is missing), and `remove: true` would drop a server
 *   from one process's ring but not another's, sending invalidations to the
 *   wrong server;
 * - placement uses the same ketama ring as the client (`hashring`, md5), built
 *   once from the server list and never changed, so every process with the
 *   same list puts a key on the same server, dead or alive; keys on a dead
 *   server simply miss;
 * - keys are made protocol-safe ({@link memcachedKey}), values are refused if
 *   they contain raw CR/LF (the client's parser splits responses on them) or
 *   exceed `maxValueBytes`, and TTLs over 30 days are sent as Unix times as
 *   the protocol requires.
 *
 * @example
 * ```ts
 * const store = new MemcachedStore(['10.0.0.1:11211', '10.0.0.2:11211'], { timeoutMs: 30 });
 * ormCache.install(sequelize, { store });
 * ```
 */
export class MemcachedStore implements CacheStore {
  readonly maxValueBytes: number;
  readonly #timeoutMs: number;
  readonly #returnGraceMs: number;
  readonly #servers: Server[];
  readonly #byAddress = new Map<string, Server>();
  readonly #maxInFlight: number;
  readonly #ring: HashRing;
  /** Concurrent reads of a server share multi-gets (see read-batches.ts). */
  readonly #reads = new ReadBatches<Server>(MULTI_GET_BATCH, (server, keys) => {
    const only = keys.length === 1 ? (keys[0] as string) : undefined;
    return this.#run<Record<string, unknown> | undefined>('getMulti', server, (c, cb) =>
      only === undefined ? c.getMulti([...keys], cb) : c.get(only, (error, value) => cb(error, { [only]: value })),
    ).then((data) => data ?? {});
  });
  #closed = false;

  /** @param servers - `host:port` of one server or of every server of the ring */
  constructor(servers: string | readonly string[], options: MemcachedStoreOptions = {}) {
    const list = typeof servers === 'string' ? [servers] : [...servers];
    if (list.length === 0 || !list.every((s) => typeof s === 'string' && /^[^\s:]+:\d+$/.test(s))) {
      throw new OptionError('servers', `must be one or more "host:port" strings, got ${JSON.stringify(servers)}`);
    }
    if (typeof options !== 'object' || options === null) throw new OptionError('options', 'of MemcachedStore must be an object');
    rejectUnknown(options, MEMCACHED_OPTIONS, '', 'MemcachedStore');
    this.#timeoutMs = positive('timeoutMs', options.timeoutMs, 50);
    this.maxValueBytes = positive('maxValueBytes', options.maxValueBytes, DEFAULT_MAX_VALUE_BYTES);
    const connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs, 1000);
    const failureThreshold = positive('breakerThreshold', options.breakerThreshold, 3);
    const cooldownMs = positive('breakerCooldownMs', options.breakerCooldownMs, 1000);
    const poolSize = positive('poolSize', options.poolSize, 10);
    this.#maxInFlight = Math.ceil(poolSize) * IN_FLIGHT_PER_CONNECTION;
    this.#returnGraceMs = options.returnGraceMs === 0 ? 0 : positive('returnGraceMs', options.returnGraceMs, cooldownMs + 1000);

    this.#ring = new HashRing(list, 'md5', { compatibility: 'ketama', 'default port': 11211 });
    this.#servers = list.map((address) => {
      const breaker = new CircuitBreaker({ failureThreshold, cooldownMs });
      // minTimeout / maxTimeout / factor are passed to the pool but missing from @types/memcached.
      const client = new Memcached(address, {
        // The pool's retries wait 1 s, 3 s, 9 s… by default (about 100 s to
        // report a refused connection). A few millisecond-scale retries remain:
        // a burst larger than the pool on a fresh store finds every connection
        // still connecting, which the pool reports as "pool is full".
        retries: 3,
        minTimeout: 5,
        maxTimeout: 40,
        factor: 2,
        timeout: connectTimeoutMs,
        poolSize,
        remove: false,
        keyCompression: false,
        maxKeySize: MAX_KEY_BYTES,
        maxValue: Number.MAX_SAFE_INTEGER,
        idle: 60_000,
      } as Memcached.options);
      // Replace the client's failure bookkeeping (IssueLog): it marks servers
      // dead, schedules a reconnect that spawns `ping` hours later (keeping the
      // process alive until then), and can remove servers from the ring. Our
      // breaker does the fast-failing instead; the broken socket is still closed.
      (client as unknown as { connectionIssue: (e: unknown, s?: { end?: () => void }) => void }).connectionIssue = (
        _error,
        socket,
      ) => {
        if (socket && typeof socket.end === 'function') socket.end();
      };
      guardResponseStream(client, address);
      client.on('failure', () => undefined);
      (client as unknown as NodeJS.EventEmitter).on('error', () => undefined);
      const server: Server = { address, client, breaker, active: 0, waiting: [] };
      this.#byAddress.set(address, server);
      return server;
    });
  }

  /** Breaker state of every server. */
  health(): ServerHealth[] {
    return this.#servers.map((s) => ({ server: s.address, breaker: s.breaker.state, breakerOpened: s.breaker.opened }));
  }

  /** The server (`host:port`) a key is placed on; the same in every process with the same server list. */
  serverFor(key: string): string {
    return this.#serverFor(memcachedKey(key)).address;
  }

  async get(key: string): Promise<string | undefined> {
    const k = memcachedKey(key);
    const server = this.#serverFor(k);
    const value = (await this.#reads.fetch(server, [k]))[k];
    return typeof value === 'string' && !this.#returning(server) ? value : undefined;
  }

  /** Whether `server` came back from an outage too recently to be read from. */
  #returning(server: Server): boolean {
    return server.breaker.recoveredAt > 0 && systemClock.now() - server.breaker.recoveredAt < this.#returnGraceMs;
  }

  async getMulti(keys: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    if (keys.length === 0) return found;
    const byServer = new Map<Server, Map<string, string>>();
    for (const key of keys) {
      const k = memcachedKey(key);
      const server = this.#serverFor(k);
      let group = byServer.get(server);
      if (!group) byServer.set(server, (group = new Map()));
      group.set(k, key);
    }
    await Promise.all(
      [...byServer].map(async ([server, group]) => {
        const data = await this.#reads.fetch(server, [...group.keys()]);
        if (this.#returning(server)) return;
        for (const [k, original] of group) {
          const value = data[k];
          if (typeof value === 'string') found.set(original, value);
        }
      }),
    );
    return found;
  }

  async gets(key: string): Promise<CasValue | undefined> {
    const k = memcachedKey(key);
    const data = await this.#run<Record<string, unknown> | undefined>('gets', this.#serverFor(k), (c, cb) =>
      c.gets(k, cb),
    );
    const value = data?.[k];
    const cas = data?.cas;
    if (this.#returning(this.#serverFor(k))) return undefined;
    return typeof value === 'string' && typeof cas === 'string' ? { value, cas } : undefined;
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return this.#write('set', key, value, ttlSeconds, (c, k, v, ttl, cb) => c.set(k, v, ttl, cb));
  }

  async add(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return this.#write('add', key, value, ttlSeconds, (c, k, v, ttl, cb) => c.add(k, v, ttl, cb));
  }

  async cas(key: string, value: string, cas: string, ttlSeconds: number): Promise<boolean> {
    if (!/^\d+$/.test(cas)) return false;
    return this.#write('cas', key, value, ttlSeconds, (c, k, v, ttl, cb) => c.cas(k, v, cas, ttl, cb));
  }

  async delete(key: string): Promise<boolean> {
    const k = memcachedKey(key);
    const deleted = await this.#run<unknown>('delete', this.#serverFor(k), (c, cb) => c.del(k, cb));
    return deleted === true;
  }

  /**
   * memcached's `incr`/`decr` (decr stops at 0) with a `touch` beside it, so a
   * counter in use never expires; an absent counter is created with `add`,
   * and when another client created it first, the step is sent again.
   */
  async incr(key: string, delta: number, ttlSeconds: number): Promise<number> {
    const k = memcachedKey(key);
    const ttl = this.#protocolTtl(ttlSeconds);
    const server = this.#serverFor(k);
    const step = () =>
      this.#run<unknown>(delta >= 0 ? 'incr' : 'decr', server, (c, cb) =>
        (delta >= 0 ? c.incr : c.decr).call(c, k, Math.abs(delta), cb as (err: unknown, result: unknown) => void),
      );
    for (let attempt = 0; attempt < 2; attempt++) {
      const [value] = await Promise.all([step(), this.#run<unknown>('touch', server, (c, cb) => c.touch(k, ttl, cb as (err: unknown) => void))]);
      if (typeof value === 'number') return value;
      if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
      const initial = Math.max(0, delta);
      if (await this.add(key, String(initial), ttlSeconds)) return initial;
    }
    throw new StoreError('ESERVER', 'incr', 'the counter was created and removed while incrementing it', this.#serverFor(k).address);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const server of this.#servers) server.client.end();
  }

  #serverFor(key: string): Server {
    if (this.#servers.length === 1) return this.#servers[0] as Server;
    return this.#byAddress.get(this.#ring.get(key)) as Server;
  }

  /** memcached reads expirations above 30 days as absolute Unix times. */
  #protocolTtl(ttlSeconds: number): number {
    const ttl = Math.floor(ttlSeconds);
    if (ttl > MEMCACHED_RELATIVE_TTL_LIMIT) return Math.floor(systemClock.now() / 1000) + ttl;
    return ttl;
  }

  async #write(
    operation: string,
    key: string,
    value: string,
    ttlSeconds: number,
    send: (c: Memcached, k: string, v: string, ttl: number, cb: (e: unknown, r: unknown) => void) => void,
  ): Promise<boolean> {
    if (/[\r\n]/.test(value)) {
      throw new StoreError('ESERVER', operation, 'values must not contain raw CR or LF (the protocol parser splits on them)');
    }
    if (Buffer.byteLength(value) > this.maxValueBytes) {
      throw new StoreError('ETOOLARGE', operation, `value exceeds ${this.maxValueBytes} bytes`);
    }
    const k = memcachedKey(key);
    const ttl = this.#protocolTtl(ttlSeconds);
    try {
      const stored = await this.#run<unknown>(operation, this.#serverFor(k), (c, cb) => send(c, k, value, ttl, cb));
      return stored === true;
    } catch (error) {
      if (isNotStored((error as StoreError).cause)) return false;
      throw error;
    }
  }

  async #run<T>(operation: string, server: Server, send: (c: Memcached, cb: (e: unknown, r: T) => void) => void): Promise<T> {
    if (server.active >= this.#maxInFlight) await new Promise<void>((resolve) => server.waiting.push(resolve));
    server.active++;
    try {
      return await this.#send(operation, server, send);
    } finally {
      server.active--;
      server.waiting.shift()?.();
    }
  }

  #send<T>(operation: string, server: Server, send: (c: Memcached, cb: (e: unknown, r: T) => void) => void): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError('ECLOSED', operation, 'store is closed', server.address));
    if (!server.breaker.allow()) {
      return Promise.reject(new StoreError('ECIRCUITOPEN', operation, 'circuit breaker open', server.address));
    }
    return withDeadline<T>(operation, server.address, this.#timeoutMs, (settle) => {
      send(server.client, (error, result) => settle(error, result));
    }).then(
      (result) => {
        server.breaker.success();
        return result;
      },
      (error: unknown) => {
        if (isNotStored(error)) {
          server.breaker.success();
          throw new StoreError('ESERVER', operation, 'not stored', server.address, { cause: firstError(error) });
        }
        const storeError = toStoreError(error, operation, server.address);
        server.breaker.failure();
        throw storeError;
      },
    );
  }
}
