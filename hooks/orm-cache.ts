import { EventEmitter } from 'node:events';
import type { FindOptions, Model, ModelStatic, Sequelize } from 'sequelize';
import { asStoreError, type InvalidationWarning, OptionError, type StoreError } from '../source/errors';
import { misnamedOptions } from './option-names';
import type { Registry } from 'prom-client';
import {
  type DashboardOptions,
  dashboardHandler,
  type MetricsMiddlewareOptions,
  type Middleware,
  metricsHandler,
  serverTimingHandler,
} from '../source/http/express';
import { GuardedStore } from '../source/store/guarded-store';
import { KeySpace, primaryKeyText } from '../source/keys';
import { InvalidationDelivery } from '../source/invalidation/delivery';
import { underMarks } from '../source/tokens/write-marks';
import { Metrics } from '../source/metrics/metrics';
import { type ModelLike, type ModelSchema, modelSchema } from '../source/model-schema';
import type { ResolvedOptions } from '../source/options';
import { RememberedLists } from '../source/lists/remembered-lists';
import { EntryCache } from '../source/lists/entry-cache';
import { registerMetrics } from '../source/metrics/prometheus';
import { RowCache } from '../source/rows/row-cache';
import { FillLock } from '../stampede/fill-lock';
import { SingleFlight } from '../stampede/single-flight';
import { SoftExpiryGuard } from '../stampede/soft-expiry';
import type { CacheStore } from '../source/store/contract';
import type { QueryCacheOptions } from '../source/types';
import type { BypassReason, ReadKind } from '../source/metrics/snapshot';
import type { Invalidation, Marked, WriteMoment } from './cache-context';
import { FORGET, Forgotten } from './select/forget';
import { perQuery } from './query-options';
import { type BypassEvent, queryShape } from './bypass';
import { aroundCommit, currentTransaction, noteWrites } from './transactions';
import { valueProfile } from './value-profile';

