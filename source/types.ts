/**
 * Public option types, and the augmentation of Sequelize's FindOptions and
 * CountOptions with the per-query `cache` option.
 */
import type { DataType, Model, ModelStatic } from 'sequelize';
import type { Clock } from './clock';
import type { CacheStore } from './store/contract';

/** Transaction isolation levels, spelt as Sequelize's `Transaction.ISOLATION_LEVELS`. */
export type IsolationLevel = 'READ UNCOMMITTED' | 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';

/** Every {@link IsolationLevel}. */
export const ISOLATION_LEVELS: readonly string[] = Object.freeze(['READ UNCOMMITTED', 'READ COMMITTED', 'REPEATABLE READ', 'SERIALIZABLE']);

/** Per-model options (`models: { Article: { ttl: 600 } }`). */
export interface ModelCacheOptions {
  /** Hard expiry of this model's entries, in seconds. @default the global `ttl` */
  ttl?: number;
  /** Soft expiry of this model's list and count entries, in seconds. @default the global `softTtl` */
  softTtl?: number;
  /**
   * Names of models whose writes also invalidate this model's list entries
   * (django-orm-cache's model dependencies), for queries that read
   * tables their include tree does not show, such as literal subqueries.
   * @default []
   */
  dependsOn?: string[];
  /**
   * Attributes never written to the cache (secrets such as password hashes:
   * memcached has no authentication). Rows are cached without them, and a
   * query that selects, filters, orders or aggregates by one of them goes to
   * the database, so it never gets a silent `undefined`. Primary keys cannot
   * be excluded.
   * @default []
   */
  exclude?: string[];
  /**
   * Attributes the database changes by itself when a row is updated
   * (triggers, generated columns, `ON UPDATE` defaults). An update invalidates
   * only the lists whose conditions, order or aggregate read an attribute it
   * sets; one of these counts as set by every update. Attributes whose SQL
   * default or type says `ON UPDATE` or `GENERATED` count without being named.
   * @default []
   */
  computed?: string[];
}

