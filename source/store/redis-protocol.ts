/**
 * What RedisStore says to Redis beyond plain commands: the scripts that give
 * `cas` and `incr` memcached's meaning, the client settings that keep the
 * client's own queues from holding a query, and how its errors read.
 */
import { createHash } from 'node:crypto';
import { type ChainableCommander, Cluster, type Redis, type RedisOptions } from 'ioredis';
import { systemClock } from '../clock';
import { StoreError } from '../errors';
import { Listeners } from './redis-connection';

/** Store only while the value still has the digest `gets` returned. KEYS[1]; ARGV: value, digest, ttl seconds (0: none). */
export const CAS_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if not current or redis.sha1hex(current) ~= ARGV[2] then return 0 end
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3]) else redis.call('SET', KEYS[1], ARGV[1]) end
return 1`;

/** Step a decimal counter, never below 0, creating it when absent, and reset its TTL. KEYS[1]; ARGV: delta, ttl seconds (0: none). */
export const STEP_SCRIPT = `
local current = redis.call('GET', KEYS[1])
local value = 0
if current then
  value = tonumber(current)
  if not value or string.find(current, '^%d+$') == nil then return redis.error_reply('cannot increment or decrement non-numeric value') end
end
value = value + tonumber(ARGV[1])
if value < 0 then value = 0 end
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[1], value, 'EX', ARGV[2]) else redis.call('SET', KEYS[1], value) end
return value`;

export type Scripted = {
  ormCacheCas(key: string, value: string, digest: string, ttl: number): Promise<number>;
  ormCacheStep(key: string, delta: number, ttl: number): Promise<number>;
};
export type Client = (Redis | Cluster) & Scripted;
export type ScriptedPipeline = ChainableCommander & { ormCacheStep(key: string, delta: number, ttl: number): ChainableCommander };

/** Fewer replicas than `replicaAcks` took a write: the server answered, the write is not safe. */
export class ReplicaError extends Error {
  override readonly name = 'ReplyError';
}

/** What the store's own clients are created with: the client's queues must never hold a query. */
export function clientOptions(connectTimeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: connectTimeoutMs,
    // Reconnect soon after a server is back: a process still reconnecting
    // cannot deliver the invalidations that others' fills depend on.
    retryStrategy: (times) => Math.min(50 * times, 300),
    // A command whose connection died failed at its deadline; sent again
    // after a reconnect it would land after later writes.
    autoResendUnfulfilledCommands: false,
    // Commands go out together per tick (ioredis' auto-pipelining), in order.
    enableAutoPipelining: true,
    lazyConnect: false,
  };
}

/**
 * A Redis Cluster client from seed URLs (the first URL's user, password and
 * scheme apply to every node), with the same queues-never-hold-a-query
 * settings, redirections followed at once, and the slot map refreshed every
 * second (a failover is seen within it; see ClusterView).
 */
export function clusterClient(urls: readonly string[], connectTimeoutMs: number): Cluster {
  const seeds = urls.map((c) => {
    const url = new URL(c);
    return { host: url.hostname, port: Number(url.port || 6379) };
  });
  const first = new URL(urls[0] as string);
  const node = clientOptions(connectTimeoutMs);
  if (first.username) node.username = decodeURIComponent(first.username);
  if (first.password) node.password = decodeURIComponent(first.password);
  if (first.protocol === 'rediss:') node.tls = {};
  return new Cluster(seeds, {
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    maxRedirections: 4,
    retryDelayOnMoved: 0,
    retryDelayOnClusterDown: 50,
    clusterRetryStrategy: (times) => Math.min(100 * times, 300),
    slotsRefreshInterval: 1000,
    redisOptions: node,
  });
}

/** The addresses (`host:port`) of a connection argument, for errors and health. */
export function describe(connection: unknown): string {
  if (typeof connection === 'string') {
    try {
      const url = new URL(connection);
      return `${url.hostname}:${url.port || 6379}`;
    } catch {
      return connection;
    }
  }
  if (Array.isArray(connection)) return connection.map(describe).join(',');
  return 'redis';
}

/** The CAS token of a value: its SHA-1, as Redis' `redis.sha1hex` spells it. */
export function digest(value: string): string {
  return createHash('sha1').update(value, 'utf8').digest('hex');
}


/** An error the server answered with (ioredis' ReplyError), as opposed to no answer. */
export function isReply(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

export function asStoreError(error: unknown, operation: string, server: string): StoreError {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|connect ETIMEDOUT|enableOfflineQueue|max retries|Command timed out/i.test(message)
    ? 'ECONNECTION'
    : 'ESERVER';
  return new StoreError(code, operation, message, server, { cause: error });
}

/**
 * What a RedisStore follows of a Redis Cluster's topology: how many replicas
 * each slot's master has (ioredis keeps only masters in its slot map, so
 * they come from CLUSTER SLOTS at each slot refresh), and when a slot last
 * got a master that was not one before. A replica promoted after its master
 * died may lack writes the master took (and that their writers' replays will
 * redo): every process that sees it reads nothing for a grace period. A slot
 * moved to another master (resharding) needs none: MIGRATE moves each key
 * whole and synchronously, and the cluster redirects (`ASK`, `MOVED`) every
 * command of a key to the one node that has it.
 */
export class ClusterView {
  #replicas: Uint8Array | undefined;
  /** The master of each slot, and every master, at the last refresh. */
  #masters: string[] = [];
  #known = new Set<string>();
  /** When a slot last got another master (0: never). */
  changedAt = 0;

  readonly #listeners: Listeners;

  constructor(readonly cluster: Cluster) {
    this.#listeners = new Listeners(cluster);
    this.#listeners.on('refresh', () => {
      this.#check();
      this.#countReplicas();
    });
    this.#listeners.on('-node', () => this.#check());
  }

  /** Remove the view's listeners from the client. */
  close(): void {
    this.#listeners.close();
  }

  /** Replicas of the master of `slot`; undefined until the first count. */
  replicas(slot: number): number | undefined {
    return this.#replicas?.[slot];
  }

  #check(): void {
    const masters = this.cluster.slots.map((nodes) => nodes?.[0] ?? '');
    const known = new Set(masters.filter((node) => node !== ''));
    // A view that serves no slot (before the first load) is no view: kept,
    // the next one would look like every slot changing masters.
    if (known.size === 0) return;
    const before = this.#masters;
    // The first view has nothing to compare with; an unserved slot (no node) is no new master.
    if (before.length > 0 && masters.some((node, slot) => node !== '' && node !== before[slot] && !this.#known.has(node))) this.changedAt = systemClock.now();
    this.#masters = masters;
    this.#known = known;
  }

  #countReplicas(): void {
    this.cluster.cluster('SLOTS').then(
      (ranges) => {
        // Anything but a list of ranges (a node in a state of its own) changes nothing:
        // this runs in the app's process, and must never throw there.
        if (!Array.isArray(ranges)) return;
        const counts = new Uint8Array(16384);
        let valid = 0;
        for (const range of ranges as unknown[]) {
          if (!Array.isArray(range)) continue;
          const [from, to, , ...replicas] = range as [unknown, unknown, ...unknown[]];
          if (!Number.isInteger(from) || !Number.isInteger(to)) continue;
          counts.fill(Math.min(255, replicas.length), from as number, (to as number) + 1);
          valid++;
        }
        if (valid > 0) this.#replicas = counts;
      },
      () => undefined,
    );
  }
}

/** An ioredis `Redis` or `Cluster`, of this copy of the module or another. */
export function isClient(value: unknown): value is Redis | Cluster {
  const client = value as Partial<Redis> | null;
  return typeof client === 'object' && client !== null && typeof client.mget === 'function' && typeof client.defineCommand === 'function';
}

/** An ioredis `Cluster` (it keeps a slot map and a pool of nodes). */
export function isCluster(client: Redis | Cluster): boolean {
  const maybe = client as Partial<Cluster>;
  return client instanceof Cluster || (Array.isArray(maybe.slots) && typeof maybe.nodes === 'function');
}