/** Events of an {@link OrmCache}. */
export interface OrmCacheEvents {
  /** A store operation failed; the query went on to the database. */
  error: [StoreError];
  /** A cached entry pointed at rows that no longer exist. */
  invalidationWarning: [InvalidationWarning];
  /** The first read of a model and kind that skipped the cache for a reason (docs/metrics.md). */
  bypass: [BypassEvent];
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
  /** @internal */ readonly rows: RowCache;
  /** @internal */ readonly entries: EntryCache;
  /** @internal */ readonly remembered: RememberedLists;
  /** @internal */ readonly locks: FillLock;
  /** @internal */ readonly stampede: SoftExpiryGuard;
  /** @internal */ readonly flights = new SingleFlight();
  /** @internal */ readonly keys: KeySpace;
  /** Whether any model keeps attributes out of the cache (reads check their queries only then). @internal */
  readonly excluding: boolean;
  readonly #uninstall: () => void;
  readonly #background = new Set<Promise<unknown>>();
  /** Models already reported as not cacheable. */
  readonly #uncacheable = new Set<string>();
  readonly #delivery: InvalidationDelivery;
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
    this.entries = new EntryCache(guarded, this.keys);
    this.remembered = new RememberedLists(options.rememberedLists);
    this.#delivery = new InvalidationDelivery(this.rows, this.entries, this.metrics, options.replayMs);
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
    const schema = modelSchema(m, exclude, (options && options.computed) || []);
    return schema.primaryKeys.length === m.primaryKeyAttributes.length ? schema : undefined;
  }

  /**
   * Names in `models` that name nothing (hooks/option-names.ts) are a typo
   * the cache would otherwise ignore: an OptionError at install() when the
   * models are defined by then (`strict`), else one process warning
   * (ORM_CACHE_UNKNOWN_MODEL) at the first cached read, once the app has
   * defined its models.
   * @internal
   */
  checkModelNames(strict: boolean): void {
    const defined = this.sequelize.models as Record<string, unknown>;
    if (Object.keys(defined).length === 0) return;
    this.#namesUnchecked = false;
    for (const { option, problem, model } of misnamedOptions(this.options.models, defined)) {
      if (strict) throw new OptionError(option, problem);
      process.emitWarning(`sequelize-orm-cache: option \`${option}\` ${problem}`, { code: model ? 'ORM_CACHE_UNKNOWN_MODEL' : 'ORM_CACHE_UNKNOWN_ATTRIBUTE' });
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

  /** See InvalidationDelivery.rowsChanged (source/invalidation/delivery.ts). @internal */
  rowsChanged(...args: Parameters<InvalidationDelivery['rowsChanged']>): Promise<void> {
    return this.#delivery.rowsChanged(...args);
  }

  /** Count a read that skipped the cache; report the first of its model, kind and reason. @internal */
  bypass(model: string, kind: ReadKind, reason: BypassReason, options: object | undefined): void {
    if (!this.metrics.bypassed(model, kind, reason) || this.listenerCount('bypass') === 0) return;
    this.emit('bypass', { model, kind, reason, shape: queryShape(options) });
  }

  /** Report rows a list pointed to that no longer exist. @internal */
  warnMissing(warning: InvalidationWarning): void {
    this.metrics.warned(warning.model, warning.missing, warning.message);
    if (this.listenerCount('invalidationWarning') > 0) this.emit('invalidationWarning', warning);
  }

  /** Rows changed that cannot be named: every row and list of the model. @internal */
  modelChanged(...args: Parameters<InvalidationDelivery['modelChanged']>): Promise<void> {
    return this.#delivery.modelChanged(...args);
  }

  /**
   * Whether reads skip the cache because an invalidation of this process has
   * not reached the store yet (it is replayed until it does). @internal
   */
  get suspended(): boolean {
    return this.#delivery.pending;
  }

  /**
   * Drop the entry `Model.findAll(options)` would use, without running any
   * SQL (django-orm-cache's `clean()`). A primary-key lookup's entry is the row's,
   * which gets a tombstone.
   */
  async forget(model: AnyModel, options: FindOptions = {}): Promise<void> {
    try {
      await model.findAll({ ...options, cache: { ...perQuery(options), [FORGET]: true } as QueryCacheOptions });
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
   * read returned, a fill, a lock's release).
   * @internal
   */
  later(work: Promise<unknown>): void {
    // The answer has gone: a failure here (the guarded store swallows its
    // own) goes to 'error' listeners and never becomes an unhandled rejection.
    const done = work.then(
      () => undefined,
      (error: unknown) => {
        if (this.listenerCount('error') > 0) this.emit('error', asStoreError(error, 'background store work'));
      },
    );
    this.#background.add(done);
    void done.finally(() => this.#background.delete(done));
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
    run: Invalidation,
    at: WriteMoment,
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
   * Run `first` (the first invalidation) and `write` with the write marks of
   * `schemas` raised (none inside a transaction: its commit raises them);
   * see source/tokens/write-marks.ts.
   * @internal
   */
  async whileWriting<T>(options: { transaction?: unknown } | undefined, schemas: readonly ModelSchema[], first: Marked<unknown>, write: Marked<T>): Promise<T> {
    const transaction = currentTransaction(this.sequelize, options);
    if (!transaction) return this.withMarks(schemas, first, write);
    noteWrites(transaction, schemas);
    await first(new Map());
    return write(new Map());
  }

  /** Run `first`, then `work`, with the write marks of `schemas` raised (source/tokens/write-marks.ts). @internal */
  withMarks<T>(schemas: readonly ModelSchema[], first: Marked<unknown>, work: Marked<T>): Promise<T> {
    return underMarks(this.rows.store, this.keys, schemas, first, work, (lowered) => this.later(lowered));
  }

  /**
   * Remove the hooks and wrappers: queries go straight to the database again.
   * A store created by `install()` is closed; a store passed in stays open.
   */
  uninstall(): void {
    if (!this.#installed) return;
    this.#installed = false;
    this.#delivery.stop();
    this.#uninstall();
    if (this.options.ownsStore) void this.store.close().catch(() => undefined);
  }
}
