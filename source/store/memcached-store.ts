import HashRing from 'hashring';
import { OptionError, positive, rejectUnknown, StoreError } from '../errors';
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
import { memcachedKey, PackageClient, toStoreError } from './memcached-client';
import type { Done, MemcachedDriver, Sent } from './memcached-driver';
import { TextClient } from './text-client';

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
   * Connections per server of the `memcached` package (`client:
   * 'memcached'`). The built-in client pipelines everything on one
   * connection per server, which keeps this process's commands to a server
   * in order (text-client.ts). With either, at most 8 × `poolSize`
   * operations per server are in flight; more wait their turn before their
   * deadline starts.
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
  /**
   * The client that speaks to memcached: `'builtin'`, the store's own
   * text-protocol client (pipelined, one socket write per tick per server,
   * replies read by declared length), or `'memcached'`, the `memcached`
   * package 2.2.2 that earlier versions used. Both pass the same tests; the
   * built-in one costs a fraction of the CPU per list hit (the drivers
   * table in docs/benchmarks.md).
   * @default 'builtin'
   */
  client?: 'builtin' | 'memcached';
}

/** Every key of {@link MemcachedStoreOptions}. */
const MEMCACHED_OPTIONS: readonly (keyof MemcachedStoreOptions)[] = [
  'timeoutMs', 'connectTimeoutMs', 'breakerThreshold', 'breakerCooldownMs', 'poolSize', 'returnGraceMs', 'maxValueBytes', 'client',
];

/**
 * Keys per multi-get command: memcached 2.2.2 rescans its whole response
 * buffer on every data event, so one huge multi-get costs quadratic time;
 * the built-in client keeps the same bound so one command's reply stays small.
 */
const MULTI_GET_BATCH = 100;

/** The operations an invalidation or a write mark makes. */
const INVALIDATING = new Set(['set', 'delete', 'incr', 'decr', 'touch']);

