import test from 'ava';
import { MemcachedStore, ormCache } from '../source';
import { createTestDatabase, memcachedServers, uniqueNamespace } from './helpers/servers';

test('smoke', async (t) => {
  const db = await createTestDatabase('smoke');
  const store = new MemcachedStore(memcachedServers());
  const cache = ormCache.install(db.sequelize, { store, namespace: uniqueNamespace() });
  cache.on('error', (e) => t.log(e));
  const { Article } = db.models;
  const a = await Article.findByPk(1);
  t.log(db.sql.take());
  const b = await Article.findByPk(1);
  t.log(db.sql.take());
  t.deepEqual(a?.get({ plain: true }), b?.get({ plain: true }));
  t.log(cache.metrics.snapshot());
  await store.close();
  await db.drop();
});
