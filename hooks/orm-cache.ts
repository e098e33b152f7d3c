import { EventEmitter } from 'node:events';
// Real timers, whatever fake timers an app's tests install (source/clock.ts).
import { clearTimeout, setTimeout } from 'node:timers';
import type { FindOptions, Model, ModelStatic, Sequelize } from 'sequelize';
import { type InvalidationWarning, OptionError, type StoreError } from '../source/errors';
import type { Registry } from 'prom-client';
import {
  type DashboardOptions,
  dashboardHandler,
  type MetricsMiddlewareOptions,
  type Middleware,
  metricsHandler,
  serverTimingHandler,
} from '../source/express';
import { GuardedStore } from '../source/guarded-store';
import { KeySpace, primaryKeyText } from '../source/keys';
import { digest } from '../source/query-key';
import { MARK_BEGIN, readMark } from '../source/write-marks';
import { type InvalidationCause, Metrics } from '../source/metrics';
import { type ModelLike, type ModelSchema, modelSchema } from '../source/model-schema';
import type { ResolvedOptions } from '../source/options';
import { ListCache } from '../source/list-cache';
import { registerMetrics } from '../source/prometheus';
import { RowCache } from '../source/row-cache';
import { FillLock } from '../stampede/fill-lock';
import { SingleFlight } from '../stampede/single-flight';
import { SoftExpiryGuard } from '../stampede/soft-expiry';
import type { CacheStore } from '../source/store/contract';
import type { QueryCacheOptions } from '../source/types';
import { FORGET, Forgotten } from './read-path';
import { aroundCommit, currentTransaction } from './transactions';

/**
 * A digest of the instance settings that decide which JavaScript value a
 * column's content becomes (the connection time zone, the driver's date,
 * number and type-cast options): two instances that differ in them read
 * the same DATETIME as different instants, so neither may serve the
 * other's entries, though both must see the other's invalidations.
 */
function valueProfile(sequelize: Sequelize): string {
  const options = (sequelize as unknown as { options?: { timezone?: unknown; dialectOptions?: Record<string, unknown> } }).options ?? {};
  const driver = options.dialectOptions ?? {};
  const parsing = ['dateStrings', 'typeCast', 'supportBigNumbers', 'bigNumberStrings', 'decimalNumbers', 'timezone'].map((name) => {
    const value = driver[name];
    return typeof value === 'function' ? String(value) : (value ?? null);
  });
  return digest(JSON.stringify([options.timezone ?? null, parsing])).slice(0, 8);
}

/**
 * Seconds a write mark outlives its last step: a writer that dies with its
 * mark up blocks fills of that model for at most this long (reads stay
 * correct, from the database). A single write (or commit) that takes longer
 * is no longer marked after it: its last invalidation still runs.
 */
export const MARK_TTL = 60;

/** Events of an {@link OrmCache}. */
export interface OrmCacheEvents {
  /** A store operation failed; the query went on to the database. */
  error: [StoreError];
  /** A cached entry pointed at rows that no longer exist. */
  invalidationWarning: [InvalidationWarning];
}

/** Any Sequelize model class. */
export type AnyModel = ModelStatic<Model>;

/**
 * The cache installed on one Sequelize instance, returned by
 * `ormCache.install()`.
 *
 * @example
 * ```ts
 * const cache = ormCache.install(sequelize, { store: new MemcachedStore('127.0.0.1:11211') });
 * cache.on('error', (e) => log.warn(e));       // store failures; queries still succeed
 * await cache.invalidate(Article, 5);           // one row
 * console.log(cache.metrics.snapshot().rowHits);
 * ```
 */
