/**
 * docs/architecture.md, invariant 2: reads inside a transaction at the
 * server's default level (REPEATABLE READ) neither read nor fill the cache
 * (READ COMMITTED: transactional-reads.test.ts); invalidations of writes
 * inside one run on commit, never on rollback.
 */
import anyTest, { type TestFn } from 'ava';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';
import { useCls } from '../helpers/cls';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'transactions', { authors: 4, articles: 20 });

test.serial('reads inside a transaction never touch the cache', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  await db.sequelize.transaction(async (transaction) => {
    probe.reset();
    await Article.findByPk(1, { transaction });
    await Article.findAll({ where: { published: true }, transaction });
    await Article.findOne({ where: { id: 2 }, transaction });
    t.is(probe.total, 0);
  });
});

test.serial('a write inside a transaction invalidates when it commits, not before', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  const original = (await Article.findByPk(3))!.title;
  const transaction = await db.sequelize.transaction();
  const article = (await Article.findByPk(3, { transaction }))!;
  await article.update({ title: 'committed title' }, { transaction });
  // Other connections still see the committed (old) row, and so does the cache.
  t.is((await Article.findByPk(3))!.title, original);
  await transaction.commit();
  t.is((await Article.findByPk(3))!.title, 'committed title');
});

test.serial('a write inside a rolled-back transaction leaves the cache untouched', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  await Article.findByPk(4);
  await t.context.cache.settled(); // its fill lands after the answer
  const transaction = await db.sequelize.transaction();
  probe.reset();
  await Article.update({ title: 'rolled back' }, { where: { id: 4 }, transaction });
  const article = (await Article.findByPk(5, { transaction }))!;
  await article.destroy({ transaction });
  await transaction.rollback();
  t.is(probe.counts.set + probe.counts.add + probe.counts.cas + probe.counts.delete, 0);
  db.sql.take();
  t.not((await Article.findByPk(4))!.title, 'rolled back');
  t.is(db.sql.selects().length, 0, 'still served from the cache');
  t.truthy(await Article.findByPk(5));
});

test.serial('a write in a savepoint is invalidated when the outer transaction commits', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  await Article.findByPk(6);
  const outer = await db.sequelize.transaction();
  const inner = await db.sequelize.transaction({ transaction: outer });
  await Article.update({ title: 'from a savepoint' }, { where: { id: 6 }, transaction: inner });
  await inner.commit();
  // The savepoint is released but the outer transaction is not committed: a
  // reader filling now gets the committed (old) row, which must not survive.
  t.not((await Article.findByPk(6))!.title, 'from a savepoint');
  await outer.commit();
  t.is((await Article.findByPk(6))!.title, 'from a savepoint');
});

test.serial('with CLS, reads and writes in the ambient transaction behave as with an explicit one', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  t.teardown(useCls(db.sequelize));
  await Article.findByPk(7);
  await t.context.cache.settled(); // its fill lands after the answer
  await db.sequelize.transaction(async () => {
    probe.reset();
    const article = (await Article.findByPk(7))!;
    t.is(probe.total, 0, 'the ambient transaction bypasses the cache');
    await article.update({ title: 'cls update' });
    t.is(probe.total, 0, 'the invalidation waits for the commit');
  });
  t.is((await Article.findByPk(7))!.title, 'cls update');
});
