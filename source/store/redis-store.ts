/**
 * Redis and Valkey behind the CacheStore contract (docs/stores.md), on
 * ioredis, the Node client most used with Redis, with Cluster support:
 * standalone (`redis://`, `rediss://` with TLS, ACL user and password in
 * the URL), a Redis Cluster from seed nodes, or a client the app already has.
 *
 * What memcached gives and Redis lacks, given the same meaning:
 * - `gets`/`cas`: the CAS token is the SHA-1 of the value read, and `cas` is
 *   a script that stores only while the value still has that digest. A
 *   change back to identical bytes passes, which cannot mislead the cache:
 *   every tombstone carries a random token, so a value read before a write
 *   never has the digest of anything stored after it.
 * - `incr`: a script that steps a decimal counter, never below 0, creates it
 *   when absent and resets its TTL, as memcached's incr + touch do.
 * - `add`: `SET NX`; TTLs are always relative (`EX`), 0 meaning none.
 * Scripts are sent by digest (EVALSHA) and again whole after NOSCRIPT (a
 * restarted server), which ioredis' defineCommand does.
 *
 * Failure behaviour is memcached's: every command has its own deadline, a
 * circuit breaker skips the server after consecutive failures, and the
 * client's own queues never hold a query: no offline queue (a command
 * while disconnected fails at once), no retry of commands in flight when a
 * connection drops, reconnection in the background. A server that stops
 * answering (SIGSTOP) makes commands time out; when the breaker opens the
 * connection is replaced, so a stuck socket does not outlive the outage.
 */
import Redis, { type ChainableCommander, type Cluster } from 'ioredis';
import { OptionError, positive, rejectUnknown, StoreError } from '../errors';
import {
  asStoreError,
  CAS_SCRIPT,
  type Client,
  clientOptions,
  clusterClient,
  describe,
  digest,
  isClient,
  isCluster,
  isReply,
  ClusterView,
  ReplicaError,
  type ScriptedPipeline,
  STEP_SCRIPT,
} from './redis-protocol';
import { ConnectionWatch } from './redis-connection';
import { ReadBatches } from './read-batches';
import { isReadOnly, RoleWatch } from './redis-role';
import { CircuitBreaker } from './circuit-breaker';
import { type CacheStore, type CasValue, DEFAULT_MAX_VALUE_BYTES, type ServerHealth } from './contract';
import { withDeadline } from './deadline';
import { memcachedKey } from './memcached-client';
import { systemClock } from '../clock';
// The slot function ioredis itself uses (it depends on this package).
import clusterSlot from 'cluster-key-slot';

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /** Deadline of every command, in milliseconds (a timed-out read is a miss). @default 50 */
  timeoutMs?: number;
  /** How long to wait for a connection, in milliseconds. @default 1000 */
  connectTimeoutMs?: number;
  /** Consecutive failures that open the circuit breaker. @default 3 */
  breakerThreshold?: number;
  /** How long an open breaker skips the server before one probe, in ms. @default 1000 */
  breakerCooldownMs?: number;
  /**
   * After the server comes back from an outage, reads are misses for this
   * long (ms): a server restarted with its data (RDB/AOF) may hold entries
   * that writes during the outage could not invalidate, while this process
   * replays its lost invalidations. 0 turns it off.
   * @default breakerCooldownMs + 1000
   */
  returnGraceMs?: number;
  /** Largest value accepted, in UTF-8 bytes. @default 1 MiB − 16 KiB (as for memcached) */
  maxValueBytes?: number;
  /**
   * Replicas that must have a `set`, `delete` or counter step (the writes an
   * invalidation makes) before it counts as done (`WAIT`): Redis replicates
   * asynchronously, and a replica promoted after its master died without
   * them would serve the entries they replaced. A write that fewer replicas
   * took fails like any store failure (the invalidation is replayed).
   * @default 1 for a Redis Cluster, 0 for a standalone server
   */
  replicaAcks?: number;
}

const KNOWN = ['timeoutMs', 'connectTimeoutMs', 'breakerThreshold', 'breakerCooldownMs', 'returnGraceMs', 'maxValueBytes', 'replicaAcks'];

/** The operations an invalidation makes. */
const WRITES = new Set(['set', 'delete', 'incr']);

/** Keys per MGET: one reply stays small, and a slow one holds nothing else up. */
const MULTI_GET_BATCH = 100;

