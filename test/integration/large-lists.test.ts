/**
 * A list far larger than one memcached item and than the store's pool:
 * 40,000 rows with UUID keys. It must become a hit like any list, and its
 * rows must be stored, not fetched by key on every read.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { DataTypes } from 'sequelize';
import { MemcachedStore, ormCache } from '../../source';
import { createTestDatabase, memcachedServers, uniqueNamespace } from '../helpers/test-database';

test('a 40,000-row list with UUID keys is a hit from its second read on, its rows included', async (t) => {
  const db = await createTestDatabase('large_lists');
  const store = new MemcachedStore(memcachedServers());
  t.teardown(async () => {
    await store.close();
    await db.drop();
  });
  const Item = db.sequelize.define('Item', { id: { type: DataTypes.UUID, primaryKey: true }, label: DataTypes.STRING(40) }, { timestamps: false });
  await Item.sync();
  const count = 40_000;
  for (let i = 0; i < count; i += 4000) {
    await Item.bulkCreate(Array.from({ length: Math.min(4000, count - i) }, (_, j) => ({ id: randomUUID(), label: `item ${i + j}` })));
  }
  const cache = ormCache.install(db.sequelize, { store, namespace: uniqueNamespace() });
  t.teardown(() => cache.uninstall());
  const errors: Error[] = [];
  cache.on('error', (error) => errors.push(error));
  const read = async () => (await Item.findAll({ order: [['label', 'ASC']], cache: { ttl: 300 } })).length;
  const sqlOf: string[][] = [];
  for (let i = 0; i < 4; i++) {
    db.sql.take();
    t.is(await read(), count);
    await cache.settled();
    sqlOf.push(db.sql.selects());
  }
  t.is(sqlOf[0]?.length, 1, 'read 1 runs the query');
  t.true((sqlOf[1]?.length ?? 0) <= 1, 'read 2 fetches at most the rows not warmed, once');
  const m = cache.metrics.snapshot();
  t.log(`store errors ${m.storeErrors} (timeouts ${m.storeTimeouts}); row fills ${m.models.Item?.row.fills}, rejected ${m.models.Item?.row.fillsRejected}; statements ${sqlOf.map((s) => s.length).join(', ')}`);
  t.is(sqlOf[2]?.length, 0, 'read 3 is a hit, rows included');
  t.is(sqlOf[3]?.length, 0, 'read 4 is a hit, rows included');
  t.deepEqual(errors.map((e) => e.message), [], 'no store operation failed');
});