interface Server {
  address: string;
  client: MemcachedDriver;
  breaker: CircuitBreaker;
  /** Operations sent and not answered yet. */
  active: number;
  /** Operations waiting for one of those to finish. */
  waiting: (() => void)[];
  /** Waiters whose slot was handed over and that have not been sent yet. */
  resuming: number;
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
 * built-in text-protocol client (text-client.ts) or the `memcached` package
 * (memcached-client.ts), hardened the same way with either:
 *
 * - every operation has a deadline (`timeoutMs`): a server that hangs gets
 *   no say in how long a query waits (memcached 2.2.2 never calls back at all
 *   when a server hangs or drops a connection mid-request);
 * - a circuit breaker per server fails fast after consecutive failures, the
 *   same in every process (no client drops a server from its ring);
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
  readonly #reads = new ReadBatches<Server>(MULTI_GET_BATCH, (server, keys) =>
    this.#run<Map<string, string>>('getMulti', server, (c, done) => c.get(keys, done)),
  );
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
    const driver = options.client ?? 'builtin';
    if (driver !== 'builtin' && driver !== 'memcached') {
      throw new OptionError('client', `must be 'builtin' or 'memcached', got ${JSON.stringify(driver)}`);
    }
    const settings = { connectTimeoutMs, poolSize };

    this.#ring = new HashRing(list, 'md5', { compatibility: 'ketama', 'default port': 11211 });
    this.#servers = list.map((address) => {
      const breaker = new CircuitBreaker({ failureThreshold, cooldownMs });
      const client = driver === 'memcached' ? new PackageClient(address, settings) : new TextClient(address, settings);
      const server: Server = { address, client, breaker, active: 0, waiting: [], resuming: 0 };
      this.#byAddress.set(address, server);
      return server;
    });
  }

  /**
   * One server on the built-in client: its commands go out on one
   * connection in the order called and memcached applies them in that
   * order (the in-flight limit queues strictly first in, first out).
   */
  get ordered(): boolean {
    return this.#servers.length === 1 && this.#servers[0]?.client instanceof TextClient;
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
    const value = (await this.#reads.fetch(server, [k])).get(k);
    return this.#returning(server) ? undefined : value;
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
          const value = data.get(k);
          if (value !== undefined) found.set(original, value);
        }
      }),
    );
    return found;
  }

  async gets(key: string): Promise<CasValue | undefined | null> {
    const k = memcachedKey(key);
    const server = this.#serverFor(k);
    const found = await this.#run<CasValue | undefined>('gets', server, (c, done) => c.gets(k, done));
    // In the grace period a value may be there or not: never say absent.
    return this.#returning(server) ? null : found;
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return this.#store('set', key, value, ttlSeconds, undefined);
  }

  async add(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return this.#store('add', key, value, ttlSeconds, undefined);
  }

  async cas(key: string, value: string, cas: string, ttlSeconds: number): Promise<boolean> {
    if (!/^\d+$/.test(cas)) return false;
    return this.#store('cas', key, value, ttlSeconds, cas);
  }

  async delete(key: string): Promise<boolean> {
    const k = memcachedKey(key);
    return this.#run<boolean>('delete', this.#serverFor(k), (c, done) => c.delete(k, done));
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
    for (let attempt = 0; attempt < 2; attempt++) {
      const [value] = await Promise.all([
        this.#run<number | undefined>(delta >= 0 ? 'incr' : 'decr', server, (c, done) => c.counter(k, delta, done)),
        this.#run<boolean>('touch', server, (c, done) => c.touch(k, ttl, done)),
      ]);
      if (value !== undefined) return value;
      const initial = Math.max(0, delta);
      if (await this.add(key, String(initial), ttlSeconds)) return initial;
    }
    throw new StoreError('ESERVER', 'incr', 'the counter was created and removed while incrementing it', server.address);
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

  async #store(command: 'set' | 'add' | 'cas', key: string, value: string, ttlSeconds: number, cas: string | undefined): Promise<boolean> {
    // The built-in client frames values by length, but the `memcached`
    // package splits replies on CR LF; the codec never writes either.
    if (/[\r\n]/.test(value)) {
      throw new StoreError('ESERVER', command, 'values must not contain raw CR or LF (the protocol parser splits on them)');
    }
    if (Buffer.byteLength(value) > this.maxValueBytes) {
      throw new StoreError('ETOOLARGE', command, `value exceeds ${this.maxValueBytes} bytes`);
    }
    const k = memcachedKey(key);
    const ttl = this.#protocolTtl(ttlSeconds);
    return this.#run<boolean>(command, this.#serverFor(k), (c, done) => c.store(command, k, value, ttl, cas, done));
  }

  async #run<T>(operation: string, server: Server, send: (c: MemcachedDriver, done: Done<T>) => Sent | void): Promise<T> {
    // Strictly first in, first out: a command never overtakes one that waits
    // or one whose wait has ended but that has not been sent yet (the
    // built-in client's order is the order commands were called). A
    // finishing command hands its slot to the first waiter.
    if (server.active >= this.#maxInFlight || server.waiting.length > 0 || server.resuming > 0) {
      await new Promise<void>((resolve) => server.waiting.push(resolve));
      server.resuming--;
    } else {
      server.active++;
    }
    try {
      return await this.#send(operation, server, send);
    } finally {
      const next = server.waiting.shift();
      if (next) {
        server.resuming++;
        next();
      } else {
        server.active--;
      }
    }
  }

  #send<T>(operation: string, server: Server, send: (c: MemcachedDriver, done: Done<T>) => Sent | void): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError('ECLOSED', operation, 'store is closed', server.address));
    // Invalidation writes are tried even while the breaker is open (bounded
    // by the deadline): one that a server already back would have taken must
    // not be skipped, or another process's entry filled before it would
    // outlive the write it should have died with.
    if (!INVALIDATING.has(operation) && !server.breaker.allow()) {
      return Promise.reject(new StoreError('ECIRCUITOPEN', operation, 'circuit breaker open', server.address));
    }
    let sent: Sent | void;
    return withDeadline<T>(operation, server.address, this.#timeoutMs, (settle) => (sent = send(server.client, settle)), () => sent?.sentAt).then(
      (result) => {
        server.breaker.success();
        return result;
      },
      (error: unknown) => {
        const storeError = toStoreError(error, operation, server.address);
        server.breaker.failure();
        throw storeError;
      },
    );
  }
}