/**
 * A CacheStore on Redis or Valkey.
 *
 * @example
 * ```ts
 * ormCache.install(sequelize, { store: new RedisStore('redis://127.0.0.1:6379') });
 * ormCache.install(sequelize, { store: new RedisStore(['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000']) }); // Cluster seeds
 * ormCache.install(sequelize, { store: new RedisStore(existingIoredisClient) });
 * ```
 */
export class RedisStore implements CacheStore {
  readonly maxValueBytes: number;
  readonly #client: Client;
  readonly #owned: boolean;
  readonly #cluster: boolean;
  readonly #timeoutMs: number;
  readonly #returnGraceMs: number;
  readonly #breaker: CircuitBreaker;
  readonly #address: string;
  readonly #acks: number;
  readonly #connection: ConnectionWatch;
  /** A Cluster's masters and replicas, as they change (undefined standalone). */
  #view: ClusterView | undefined;
  /** Concurrent reads share MGETs: the keys asked in one tick, per slot (see read-batches.ts). */
  readonly #reads = new ReadBatches<number>(MULTI_GET_BATCH, (_slot, keys) => this.#mget(keys));
  /** A standalone server's role: nothing is read from a replica (its writes fail). */
  #role: RoleWatch | undefined;
  #closed = false;

  /**
   * @param connection a `redis://` or `rediss://` URL, an array of them (the
   *   seed nodes of a Redis Cluster), or an ioredis `Redis` or `Cluster` the
   *   app created (left open by `close()`; give it `enableOfflineQueue: false`
   *   and `maxRetriesPerRequest: 0` for the deadlines to hold)
   */
  constructor(connection: string | string[] | Redis | Cluster, options: RedisStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new OptionError('options', 'must be an object');
    rejectUnknown(options as Record<string, unknown>, KNOWN, 'options', 'RedisStore');
    this.#timeoutMs = positive('timeoutMs', options.timeoutMs, 50);
    const connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs, 1000);
    const cooldownMs = positive('breakerCooldownMs', options.breakerCooldownMs, 1000);
    this.#breaker = new CircuitBreaker({ failureThreshold: positive('breakerThreshold', options.breakerThreshold, 3), cooldownMs });
    this.#returnGraceMs = options.returnGraceMs === 0 ? 0 : positive('returnGraceMs', options.returnGraceMs, cooldownMs + 1000);
    this.maxValueBytes = positive('maxValueBytes', options.maxValueBytes, DEFAULT_MAX_VALUE_BYTES);
    this.#address = describe(connection);
    let client: Redis | Cluster;
    if (typeof connection === 'string') {
      client = new Redis(connection, clientOptions(connectTimeoutMs));
      this.#owned = true;
    } else if (Array.isArray(connection)) {
      if (connection.length === 0 || !connection.every((c) => typeof c === 'string')) {
        throw new OptionError('connection', 'must be a redis:// URL, a non-empty array of them, or an ioredis client');
      }
      client = clusterClient(connection, connectTimeoutMs);
      this.#owned = true;
    } else if (isClient(connection)) {
      // Duck-typed: the app's ioredis may be another copy of the module than ours.
      client = connection;
      this.#owned = false;
    } else {
      throw new OptionError('connection', 'must be a redis:// URL, a non-empty array of them, or an ioredis client');
    }
    this.#cluster = isCluster(client);
    const acks = options.replicaAcks ?? (this.#cluster ? 1 : 0);
    if (!Number.isInteger(acks) || acks < 0) throw new OptionError('replicaAcks', `must be a whole number of replicas, got ${String(acks)}`);
    this.#acks = acks;
    if (this.#cluster) this.#view = new ClusterView(client as Cluster);
    else this.#role = new RoleWatch(client as Redis);
    this.#connection = new ConnectionWatch(client, this.#timeoutMs);
    client.defineCommand('ormCacheCas', { numberOfKeys: 1, lua: CAS_SCRIPT });
    client.defineCommand('ormCacheStep', { numberOfKeys: 1, lua: STEP_SCRIPT });
    this.#client = client as Client;
  }

  /**
   * Not ordered (see CacheStore.ordered), even standalone on one connection: a
   * script that the server lost (NOSCRIPT after a restart) is sent again
   * after the commands that followed it, and a cluster spreads commands
   * over nodes.
   */
  readonly ordered = false;

  /** The breaker of the server (or of the cluster as a whole). */
  health(): ServerHealth[] {
    const health: ServerHealth = { server: this.#address, breaker: this.#breaker.state, breakerOpened: this.#breaker.opened };
    if (this.#role) health.replica = this.#role.replicaSince !== 0;
    return [health];
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.getMulti([key])).get(key);
  }

  async getMulti(keys: readonly string[]): Promise<Map<string, string>> {
    if (keys.length === 0) return new Map();
    let parts: Promise<Map<string, string>>[];
    if (this.#cluster) {
      // Multi-key commands must stay within one hash slot: a batch per slot.
      const bySlot = new Map<number, string[]>();
      for (const key of new Set(keys)) {
        const slot = clusterSlot(memcachedKey(key));
        const batch = bySlot.get(slot);
        if (batch) batch.push(key);
        else bySlot.set(slot, [key]);
      }
      parts = [...bySlot].map(([slot, batch]) => this.#reads.fetch(slot, batch));
    } else {
      parts = [this.#reads.fetch(0, keys)];
    }
    const found = parts.length === 1 ? await (parts[0] as Promise<Map<string, string>>) : new Map((await Promise.all(parts)).flatMap((part) => [...part]));
    if (this.#returning()) return new Map();
    // A batch answers for every read in it: keep this read's keys only.
    const mine = new Map<string, string>();
    for (const key of keys) {
      const value = found.get(key);
      if (value !== undefined) mine.set(key, value);
    }
    return mine;
  }

  /** One MGET of keys of one slot (standalone: of the server). */
  async #mget(keys: readonly string[]): Promise<Map<string, string>> {
    const values = await this.#run('getMulti', () => this.#client.mget(keys.map(memcachedKey)));
    const found = new Map<string, string>();
    keys.forEach((key, i) => {
      const value = values[i];
      if (typeof value === 'string') found.set(key, value);
    });
    return found;
  }

  async gets(key: string): Promise<CasValue | undefined | null> {
    const value = await this.#run('gets', () => this.#client.get(memcachedKey(key)));
    // In the grace period a value may be there or not: never say absent.
    if (this.#returning()) return null;
    if (value === null) return undefined;
    return { value, cas: digest(value) };
  }

  /**
   * A `set` that Redis refuses for want of memory (`OOM command not allowed`
   * under `maxmemory-policy noeviction`) deletes the key instead, which Redis
   * always allows: the cache's `set`s replace what must no longer be read (a
   * row by its tombstone, a token by a new one), so the old value must not
   * stay. The error is still thrown: the write was not stored.
   */
  async set(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    this.#check('set', value);
    const k = memcachedKey(key);
    const ttl = Math.floor(ttlSeconds);
    try {
      const reply = await this.#replicated(
        'set',
        k,
        () => (ttl > 0 ? this.#client.set(k, value, 'EX', ttl) : this.#client.set(k, value)),
        (p) => (ttl > 0 ? p.set(k, value, 'EX', ttl) : p.set(k, value)),
      );
      return reply === 'OK';
    } catch (error) {
      if (error instanceof StoreError && /\bOOM\b/.test(error.message)) await this.#run('delete', () => this.#client.del(k)).catch(() => undefined);
      throw error;
    }
  }

  async add(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    this.#check('add', value);
    const k = memcachedKey(key);
    const ttl = Math.floor(ttlSeconds);
    const reply = await this.#run('add', () => (ttl > 0 ? this.#client.set(k, value, 'EX', ttl, 'NX') : this.#client.set(k, value, 'NX')));
    return reply === 'OK';
  }

  async cas(key: string, value: string, cas: string, ttlSeconds: number): Promise<boolean> {
    this.#check('cas', value);
    if (!/^[0-9a-f]{40}$/.test(cas)) return false;
    return (await this.#run('cas', () => this.#client.ormCacheCas(memcachedKey(key), value, cas, Math.max(0, Math.floor(ttlSeconds))))) === 1;
  }

  async delete(key: string): Promise<boolean> {
    const k = memcachedKey(key);
    return (await this.#replicated('delete', k, () => this.#client.del(k), (p) => p.del(k))) === 1;
  }

  async incr(key: string, delta: number, ttlSeconds: number): Promise<number> {
    const k = memcachedKey(key);
    const [step, ttl] = [Math.trunc(delta), Math.max(0, Math.floor(ttlSeconds))];
    return Number(await this.#replicated('incr', k, () => this.#client.ormCacheStep(k, step, ttl), (p) => (p as ScriptedPipeline).ormCacheStep(k, step, ttl)));
  }

  /**
   * One write, followed on the same connection by `WAIT` for `replicaAcks`
   * replicas (none: the write alone). WAIT gets half the deadline, so a
   * replica that does not answer is told apart from a master that does not.
   */
  #replicated(operation: string, key: string, alone: () => Promise<unknown>, write: (pipeline: ChainableCommander) => ChainableCommander): Promise<unknown> {
    // A master without replicas loses nothing to a failover: nothing could be promoted.
    const replicas = this.#view?.replicas(clusterSlot(key));
    const acks = replicas === undefined ? this.#acks : Math.min(this.#acks, replicas);
    if (acks === 0) return this.#run(operation, alone);
    return this.#run(operation, async () => {
      const waitMs = Math.max(1, Math.floor(this.#timeoutMs / 2));
      const replies = ((await write(this.#client.pipeline()).call('WAIT', String(acks), String(waitMs)).exec()) ?? []) as [Error | null, unknown][];
      const [written, waited] = replies;
      if (!written || !waited) throw new Error('no reply');
      if (written[0]) throw written[0];
      if (waited[0]) throw waited[0];
      if (Number(waited[1]) < acks) throw new ReplicaError(`${Number(waited[1])} of ${acks} replicas took the write within ${waitMs} ms`);
      return written[1];
    });
  }

  /** Close the connections this store opened (a client handed in stays open). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#role?.close();
    if (this.#owned) {
      // Its listeners stay: a client disconnecting may still emit errors.
      this.#client.disconnect();
      return;
    }
    // A client the app handed in keeps none of this store's listeners.
    this.#view?.close();
    this.#connection.close();
  }

  #check(operation: string, value: string): void {
    if (Buffer.byteLength(value) > this.maxValueBytes) {
      throw new StoreError('ETOOLARGE', operation, `value exceeds ${this.maxValueBytes} bytes`, this.#address);
    }
  }

  /** Whether the server is a replica, or came back from an outage too recently to be read from. */
  #returning(): boolean {
    if (this.#role?.replicaSince) return true;
    const at = Math.max(this.#breaker.recoveredAt, this.#connection.reconnectedAt, this.#view?.changedAt ?? 0, this.#role?.promotedAt ?? 0);
    return at > 0 && systemClock.now() - at < this.#returnGraceMs;
  }

  /** One command under the deadline and the breaker; failures become StoreErrors. */
  async #run<T>(operation: string, command: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreError('ECLOSED', operation, 'store is closed', this.#address);
    // Invalidation writes are tried even while the breaker is open (bounded
    // by the connection wait): one that a server already back would have
    // taken must not be skipped, or another process's fill made before it
    // could outlive the write it should have died with.
    if (!WRITES.has(operation) && !this.#breaker.allow()) throw new StoreError('ECIRCUITOPEN', operation, 'circuit breaker open', this.#address);
    if (!(await this.#connection.ready())) {
      this.#breaker.failure();
      throw new StoreError('ECONNECTION', operation, `not connected (${this.#connection.describe()})`, this.#address);
    }
    return withDeadline<T>(operation, this.#address, this.#timeoutMs, (settle) => {
      command().then(
        (value) => settle(undefined, value),
        (error: unknown) => settle(error),
      );
    }).then(
      (value) => {
        this.#breaker.success();
        return value;
      },
      (error: unknown) => {
        const failed = asStoreError(error, operation, this.#address);
        // An error reply (OOM, READONLY, a script error) is an answer: the
        // server is up, and the breaker is for servers that are not.
        if (isReply(error)) {
          this.#breaker.success();
          // A demoted master: read nothing from it, and connect again (a
          // name that moved to the new master, as managed services do, gets it).
          if (isReadOnly(error) && this.#role && this.#role.replicaSince === 0) {
            this.#role.saw('replica');
            if (this.#owned) this.#client.disconnect(true);
          }
          throw failed;
        }
        const opened = this.#breaker.opened;
        this.#breaker.failure();
        // A node that went away (a failover): ask the cluster who serves its
        // slots now, instead of failing on the dead connection until the
        // periodic refresh.
        if (this.#cluster && failed.code === 'ECONNECTION') (this.#client as Cluster).refreshSlotsCache();
        // A server that stopped answering keeps its socket open: replace the
        // connection once the breaker opens, so the probe after the cooldown
        // goes out on a new one.
        if (failed.code === 'ETIMEOUT' && this.#breaker.opened > opened && this.#owned) this.#client.disconnect(true);
        throw failed;
      },
    );
  }
}

