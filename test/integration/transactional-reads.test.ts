/**
 * docs/architecture.md, Transactions: a read inside a transaction is answered
 * from the cache only where that is indistinguishable from the database
 * (READ COMMITTED or READ UNCOMMITTED, nothing it depends on written by the
 * transaction); it never fills the cache; REPEATABLE READ transactions keep
 * their snapshot.
 */
import anyTest, { type TestFn } from 'ava';
import { Transaction } from 'sequelize';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';
import { useCls } from '../helpers/cls';

const test = anyTest as TestFn<CachedBlog>;
const READ_COMMITTED = Transaction.ISOLATION_LEVELS.READ_COMMITTED;

useCachedBlog(test, 'transactional_reads', { authors: 4, articles: 24 });

/** Store writes the probe saw (anything a fill, a lock or an invalidation sends). */
const storeWrites = (probe: CachedBlog['probe']) => probe.counts.set + probe.counts.add + probe.counts.cas + probe.counts.delete;

test.serial('at READ COMMITTED, reads of what the transaction has not written are served from the cache', async (t) => {
  const { db, cache } = t.context;
  const { Article, Author } = db.models;
  const list = { where: { authorId: 2 }, order: [['id', 'ASC']] as [string, string][] };
  const tree = { where: { id: 2 }, include: [{ model: Article }] };
  await Article.findByPk(1);
  const outside = (await Article.findAll(list)).length;
  await Author.findAll(tree);
  await Article.count({ where: { authorId: 2 } });
  await cache.settled();
  const before = cache.metrics.snapshot();
  await db.sequelize.transaction({ isolationLevel: READ_COMMITTED }, async (transaction) => {
    db.sql.take();
    t.is((await Article.findByPk(1, { transaction }))!.id, 1);
    t.is((await Article.findAll({ ...list, transaction })).length, outside);
    t.is(((await Author.findAll({ ...tree, transaction }))[0]!.get('articles') as unknown[]).length, outside);
    t.is(await Article.count({ where: { authorId: 2 }, transaction }), outside);
    t.deepEqual(db.sql.selects(), [], 'no SQL: every read was a hit');
  });
  const after = cache.metrics.snapshot();
  t.is(after.rowHits - before.rowHits, 1);
  t.is(after.listHits - before.listHits, 2);
  t.is(after.countHits - before.countHits, 1);
  t.is(after.bypassed, before.bypassed);
});

test.serial('a miss inside a transaction reads the database and stores nothing: no fill, no lock', async (t) => {
  const { db, cache, probe } = t.context;
  const { Article } = db.models;
  await db.sequelize.transaction({ isolationLevel: READ_COMMITTED }, async (transaction) => {
    probe.reset();
    db.sql.take();
    t.truthy(await Article.findByPk(9, { transaction }));
    await Article.findAll({ where: { authorId: 3, published: true }, transaction });
    t.is(db.sql.selects().length, 2, 'both went to the database');
    await cache.settled();
    t.is(storeWrites(probe), 0, 'nothing was filled or locked');
  });
  db.sql.take();
  await Article.findByPk(9);
  t.is(db.sql.selects().length, 1, 'the next read outside is still a miss');
});

test.serial('a transaction never reads a row older than its own writes, through any shape that depends on it', async (t) => {
  const { db, cache } = t.context;
  const { Article, Author } = db.models;
  const authorId = (await Article.findByPk(3))!.authorId;
  await Article.findAll({ where: { authorId } });
  await Author.findAll({ where: { id: authorId }, include: [Article] });
  await Article.findByPk(4);
  await cache.settled();
  await db.sequelize.transaction({ isolationLevel: READ_COMMITTED }, async (transaction) => {
    await Article.update({ title: 'own write' }, { where: { id: 3 }, transaction });
    t.is((await Article.findByPk(3, { transaction }))!.title, 'own write');
    t.true((await Article.findAll({ where: { authorId }, transaction })).some((a) => a.title === 'own write'));
    const author = (await Author.findAll({ where: { id: authorId }, include: [Article], transaction }))[0]!;
    t.true((author.get('articles') as { title: string }[]).some((a) => a.title === 'own write'), 'an include of the written model');
    // Raw SQL counts as a write of the tables it names.
    await db.sequelize.query("UPDATE articles SET title = 'raw own write' WHERE id = 4", { transaction });
    t.is((await Article.findByPk(4, { transaction }))!.title, 'raw own write');
    // The other model is still served from the cache.
    db.sql.take();
    await Author.findByPk(authorId, { transaction });
    await Author.findByPk(authorId, { transaction });
    t.true(db.sql.selects().length <= 1, 'reads of Author still use the cache');
  });
  const reasons = cache.metrics.snapshot().models.Article?.bypassReasons;
  t.true((reasons?.row['transaction-wrote'] ?? 0) >= 2);
  t.true((reasons?.list['transaction-wrote'] ?? 0) >= 1);
  t.true((cache.metrics.snapshot().models.Author?.bypassReasons.list['transaction-wrote'] ?? 0) >= 1, 'the include depends on Article');
});