/** Options of `ormCache.install()`. */
export interface OrmCacheOptions {
  /**
   * Where entries live. Use a {@link MemcachedStore} whenever more than one
   * process serves the app: the in-process default cannot see other
   * processes' writes.
   * @default new MemoryStore()
   */
  store?: CacheStore;
  /**
   * Prefix of every key; two apps sharing a memcached need different ones.
   * 1–32 characters of `[A-Za-z0-9_.-]`.
   * @default 'oc'
   */
  namespace?: string;
  /**
   * Hard expiry of every entry, in seconds (1 to 30 days).
   * @default 3600
   */
  ttl?: number;
  /**
   * Age in seconds after which list and count entries are refreshed by one
   * worker while others get the stale copy. Must not exceed `ttl`.
   * @default 300
   */
  softTtl?: number;
  /**
   * Per-model options by model name; `false` never caches that model.
   * @default {}
   */
  models?: Record<string, ModelCacheOptions | false>;
  /**
   * Lifetime of the marker a write leaves in place of a row, in seconds. A
   * reader whose database read started before the write can only store its
   * (old) row while the marker exists, so fills older than half of this are
   * dropped rather than written.
   * @default 30
   */
  tombstoneTtl?: number;
  /**
   * Rows of one list query's result written into the row cache when the list
   * is built (afterFind warming); rows beyond it are filled on the first list
   * hit that needs them. 0 turns warming off.
   * @default 1000
   */
  warmLimit?: number;
  /**
   * List and tree entries (of at most 200 rows) whose pointers each process
   * remembers from their last hit, so that the next hit fetches the entry
   * and its rows in one round trip instead of two. The rows are used only
   * when the entry read is the one remembered (docs/how-it-works.md). Each
   * costs about the entry's size in memory. 0 turns it off.
   * @default 1000
   */
  rememberedLists?: number;
  /**
   * Stampede protection: fill locks, single-flight and soft expiry with one
   * refresher. `false` turns all of it off (every reader of a cold key
   * queries, and a soft-expired entry is a miss), for comparison.
   * @default true
   */
  stampedeProtection?: boolean;
  /**
   * Lifetime of the lock a reader takes to fill a cold key, in seconds: a
   * holder that dies delays the others by at most this.
   * @default 5
   */
  lockTtl?: number;
  /**
   * How long a reader waits for another reader's fill of a cold key before
   * querying the database itself, in milliseconds (at most `lockTtl`).
   * @default 1000
   */
  lockWaitMs?: number;
  /**
   * What the reader that wins a soft-expired entry's refresh lock gets:
   * `'background'` serves it the stale copy like everyone else and refreshes
   * in the background; `'wait'` makes it wait for the fresh result.
   * @default 'background'
   */
  refreshMode?: 'background' | 'wait';
  /**
   * `'opt-in'`: only reads that ask for the cache (`cache: true` or
   * `cache: {…}`) are served from it, for teams adopting it query by query;
   * every other read goes to the database and is counted as bypassed. Writes
   * invalidate as always, so the reads that opted in never go stale.
   * @default 'default' (every read of a cached model)
   */
  mode?: 'default' | 'opt-in';
  /**
   * The isolation level of transactions that set none (neither
   * `sequelize.transaction({ isolationLevel })` nor the Sequelize
   * constructor's `isolationLevel`): the database server's default
   * (`transaction_isolation`). Reads inside a transaction are answered from
   * the cache only at READ COMMITTED or READ UNCOMMITTED, and only while the
   * transaction has written nothing they depend on (docs/architecture.md,
   * Transactions); at REPEATABLE READ and SERIALIZABLE they go to the database.
   * Set `'READ COMMITTED'` only when the server's default really is that.
   * @default 'REPEATABLE READ' (the default of MariaDB and MySQL)
   */
  serverIsolationLevel?: IsolationLevel;
  /**
   * β of probabilistic early refresh (XFetch): entries are refreshed before
   * their soft expiry with a probability that rises as it nears, scaled by how
   * long their query took. 0 turns it off; 1 is the paper's choice.
   * @default 0
   */
  earlyRefreshBeta?: number;
  /**
   * Most background refreshes running at once in one process.
   * @default 4
   */
  refreshConcurrency?: number;
  /**
   * How often an invalidation that did not reach the store (a timeout, a
   * hung or unreachable memcached) is sent again, in milliseconds, as a
   * rotation of the model's epoch; until it lands, this process reads from
   * the database. Bounds how long other processes can read what the lost
   * invalidation should have removed (docs/reliability.md).
   * @default 100
   */
  replayMs?: number;
  /**
   * A secret (at least 16 characters) to sign every value with
   * (HMAC-SHA256 over key and value). memcached has no authentication: with
   * a secret, a value planted or altered by anyone who can reach it reads as
   * absent (counted in `forgedEntries`) instead of being served. It does not
   * stop such a party from deleting values or putting back an older genuine
   * value of the same key; see the README's threat model. Every process of
   * the app needs the same secret.
   * @default undefined (values are not signed)
   */
  sign?: string;
  /** Time source (tests pass a fake clock). @default the system clock */
  clock?: Clock;
}

/** Per-query options: `findAll({ where, cache: { ttl: 60 } })`. */
export interface QueryCacheOptions {
  /** Hard expiry of this query's entry, in seconds. */
  ttl?: number;
  /** Soft expiry of this query's entry, in seconds. */
  softTtl?: number;
  /** Run the query now and overwrite the entry (django-orm-cache's `reset()`). */
  refresh?: boolean;
  /**
   * Models whose writes also invalidate this query's entry (views, tables a
   * stored procedure reads), as classes or model names. Tables named in
   * `literal()` SQL are found without it.
   */
  dependsOn?: ReadonlyArray<ModelStatic<Model> | string>;
  /**
   * Name the entry yourself instead of hashing the query (django-orm-cache's
   * `cache(key=…)`); queries sharing a key share an entry.
   */
  key?: string;
}

declare module 'sequelize' {
  interface FindOptions<TAttributes = any> {
    /**
     * sequelize-orm-cache: `false` bypasses the cache for this query, `true`
     * (the default for cached models; with `mode: 'opt-in'` it must be
     * asked for) uses it, an object tunes it.
     */
    cache?: boolean | QueryCacheOptions;
  }
  interface CountOptions<TAttributes = any> {
    /** sequelize-orm-cache: as for `findAll`. */
    cache?: boolean | QueryCacheOptions;
  }
  // max, min, sum and aggregate are cached like count.
  interface AggregateOptions<T extends DataType | unknown, TAttributes = any> {
    /** sequelize-orm-cache: as for `findAll`. */
    cache?: boolean | QueryCacheOptions;
  }
}
