/**
 * sequelize-orm-cache: a correct, stampede-proof row and query cache for
 * Sequelize v6, installed with one line.
 *
 * @example
 * ```ts
 * import { ormCache, MemcachedStore } from 'sequelize-orm-cache';
 * const cache = ormCache.install(sequelize, { store: new MemcachedStore('127.0.0.1:11211') });
 * ```
 * @packageDocumentation
 */
export { ormCache } from '../hooks/install';
export { OrmCache, type OrmCacheEvents, type AnyModel } from '../hooks/orm-cache';
export type { BypassEvent } from '../hooks/bypass';
export { MemoryStore, type MemoryStoreOptions } from './store/memory-store';
export { MemcachedStore, type MemcachedStoreOptions } from './store/memcached-store';
export { memcachedKey } from './store/memcached-client';
export { RedisStore, type RedisStoreOptions } from './store/redis-store';
export type { CacheStore, CasValue, ServerHealth } from './store/contract';
export { InvalidationWarning, OptionError, OrmCacheError, StoreError, type StoreErrorCode } from './errors';
export type { IsolationLevel, ModelCacheOptions, OrmCacheOptions, QueryCacheOptions } from './types';
export type {
  BypassReason,
  InvalidationCause,
  LatencyHistogram,
  MetricsSnapshot,
  ModelMetrics,
  ReadCounters,
  ReadKind,
  RecentWarning,
} from './metrics/snapshot';
export { Metrics } from './metrics/metrics';
export type { DashboardOptions, MetricsMiddlewareOptions, Middleware } from './http/express';
export { type Clock, ManualClock } from './clock';
export { DEFAULT_OPTIONS } from './options';
