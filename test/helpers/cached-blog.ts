/**
 * The usual integration fixture: a seeded test database with the cache
 * installed on a real memcached, behind a ProbeStore that counts (and can
 * pause) every store operation.
 */
import type { ExecutionContext, TestFn } from 'ava';
import { type CacheStore, MemcachedStore, type OrmCache, type OrmCacheOptions, ormCache } from '../../source';
import type { SeedOptions } from '../../fixtures/seed';
import { createTestDatabase, memcachedServers, type TestDatabase, uniqueNamespace } from './test-database';
import { ProbeStore } from './store-probe';

export interface CachedBlog {
  db: TestDatabase;
  cache: OrmCache;
  probe: ProbeStore;
}

/**
 * Register before/after hooks that give every test of the file a
 * {@link CachedBlog} context; `store` makes the store under the probe
 * (memcached by default).
 */
export function useCachedBlog(
  test: TestFn<CachedBlog>,
  label: string,
  seed: SeedOptions,
  store: () => CacheStore = () => new MemcachedStore(memcachedServers(), { timeoutMs: 1000 }),
): void {
  test.before(async (t) => {
    const db = await createTestDatabase(label, seed);
    const probe = new ProbeStore(store());
    const cache = ormCache.install(db.sequelize, { store: probe, namespace: uniqueNamespace() });
    cache.on('error', (error) => t.log(`store error: ${error.message}`));
    t.context = { db, cache, probe };
  });

  test.after.always(async (t) => {
    t.context.cache.uninstall();
    await t.context.probe.close();
    await t.context.db.drop();
  });
}

/**
 * The same fixture for one test: a fresh database and a cache on a
 * ProbeStore over real memcached, torn down with the test.
 */
export async function cachedBlogFor(
  t: ExecutionContext,
  label: string,
  seed: SeedOptions,
  options: Omit<OrmCacheOptions, 'store' | 'namespace'> = {},
): Promise<CachedBlog> {
  const db = await createTestDatabase(label, seed);
  const probe = new ProbeStore(new MemcachedStore(memcachedServers(), { timeoutMs: 2000 }));
  const cache = ormCache.install(db.sequelize, { store: probe, namespace: uniqueNamespace(), ...options });
  t.teardown(async () => {
    cache.uninstall();
    await probe.close();
    await db.drop();
  });
  return { db, cache, probe };
}

/**
 * A fresh database with the cache on a plain MemcachedStore (no probe), as
 * apps have it: one server on the built-in client, an `ordered` store.
 * Torn down with the test.
 */
export async function plainCachedBlogFor(t: ExecutionContext, label: string, seed: SeedOptions): Promise<{ db: TestDatabase; cache: OrmCache; store: MemcachedStore }> {
  const db = await createTestDatabase(label, seed);
  const store = new MemcachedStore(memcachedServers(), { timeoutMs: 2000 });
  const cache = ormCache.install(db.sequelize, { store, namespace: uniqueNamespace() });
  t.teardown(async () => {
    cache.uninstall();
    await store.close();
    await db.drop();
  });
  return { db, cache, store };
}