test.serial('a write in a savepoint counts for the whole transaction, even after the savepoint rolls back', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  await Article.findByPk(5);
  await db.sequelize.transaction({ isolationLevel: READ_COMMITTED }, async (outer) => {
    const inner = await db.sequelize.transaction({ transaction: outer });
    await Article.update({ title: 'in a savepoint' }, { where: { id: 5 }, transaction: inner });
    await inner.commit();
    t.is((await Article.findByPk(5, { transaction: outer }))!.title, 'in a savepoint');
  });
});

test.serial('at REPEATABLE READ a transaction keeps its snapshot: never two versions of one row', async (t) => {
  const { db, cache } = t.context;
  const { Article } = db.models;
  for (const isolationLevel of [Transaction.ISOLATION_LEVELS.REPEATABLE_READ, undefined]) {
    const id = isolationLevel ? 10 : 11;
    const transaction = await db.sequelize.transaction(isolationLevel ? { isolationLevel } : {});
    try {
      const first = (await Article.findByPk(id, { transaction }))!.title;
      const firstList = (await Article.findAll({ where: { authorId: 2 }, transaction })).map((a) => a.title);
      // Another connection commits a change, and the cache holds the new row and list.
      await Article.update({ title: `changed ${id}` }, { where: { id } });
      t.is((await Article.findByPk(id))!.title, `changed ${id}`);
      await Article.findAll({ where: { authorId: 2 } });
      await cache.settled();
      t.is((await Article.findByPk(id, { transaction }))!.title, first, 'the snapshot, not the cached row');
      t.deepEqual((await Article.findAll({ where: { authorId: 2 }, transaction })).map((a) => a.title), firstList);
    } finally {
      await transaction.rollback();
    }
  }
  t.true((cache.metrics.snapshot().models.Article?.bypassReasons.row['transaction-isolation'] ?? 0) >= 4);
});

test.serial('a rolled-back transaction leaves nothing behind in the cache', async (t) => {
  const { db, cache, probe } = t.context;
  const { Article } = db.models;
  await Article.findByPk(12);
  await Article.findAll({ where: { authorId: 1 } });
  await cache.settled();
  const transaction = await db.sequelize.transaction({ isolationLevel: READ_COMMITTED });
  probe.reset();
  await Article.findByPk(12, { transaction });
  await Article.findByPk(13, { transaction }); // a miss: no fill
  await Article.update({ title: 'rolled back' }, { where: { id: 12 }, transaction });
  t.is((await Article.findByPk(12, { transaction }))!.title, 'rolled back');
  await transaction.rollback();
  await cache.settled();
  t.is(storeWrites(probe), 0, 'no fill, no invalidation');
  t.not((await Article.findByPk(12))!.title, 'rolled back');
});

test.serial('with CLS, the ambient READ COMMITTED transaction is served the same way', async (t) => {
  const { db, cache } = t.context;
  const { Article } = db.models;
  t.teardown(useCls(db.sequelize));
  await Article.findByPk(14);
  await cache.settled();
  await db.sequelize.transaction({ isolationLevel: READ_COMMITTED }, async () => {
    db.sql.take();
    await Article.findByPk(14);
    t.is(db.sql.selects().length, 0, 'a hit in the ambient transaction');
    const article = (await Article.findByPk(14))!;
    await article.update({ title: 'cls own write' });
    t.is((await Article.findByPk(14))!.title, 'cls own write');
  });
  t.is((await Article.findByPk(14))!.title, 'cls own write');
});

test.serial('cache: { refresh: true } inside a transaction goes to the database (a refresh would fill)', async (t) => {
  const { db, cache } = t.context;
  const { Article } = db.models;
  await db.sequelize.transaction({ isolationLevel: READ_COMMITTED }, async (transaction) => {
    db.sql.take();
    await Article.findByPk(15, { transaction, cache: { refresh: true } });
    t.is(db.sql.selects().length, 1);
  });
  t.true((cache.metrics.snapshot().models.Article?.bypassReasons.row['transaction-refresh'] ?? 0) >= 1);
});

test.serial("the Sequelize instance's isolationLevel applies to every transaction that sets none", async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  await Article.findByPk(16);
  await t.context.cache.settled();
  const options = db.sequelize.options as { isolationLevel?: string };
  const previous = options.isolationLevel;
  options.isolationLevel = READ_COMMITTED;
  t.teardown(() => {
    options.isolationLevel = previous;
  });
  await db.sequelize.transaction(async (transaction) => {
    db.sql.take();
    await Article.findByPk(16, { transaction });
    t.is(db.sql.selects().length, 0, 'a hit');
  });
});
