/**
 * `ormCache.install(sequelize, options)`: validate options, put the read and
 * write wrappers on the instance's query interface and the statement wrapper
 * on `sequelize.query`, and return the {@link OrmCache} that `uninstall()`
 * takes back out. No Sequelize hook is used: an app or a test that resets
 * or replaces the hook tables (`sequelize.options.hooks = {}`) cannot take
 * invalidation away.
 * Everything is reached through the instance handed in, never through this
 * package's own `require('sequelize')`, so it works with any copy of it.
 */
import type { Sequelize } from 'sequelize';
import { OrmCacheError } from '../source/errors';
import { resolveOptions } from '../source/options';
import type { OrmCacheOptions } from '../source/types';
import { OrmCache } from './orm-cache';
import type { RawSelectFn, SelectFn } from './query-options';
import { cachedRawSelect } from './select/count-select';
import { FastFind } from './select/fast-find';
import { cachedSelect } from './select/select-wrapper';
import { rawStatement } from './write/raw-statements';
import { writeWrappers } from './write/write-wrappers';
import { takeWrite } from './write/writing';

const installed = new WeakMap<Sequelize, OrmCache>();

type HookHost = { addHook(type: string, name: string, fn: (...args: never[]) => unknown): unknown };

type QueryFn = (sql: unknown, options?: Record<string | symbol, unknown>) => Promise<unknown>;

/** Query types of the statements ORM reads send (their text need not be read). */
const READ_TYPES = new Set(['SELECT', 'SHOWTABLES', 'SHOWINDEXES', 'DESCRIBE', 'SHOWCONSTRAINTS', 'FOREIGNKEYS']);

/**
 * `sequelize.query` with every statement that is not a wrapped query
 * interface write's (hooks/write/writing.ts `sendingWrite`) read for the
 * tables it may write (raw SQL, DDL).
 */
function statementWrapper(cache: OrmCache, original: QueryFn): QueryFn {
  return function (this: unknown, sql, options) {
    if (takeWrite()) return original.call(this, sql, options);
    const text = typeof sql === 'string' ? sql : (sql as { query?: unknown } | null)?.query;
    const ormRead = !!options?.model && READ_TYPES.has(String(options.type));
    if (typeof text !== 'string' || ormRead) return original.call(this, sql, options);
    return rawStatement(cache, options ?? {}, text, () => original.call(this, sql, options));
  };
}

/**
 * Install the cache on a Sequelize instance.
 *
 * @example
 * ```ts
 * import { ormCache, MemcachedStore } from 'sequelize-orm-cache';
 *
 * const cache = ormCache.install(sequelize, {
 *   store: new MemcachedStore(['127.0.0.1:11211']),
 *   ttl: 3600,
 * });
 * await Article.findByPk(1); // database
 * await Article.findByPk(1); // cache
 * ```
 * @throws OptionError naming the option when an option is invalid
 */
function install(sequelize: Sequelize, options?: OrmCacheOptions): OrmCache {
  if (!sequelize || typeof (sequelize as unknown as HookHost).addHook !== 'function' || typeof sequelize.getQueryInterface !== 'function') {
    throw new TypeError('sequelize-orm-cache: install() needs a Sequelize instance as its first argument');
  }
  if (installed.get(sequelize)?.installed) {
    throw new OrmCacheError('ERR_INSTALLED', 'sequelize-orm-cache is already installed on this Sequelize instance; uninstall() it first');
  }
  const resolved = resolveOptions(options);
  const queryInterface = sequelize.getQueryInterface() as unknown as Record<string, unknown>;
  const wrapped: string[] = [];
  const instance = sequelize as unknown as Record<string, unknown>;

  let fast: FastFind | undefined;
  const cache = new OrmCache(sequelize, resolved, () => {
    fast?.unpatch();
    for (const method of wrapped) delete queryInterface[method];
    if (instance.query === query) delete instance.query;
    installed.delete(sequelize);
  });

  // Against the models defined so far; with none yet, at the first cached read.
  cache.checkModelNames(true);

  const wrap = (method: string, make: (original: never) => unknown) => {
    if (Object.prototype.hasOwnProperty.call(queryInterface, method)) {
      throw new OrmCacheError('ERR_INSTALLED', `queryInterface.${method} is already wrapped by another plugin; install sequelize-orm-cache first`);
    }
    const original = queryInterface[method];
    if (typeof original !== 'function') return;
    queryInterface[method] = make(original as never);
    wrapped.push(method);
  };
  fast = new FastFind(cache);
  wrap('select', (original: SelectFn) => cachedSelect(cache, original, fast));
  wrap('rawSelect', (original: RawSelectFn) => cachedRawSelect(cache, original));
  for (const [method, make] of Object.entries(writeWrappers(cache))) wrap(method, make);
  if (Object.prototype.hasOwnProperty.call(instance, 'query')) {
    for (const method of wrapped) delete queryInterface[method];
    throw new OrmCacheError('ERR_INSTALLED', 'sequelize.query is already wrapped by another plugin; install sequelize-orm-cache first');
  }
  const query = statementWrapper(cache, sequelize.query as unknown as QueryFn);
  instance.query = query;

  for (const model of Object.values(sequelize.models)) if (cache.schemaOf(model)) fast.patch(model);
  installed.set(sequelize, cache);
  return cache;
}

/** Entry point: `ormCache.install(sequelize, options)`. */
export const ormCache = Object.freeze({ install });
