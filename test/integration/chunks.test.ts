/**
 * Lists larger than one memcached item are split over chunk keys and
 * reassembled (django-orm-cache's "key length").
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { MemcachedStore, ormCache } from '../../source';
import { createTestDatabase, memcachedServers, uniqueNamespace } from '../helpers/test-database';
import { ProbeStore } from '../helpers/store-probe';

test('a 40,000-row list of UUID keys (over 1 MB of pointers) round-trips through chunks', async (t) => {
  const db = await createTestDatabase('chunks', { authors: 1, articles: 1, tags: 1 });
  const probe = new ProbeStore(new MemcachedStore(memcachedServers(), { timeoutMs: 5000 }));
  const cache = ormCache.install(db.sequelize, { store: probe, namespace: uniqueNamespace(), warmLimit: 50_000 });
  t.teardown(async () => {
    cache.uninstall();
    await probe.close();
    await db.drop();
  });
  const { Tag } = db.models;
  const rows = Array.from({ length: 40_000 }, (_, i) => ({ id: randomUUID(), name: `bulk-${i}` }));
  for (let i = 0; i < rows.length; i += 5000) await Tag.bulkCreate(rows.slice(i, i + 5000));
  const options = { order: [['name', 'ASC']] as [string, string][] };

  const first = await Tag.findAll(options);
  t.is(first.length, 40_001);
  await cache.settled(); // the entry is stored after the answer
  const chunkWrites = probe.results.filter((r) => r.op === 'set' && /:q:[^:]+:[^:]+:\d+$/.test(r.key));
  t.true(chunkWrites.length >= 2, `stored in ${chunkWrites.length} chunks`);
  t.true(chunkWrites.every((r) => r.result === true));

  db.sql.take();
  probe.reset();
  const second = await Tag.findAll(options);
  t.is(probe.counts.gets, 0, 'no row had to be refetched');
  t.is(db.sql.selects().length, 0, 'list and rows served from memcached');
  t.deepEqual(second.map((r) => r.id), first.map((r) => r.id));
  t.deepEqual(second[12345]!.get({ plain: true }), first[12345]!.get({ plain: true }));

  await Tag.create({ id: randomUUID(), name: 'bulk-0-new' });
  const third = await Tag.findAll(options);
  t.is(third.length, 40_002);
  t.is(third[1]!.name, 'bulk-0-new');
});
