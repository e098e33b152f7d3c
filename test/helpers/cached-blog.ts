/**
 * The usual integration fixture: a seeded test database with the cache
 * installed on a real memcached, behind a ProbeStore that counts (and can
 * pause) every store operation.
 */
import type { TestFn } from 'ava';
import { MemcachedStore, type OrmCache, ormCache } from '../../source';
import type { SeedOptions } from '../../fixtures/seed';
import { createTestDatabase, memcachedServers, type TestDatabase, uniqueNamespace } from './servers';
import { ProbeStore } from './store-probe';

export interface CachedBlog {
  db: TestDatabase;
  cache: OrmCache;
  probe: ProbeStore;
}

/** Register before/after hooks that give every test of the file a {@link CachedBlog} context. */
export function useCachedBlog(test: TestFn<CachedBlog>, label: string, seed: SeedOptions): void {
  test.before(async (t) => {
    const db = await createTestDatabase(label, seed);
    const probe = new ProbeStore(new MemcachedStore(memcachedServers(), { timeoutMs: 1000 }));
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