export class OrmCache extends EventEmitter<OrmCacheEvents> {
  /** Counters; `metrics.snapshot()` returns a plain copy. */
  readonly metrics: Metrics;
  /** The store entries live in. */
  readonly store: CacheStore;
  /** @internal */
  readonly rows: RowCache;
  /** @internal */
  readonly lists: ListCache;
  /** @internal */
  readonly locks: FillLock;
  /** @internal */
  readonly stampede: SoftExpiryGuard;
  /** @internal */
  readonly flights = new SingleFlight();
  /** @internal */
  readonly keys: KeySpace;
  /** Whether any model keeps attributes out of the cache (reads check their queries only then). @internal */
  readonly excluding: boolean;
  readonly #uninstall: () => void;
  readonly #background = new Set<Promise<unknown>>();
  /** Models already reported as not cacheable. */
  readonly #uncacheable = new Set<string>();
  /** Models whose invalidation did not reach the store, by name: their epochs are rotated until it does. */
  readonly #unsent = new Map<string, ModelSchema>();
  #replayTimer: NodeJS.Timeout | undefined;
  #registry: Registry | undefined;
  #installed = true;
  /** Whether `models` names still wait for the app's models to be checked against. */
  #namesUnchecked = true;

  /** @internal use `ormCache.install()` */
  constructor(
    readonly sequelize: Sequelize,
    /** @internal */
    readonly options: ResolvedOptions,
    uninstall: (cache: OrmCache) => void,
  ) {
    super();
    this.store = options.store;
    const store = options.store;
    this.metrics = new Metrics(() => (typeof store.health === 'function' ? store.health() : []));
    this.keys = new KeySpace(options.namespace);
    this.excluding = Object.values(options.models).some((m) => m && m.exclude && m.exclude.length > 0);
    const guarded = new GuardedStore(options.store, this.metrics, (error) => {
      // EventEmitter throws on an 'error' with no listener; a store failure
      // must never become a query failure, so only emit to real listeners.
      if (this.listenerCount('error') > 0) this.emit('error', error);
    }, options.sign, { key: this.keys.namespaceToken(), suffix: `|${valueProfile(sequelize)}` });
    this.rows = new RowCache(guarded, this.keys, this.metrics, options.clock, options.tombstoneTtl);
    this.lists = new ListCache(guarded, this.keys);
    this.locks = new FillLock(guarded, { lockTtl: options.lockTtl, lockWaitMs: options.lockWaitMs });
    this.stampede = new SoftExpiryGuard(this.locks, options.clock, {
      refreshMode: options.refreshMode,
      earlyRefreshBeta: options.earlyRefreshBeta,
      refreshConcurrency: options.refreshConcurrency,
    });
    this.#uninstall = () => uninstall(this);
  }

  /** Whether the hooks and wrappers are in place. */
  get installed(): boolean {
    return this.#installed;
  }

