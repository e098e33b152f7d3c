/**
 * Each race the row cache closes, with the bad interleaving forced: the
 * reader is held at the store operation that would publish its (old) row
 * while a writer runs to completion, then released.
 */
import anyTest, { type TestFn } from 'ava';
import { Op } from 'sequelize';
import { ManualClock, MemcachedStore, ormCache } from '../../source';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';
import { memcachedServers, uniqueNamespace } from '../helpers/test-database';
import { ProbeStore } from '../helpers/store-probe';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'races', { authors: 3, articles: 20 });

const rowKey = (id: number) => (key: string) => key.includes(':Article:') && key.endsWith(`:r:${id}`);

function outcome(probe: ProbeStore, op: string, id: number): unknown {
  return probe.results.filter((r) => r.op === op && rowKey(id)(r.key)).at(-1)?.result;
}

test.serial('a reader that read the old row cannot store it after the write replaced its lease with a tombstone', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  const gate = probe.pauseNext('cas', rowKey(1));
  const reader = Article.findByPk(1);
  await gate.reached; // the reader has read the old row from the database
  await Article.update({ title: 'written during the fill' }, { where: { id: 1 } });
  gate.release();
  t.not((await reader)!.title, 'written during the fill', 'the reader started before the write');
  await t.context.cache.settled(); // the fill runs after the answer
  t.is(outcome(probe, 'add', 1), true, 'the lease was put before the database read');
  t.is(outcome(probe, 'cas', 1), false, "its cas against the lease lost to the write's tombstone");
  t.is((await Article.findByPk(1))!.title, 'written during the fill');
});

test.serial('a reader that saw a tombstone cannot cas a row older than a second write', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  await Article.findByPk(2);
  await Article.update({ title: 'first write' }, { where: { id: 2 } });
  const gate = probe.pauseNext('cas', rowKey(2));
  const reader = Article.findByPk(2);
  await gate.reached;
  await Article.update({ title: 'second write' }, { where: { id: 2 } });
  gate.release();
  t.is((await reader)!.title, 'first write');
  await t.context.cache.settled();
  t.is(outcome(probe, 'cas', 2), false, 'its cas lost to the newer tombstone');
  t.is((await Article.findByPk(2))!.title, 'second write');
});

test.serial('a model-wide write during a fill leaves the filled entry invalid', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  const gate = probe.pauseNext('cas', rowKey(3));
  const reader = Article.findByPk(3);
  await gate.reached;
  // A where that names no primary key: the epoch token rotates, no tombstone.
  await Article.update({ title: 'bulk during the fill' }, { where: { id: { [Op.between]: [3, 3] } } });
  gate.release();
  await reader;
  await t.context.cache.settled();
  t.is(outcome(probe, 'cas', 3), true, 'the old row was stored, under the old epoch');
  db.sql.take();
  t.is((await Article.findByPk(3))!.title, 'bulk during the fill');
  t.is(db.sql.selects().length, 1, 'the stale entry was not served');
});

test.serial('warming from a list cannot store a row that a write changed meanwhile', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  const gate = probe.pauseNext('add', rowKey(4));
  const list = Article.findAll({ where: { id: { [Op.in]: [4, 5] }, published: { [Op.in]: [true, false] } } });
  await gate.reached;
  await Article.update({ title: 'written during warming' }, { where: { id: 4 } });
  gate.release();
  await list;
  await t.context.cache.settled(); // warming runs after the answer
  t.is(outcome(probe, 'add', 4), false);
  t.is((await Article.findByPk(4))!.title, 'written during warming');
});

test.serial("a write during a fill or a warming read stays seen when memcached evicts the write's tombstone", async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  // What memory pressure does to the tombstone: the key is gone, as if never written.
  const evict = async (id: number) => {
    const key = probe.results.find((r) => r.op === 'set' && rowKey(id)(r.key))?.key;
    t.truthy(key, 'the write tombstoned the row');
    await probe.inner.delete(key as string);
  };
  const filling = probe.pauseNext('cas', rowKey(10));
  const reader = Article.findByPk(10);
  await filling.reached;
  await Article.update({ title: 'written during the fill' }, { where: { id: 10 } });
  await evict(10);
  filling.release();
  t.not((await reader)!.title, 'written during the fill', 'the reader started before the write');
  await t.context.cache.settled();
  t.is(outcome(probe, 'cas', 10), false, 'its lease went with the tombstone, so its cas failed');
  t.is((await Article.findByPk(10))!.title, 'written during the fill');

  const warming = probe.pauseNext('add', rowKey(11));
  const list = Article.findAll({ where: { id: { [Op.in]: [11, 12] }, published: { [Op.in]: [true, false] } } });
  await warming.reached;
  await Article.update({ title: 'written during warming' }, { where: { id: 11 } });
  await evict(11);
  warming.release();
  await list;
  await t.context.cache.settled();
  t.is(outcome(probe, 'add', 11), true, 'the old row was added where the tombstone had been');
  t.is((await Article.findByPk(11))!.title, 'written during warming', "it recorded the warm token the write rotated");
});

test.serial('a read after commit() returns sees the write, though reads during the commit may not', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  await Article.findByPk(6);
  const transaction = await db.sequelize.transaction();
  await Article.update({ title: 'in transaction' }, { where: { id: 6 }, transaction });
  // Hold the commit's tombstone; a reader now still sees the cached old row,
  // which is allowed: commit() has not returned.
  const gate = probe.pauseNext('set', rowKey(6));
  const commit = transaction.commit();
  await gate.reached;
  t.not((await Article.findByPk(6))!.title, 'in transaction');
  gate.release();
  await commit;
  t.is((await Article.findByPk(6))!.title, 'in transaction');
});

test.serial('a fill slower than half the tombstone lifetime is dropped', async (t) => {
  const { db } = t.context;
  const clock = new ManualClock();
  const other = await db.connect();
  const probe = new ProbeStore(new MemcachedStore(memcachedServers(), { timeoutMs: 1000 }));
  const cache = ormCache.install(other.sequelize, { store: probe, namespace: uniqueNamespace(), clock, tombstoneTtl: 10 });
  t.teardown(async () => {
    cache.uninstall();
    await probe.close();
  });
  // The database read "takes" 6 s on the injected clock: longer than 10 s / 2.
  other.sequelize.addHook('beforeQuery', 'slow', () => clock.advance(6000));
  const article = await other.models.Article.findByPk(7);
  other.sequelize.removeHook('beforeQuery', 'slow');
  t.is(article!.id, 7, 'the caller still gets the row');
  const rowWrites = probe.results.filter((r) => r.op === 'cas' && rowKey(7)(r.key));
  t.deepEqual(rowWrites, [], 'the row was not stored (only its lease was put)');
  t.is(cache.metrics.snapshot().rowFillsRejected, 1);
});

test.serial('an insert while a reader records that the row is missing makes the record invalid', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  const gate = probe.pauseNext('cas', rowKey(7777));
  const reader = Article.findByPk(7777);
  await gate.reached; // the reader found no row and is about to record its absence
  await Article.bulkCreate([{ id: 7777, title: 'inserted meanwhile', authorId: 1 }]);
  gate.release();
  t.is(await reader, null, 'the reader started before the insert');
  t.is((await Article.findByPk(7777))!.title, 'inserted meanwhile');
});
