/**
 * This process's app and three reader processes (reader-child.ts) on one
 * database and one Redis Cluster namespace, for the tests whose claim is
 * about what other processes read after a cluster fault.
 */
import type { ExecutionContext } from 'ava';
import { ormCache, RedisStore, type RedisStoreOptions } from '../../source';
import type { RedisCluster } from '../harness/redis-server';
import { forkChild } from './fork-child';
import { createTestDatabase, uniqueNamespace } from './test-database';
import type { SeedOptions } from '../../fixtures/seed';

/** A reader process's answer to `{ pk }`. */
export interface ReaderReply {
  title?: string | null;
  selects: number;
}

export async function clusterApp(t: ExecutionContext, cluster: RedisCluster, label: string, fixture: SeedOptions, options: RedisStoreOptions) {
  const db = await createTestDatabase(label, fixture);
  const namespace = uniqueNamespace();
  const store = new RedisStore(cluster.urls, options);
  const cache = ormCache.install(db.sequelize, { store, namespace, replayMs: 50 });
  cache.on('error', () => undefined);
  // The readers make their stores from these (test-database.ts sharedStore('cluster')).
  process.env.ORM_CACHE_REDIS_CLUSTER = cluster.urls.join(',');
  process.env.ORM_CACHE_REDIS_OPTIONS = JSON.stringify(options);
  const readers = await Promise.all([1, 2, 3].map(() => forkChild<ReaderReply>('reader-child.ts', [db.name, namespace, 'cluster'])));
  t.teardown(async () => {
    for (const reader of readers) reader.stop();
    cache.uninstall();
    await store.close();
    await db.drop();
  });
  return { db, cache, readers };
}