  /**
   * The schema of a model whose rows are cached, or `undefined` for models
   * that are not (`models: { X: false }`, no primary key).
   * @internal
   */
  schemaOf(model: unknown): ModelSchema | undefined {
    if (!this.#installed || typeof model !== 'function') return undefined;
    if (this.#namesUnchecked) this.checkModelNames(false);
    const m = model as unknown as ModelLike;
    if (this.options.models[m.name] === false) return undefined;
    if (!m.rawAttributes || !Array.isArray(m.primaryKeyAttributes) || m.primaryKeyAttributes.length === 0) {
      // Rows without a key cannot have a row entry, nor be tombstoned.
      if (m.rawAttributes) this.#uncacheableOnce(m.name, 'has no primary key');
      return undefined;
    }
    const options = this.options.models[m.name];
    const exclude = (options && options.exclude) || [];
    const excludedKey = exclude.find((name) => m.primaryKeyAttributes.includes(name));
    if (excludedKey) {
      this.#uncacheableOnce(m.name, `has its primary key ${excludedKey} in \`models.${m.name}.exclude\``);
      return undefined;
    }
    const schema = modelSchema(m, exclude);
    return schema.primaryKeys.length === m.primaryKeyAttributes.length ? schema : undefined;
  }

  /**
   * Model names in `models` (and their `dependsOn`) that name no model of
   * the instance are a typo the cache would otherwise ignore: an OptionError
   * at install() when the models are defined by then (`strict`), else one
   * process warning (ORM_CACHE_UNKNOWN_MODEL) at the first cached read, once
   * the app has defined its models.
   * @internal
   */
  checkModelNames(strict: boolean): void {
    const defined = this.sequelize.models as Record<string, unknown>;
    if (Object.keys(defined).length === 0) return;
    this.#namesUnchecked = false;
    for (const [name, options] of Object.entries(this.options.models)) {
      const unknown = [name, ...((options && options.dependsOn) || [])].find((n) => !Object.prototype.hasOwnProperty.call(defined, n));
      if (unknown === undefined) continue;
      const option = unknown === name ? `models.${name}` : `models.${name}.dependsOn`;
      const problem = `names no model of this Sequelize instance: ${JSON.stringify(unknown)} (defined: ${Object.keys(defined).join(', ')})`;
      if (strict) throw new OptionError(option, problem);
      process.emitWarning(`sequelize-orm-cache: option \`${option}\` ${problem}`, { code: 'ORM_CACHE_UNKNOWN_MODEL' });
    }
  }

  /** Say once per model that it is not cached, and why (a process warning). */
  #uncacheableOnce(model: string, why: string): void {
    if (this.#uncacheable.has(model)) return;
    this.#uncacheable.add(model);
    process.emitWarning(`sequelize-orm-cache: model ${model} ${why}; its queries are not cached`, { code: 'ORM_CACHE_NOT_CACHED' });
  }

  /** Hard TTL of a model's row entries, in seconds. @internal */
  ttlFor(schema: ModelSchema): number {
    const model = this.options.models[schema.name];
    return (model && model.ttl) || this.options.ttl;
  }

  /**
   * Invalidate one row (`pk` given: a single value, or an object of values for
   * a composite key) and every list that could hold it, or (no `pk`) every
   * row and list of the model.
   */
  async invalidate(model: AnyModel, pk?: unknown): Promise<void> {
    const schema = this.schemaOf(model);
    if (!schema) return;
    if (pk === undefined) return this.modelChanged(schema, 'manual');
    const values =
      schema.primaryKeys.length === 1
        ? [pk]
        : schema.primaryKeys.map((a) => (pk as Record<string, unknown> | null)?.[a.name]);
    const text = primaryKeyText(schema, values);
    // A key the row path cannot name is never cached under any key, but the
    // caller asked for an invalidation: drop the whole model to be sure.
    if (text === undefined) return this.modelChanged(schema, 'manual');
    return this.rowsChanged(schema, [text], undefined, 'manual');
  }

  /**
   * Rows changed: tombstone their entries (`keys`) and invalidate the lists
   * their old and new `versions` belong to, or every list of the model when
   * the versions are not known. A `cause` of null is not counted (a write's
   * first invalidation, before its statement).
   * @internal
   */
  async rowsChanged(
    schema: ModelSchema,
    keys: readonly string[],
    versions: readonly Record<string, unknown>[] | undefined,
    cause: InvalidationCause | null,
    /** The write's generation in the model's write mark, recorded in the tombstones. */
    generation?: number,
  ): Promise<void> {
    if (cause) this.metrics.invalidated(schema.name, cause);
    await this.#delivered(schema, () =>
      Promise.all([
        keys.length > 0 ? this.rows.tombstone(schema, keys, generation) : undefined,
        versions ? this.lists.rowsChanged(schema, versions) : this.lists.allListsChanged(schema),
      ]),
    );
  }

  /** Report rows a list pointed to that no longer exist. @internal */
  warnMissing(warning: InvalidationWarning): void {
    this.metrics.warned(warning.model, warning.missing, warning.message);
    if (this.listenerCount('invalidationWarning') > 0) this.emit('invalidationWarning', warning);
  }

  /** Rows changed that cannot be named: every row and list of the model (`cause` null: not counted). @internal */
  async modelChanged(schema: ModelSchema, cause: InvalidationCause | null): Promise<void> {
    if (cause) this.metrics.invalidated(schema.name, cause);
    await this.#delivered(schema, () => this.rows.rotateEpoch(schema));
  }

  /**
   * Whether reads skip the cache because an invalidation of this process has
   * not reached the store yet (it is replayed until it does). @internal
   */
  get suspended(): boolean {
    return this.#unsent.size > 0;
  }

  /**
   * Run an invalidation; if any store operation failed meanwhile (a timeout,
   * a dropped connection, a hung or unreachable server), the model's epoch
   * is rotated, which invalidates every row and list of the model: at once,
   * twice more with short pauses, and then every `replayMs` until the store
   * takes it. A store that merely dropped a connection takes the first retry,
   * so the write returns with its invalidation delivered. While one is still
   * pending this process reads from the database, so it always reads its own
   * writes; other processes can read what it should have removed until the
   * replay lands (docs/reliability.md). Any failure in the window counts, not
   * just this invalidation's own: replaying too much costs misses, replaying
   * too little would cost stale reads.
   */
  async #delivered(schema: ModelSchema, run: () => Promise<unknown>): Promise<void> {
    const failuresBefore = this.metrics.storeErrors;
    await run();
    if (this.metrics.storeErrors === failuresBefore) return;
    for (const pause of [0, 10, 40]) {
      if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
      if (await this.rows.rotateEpoch(schema)) return;
    }
    this.metrics.lostInvalidations++;
    this.#unsent.set(schema.name, schema);
    this.#scheduleReplay();
  }

