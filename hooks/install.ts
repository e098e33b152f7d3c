/**
 * `ormCache.install(sequelize, options)`: validate options, put the read
 * wrapper on the instance's query interface and the write hooks on the
 * instance, and return the {@link OrmCache} that `uninstall()` takes back out.
 * Everything is reached through the instance handed in, never through this
 * package's own `require('sequelize')`, so it works with any copy of it.
 */
import type { Sequelize } from 'sequelize';
import { OrmCacheError } from '../source/errors';
import { resolveOptions } from '../source/options';
import type { OrmCacheOptions } from '../source/types';
import { OrmCache } from './orm-cache';
import { cachedRawSelect, cachedSelect, type RawSelectFn, type SelectFn } from './read-path';
import { arithmeticWrapper, writeHooks } from './write-hooks';

const installed = new WeakMap<Sequelize, OrmCache>();
let sequence = 0;

type HookHost = {
  addHook(type: string, name: string, fn: (...args: never[]) => unknown): unknown;
  removeHook(type: string, name: string): unknown;
};

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
  const hookName = `sequelize-orm-cache:${++sequence}`;
  const host = sequelize as unknown as HookHost;
  const queryInterface = sequelize.getQueryInterface() as unknown as Record<string, unknown>;
  const wrapped: string[] = [];
  let hookTypes: string[] = [];

  const cache = new OrmCache(sequelize, resolved, () => {
    for (const type of hookTypes) host.removeHook(type, hookName);
    for (const method of wrapped) delete queryInterface[method];
    installed.delete(sequelize);
  });

  const wrap = (method: string, make: (original: never) => unknown) => {
    if (Object.prototype.hasOwnProperty.call(queryInterface, method)) {
      throw new OrmCacheError('ERR_INSTALLED', `queryInterface.${method} is already wrapped by another plugin; install sequelize-orm-cache first`);
    }
    const original = queryInterface[method];
    if (typeof original !== 'function') return;
    queryInterface[method] = make(original as never);
    wrapped.push(method);
  };
  wrap('select', (original: SelectFn) => cachedSelect(cache, original));
  wrap('rawSelect', (original: RawSelectFn) => cachedRawSelect(cache, original));
  wrap('increment', (original) => arithmeticWrapper(cache, original));
  wrap('decrement', (original) => arithmeticWrapper(cache, original));

  const hooks = writeHooks(cache);
  hookTypes = Object.keys(hooks);
  for (const [type, fn] of Object.entries(hooks)) host.addHook(type, hookName, fn);

  installed.set(sequelize, cache);
  return cache;
}

/** Entry point: `ormCache.install(sequelize, options)`. */
export const ormCache = Object.freeze({ install });