  #scheduleReplay(): void {
    if (this.#replayTimer || this.#unsent.size === 0 || !this.#installed) return;
    this.#replayTimer = setTimeout(() => {
      this.#replayTimer = undefined;
      void this.#replay();
    }, this.options.replayMs);
    // A pending replay must not keep a finished program alive.
    this.#replayTimer.unref();
  }

  async #replay(): Promise<void> {
    await Promise.all(
      [...this.#unsent].map(async ([name, schema]) => {
        if (await this.rows.rotateEpoch(schema)) {
          this.#unsent.delete(name);
          this.metrics.invalidationsReplayed++;
        }
      }),
    );
    this.#scheduleReplay();
  }

  /**
   * Drop the entry `Model.findAll(options)` would use, without running any
   * SQL (django-orm-cache's `clean()`). A primary-key lookup's entry is the row's,
   * which gets a tombstone.
   */
  async forget(model: AnyModel, options: FindOptions = {}): Promise<void> {
    const cacheOption = typeof options.cache === 'object' && options.cache !== null ? options.cache : {};
    try {
      await model.findAll({ ...options, cache: { ...cacheOption, [FORGET]: true } as QueryCacheOptions });
    } catch (error) {
      if (error instanceof Forgotten) return;
      throw error;
    }
  }

  /**
   * Resolves when every background refresh and row warming started so far
   * has finished (for tests and graceful shutdown).
   */
  async settled(): Promise<void> {
    do {
      await Promise.allSettled([...this.#background]);
      await this.stampede.settled();
    } while (this.#background.size > 0);
  }

  /**
   * Run store work the caller's answer need not wait for (warming rows a list
   * read returned); failures are already swallowed by the guarded store.
   * @internal
   */
  later(work: Promise<unknown>): void {
    this.#background.add(work);
    void work.finally(() => this.#background.delete(work));
  }

  /**
   * Register the cache's metrics (`orm_cache_hits_total{model,kind}` and the
   * rest, see docs/metrics.md) on a prom-client registry, or on a registry of
   * their own when none is given; returns the registry. Register once per
   * registry. Values are read at scrape time.
   *
   * @example
   * ```ts
   * import { register } from 'prom-client';
   * cache.registerMetrics(register); // served by your existing /metrics
   * ```
   */
  registerMetrics(registry?: Registry): Registry {
    if (registry) return registerMetrics(this.metrics, registry);
    this.#registry ??= registerMetrics(this.metrics);
    return this.#registry;
  }

  /**
   * Express middleware serving the metrics: `snapshot()` as JSON by default,
   * Prometheus's text format with `?format=prometheus` or an `Accept:
   * text/plain` header (what Prometheus sends).
   *
   * @example
   * ```ts
   * app.get('/metrics', cache.metricsMiddleware());
   * ```
   */
  metricsMiddleware(options: MetricsMiddlewareOptions = {}): Middleware {
    const chosen = options.registry;
    return metricsHandler(this.metrics, () => chosen ?? this.registerMetrics());
  }

  /**
   * Express middleware adding a `Server-Timing` header to each response: the
   * request's cache hits and misses and the time they took, shown by
   * browser devtools. Mount it before the routes.
   *
   * @example
   * ```ts
   * app.use(cache.serverTiming());
   * ```
   */
  serverTiming(): Middleware {
    return serverTimingHandler(this.metrics);
  }

  /**
   * The live dashboard as an Express router: one self-contained page (hit
   * ratio over time, per-model table, store health, recent
   * InvalidationWarnings) that polls its own JSON endpoint.
   *
   * @example
   * ```ts
   * app.use('/cache', cache.dashboard()); // open http://host/cache/
   * ```
   */
  dashboard(options?: DashboardOptions): Middleware {
    return dashboardHandler(this.metrics, options);
  }

  /** Invalidate everything in this cache's namespace (a token rotation, never `flush_all`). */
  async flush(): Promise<void> {
    for (const model of Object.values(this.sequelize.models)) {
      const schema = this.schemaOf(model);
      if (schema) this.metrics.invalidated(schema.name, 'manual');
    }
    await this.rows.rotateNamespace();
  }

  /**
   * Run one of a write's two invalidations (`run(counted)`, counted in
   * metrics for the last one): now, or for a write inside a transaction,
   * both around its commit (nothing on rollback).
   * @internal
   */
  async invalidateAfterWrite(
    options: { transaction?: unknown } | undefined,
    schema: ModelSchema,
    run: (counted: boolean, generation: number | undefined) => Promise<void>,
    at: { phase: 'before' | 'after'; generations: ReadonlyMap<ModelSchema, number> },
  ): Promise<void> {
    const transaction = currentTransaction(this.sequelize, options);
    if (transaction) {
      if (at.phase === 'before') return;
      this.metrics.model(schema.name).invalidationsDeferred++;
      aroundCommit(this, transaction, schema, run);
      return;
    }
    await run(at.phase === 'after', at.generations.get(schema));
  }

  /**
   * Run `write` with the write marks of `schemas` raised (none inside a
   * transaction: its commit raises them). While a model's mark is up,
   * readers store no entry that depends on it (their database read may
   * predate the write's commit); the mark expires after {@link MARK_TTL}
   * seconds if its writer dies. A store without counters keeps no marks.
   * @internal
   */
  async whileWriting<T>(
    options: { transaction?: unknown } | undefined,
    schemas: readonly ModelSchema[],
    write: (generations: ReadonlyMap<ModelSchema, number>) => Promise<T>,
  ): Promise<T> {
    if (currentTransaction(this.sequelize, options)) return write(new Map());
    return this.withMarks(schemas, write);
  }

  /**
   * Run `work` with the write marks of `schemas` raised; it gets the write's
   * generation in each (source/write-marks.ts), where the store gave one.
   * @internal
   */
  async withMarks<T>(schemas: readonly ModelSchema[], work: (generations: ReadonlyMap<ModelSchema, number>) => Promise<T>): Promise<T> {
    const store = this.rows.store;
    const generations = new Map<ModelSchema, number>();
    if (schemas.length === 0 || !store.counts) return work(generations);
    const unique = [...new Set(schemas)];
    const raised = await Promise.all(unique.map((schema) => store.step(this.keys.writes(schema), MARK_BEGIN, MARK_TTL)));
    unique.forEach((schema, i) => {
      const value = raised[i];
      if (value !== undefined) generations.set(schema, readMark(value).generation);
    });
    try {
      return await work(generations);
    } finally {
      await Promise.all(unique.map((schema, i) => (raised[i] === undefined ? undefined : store.step(this.keys.writes(schema), -1, MARK_TTL))));
    }
  }

  /**
   * Remove the hooks and wrappers: queries go straight to the database again.
   * A store created by `install()` is closed; a store passed in stays open.
   */
  uninstall(): void {
    if (!this.#installed) return;
    this.#installed = false;
    clearTimeout(this.#replayTimer);
    this.#uninstall();
    if (this.options.ownsStore) void this.store.close().catch(() => undefined);
  }
}
