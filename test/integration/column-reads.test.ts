/**
 * Updates invalidate only the lists and counts that read a column they set
 * (source/tokens/conjunctions.ts, "reads"), against real MariaDB and
 * memcached: each case reads through the cache, updates, reads again, and
 * compares with the database.
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { type FindOptions, Op } from 'sequelize';
import { DataType, type Sequelize } from 'sequelize-typescript';
import { randomBytes } from 'node:crypto';
import { MemcachedStore, ormCache } from '../../source';
import { type CachedBlog, plainCachedBlogFor, useCachedBlog } from '../helpers/cached-blog';
import { memcachedServers } from '../helpers/test-database';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'column_reads', { authors: 4, articles: 24, commentsPerArticle: 1, tags: 2 });

const plain = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(plain) : v && typeof v === 'object' && 'get' in v ? (v as { get(o: object): unknown }).get({ plain: true }) : v;

type Read = (cache?: false) => Promise<unknown>;

/** List and count misses so far (a row read again after its tombstone is not one). */
const entryMisses = (cache: CachedBlog['cache']) => {
  const s = cache.metrics.snapshot();
  return s.listMisses + s.countMisses;
};

/**
 * Read once to fill, run `write`, read again: whether the entry was
 * invalidated (that read missed), and that it equals the database's answer.
 */
async function afterWrite(t: ExecutionContext<CachedBlog>, read: Read, write: () => Promise<unknown>): Promise<boolean> {
  const { db, cache } = t.context;
  await read();
  await cache.settled();
  t.is((db.sql.take(), await read(), db.sql.selects().length), 0, 'filled');
  await write();
  const before = entryMisses(cache);
  const cached = await read();
  const invalidated = entryMisses(cache) > before;
  t.deepEqual(plain(cached), plain(await read(false)));
  await cache.settled();
  return invalidated;
}

const retitle = (t: ExecutionContext<CachedBlog>, id: number) => async () => {
  const article = await t.context.db.models.Article.findByPk(id, { cache: false });
  await article!.update({ title: `retitled ${randomBytes(3).toString('hex')}` });
};

test.serial('a title update keeps a count and a list ordered by key of the same author, and the list shows the new title', async (t) => {
  const { Article } = t.context.db.models;
  const target = (await Article.findOne({ where: { authorId: 2 }, order: [['id', 'ASC']], cache: false }))!;
  const count: Read = (cache) => Article.count({ where: { authorId: 2 }, cache: cache === false ? false : undefined });
  t.false(await afterWrite(t, count, retitle(t, target.id)), 'the count stays cached');
  const list: Read = (cache) => Article.findAll({ where: { authorId: 2 }, order: [['id', 'DESC']], limit: 3, cache: cache === false ? false : undefined });
  const newest = (await Article.findOne({ where: { authorId: 2 }, order: [['id', 'DESC']], cache: false }))!;
  // The list's entry stays; its row entry was tombstoned, so the row is read again.
  t.false(await afterWrite(t, list, retitle(t, newest.id)), 'the list stays cached');
});

test.serial('an update invalidates lists ordered or filtered by a column it sets, or by a column it cannot name', async (t) => {
  const { Article } = t.context.db.models;
  const id = (await Article.findOne({ where: { authorId: 3 }, order: [['id', 'ASC']], cache: false }))!.id;
  const reads: [string, FindOptions][] = [
    ['ordered by title', { where: { authorId: 3 }, order: [['title', 'ASC'], ['id', 'ASC']] }],
    ['filtered by title', { where: { authorId: 3, title: { [Op.notLike]: 'zzz%' } }, order: [['id', 'ASC']] }],
    ['no total order', { where: { authorId: 3 }, order: [['published', 'ASC']] }],
    ['no order at all', { where: { authorId: 3 } }],
    ['ordered by SQL', { where: { authorId: 3 }, order: [[t.context.db.sequelize.fn('lower', t.context.db.sequelize.col('title')), 'ASC'], ['id', 'ASC']] }],
    ['a column compared to another', { where: { authorId: 3, views: { [Op.gte]: t.context.db.sequelize.col('id') } }, order: [['id', 'ASC']] }],
  ];
  for (const [label, options] of reads) {
    const read: Read = (cache) => Article.findAll({ ...options, cache: cache === false ? false : undefined });
    t.true(await afterWrite(t, read, retitle(t, id)), label);
  }
  const titled: Read = (cache) => Article.count({ where: { title: { [Op.like]: 'retitled%' } }, cache: cache === false ? false : undefined });
  t.true(await afterWrite(t, titled, retitle(t, id)), 'a count filtered by title');
  const longest: Read = (cache) => Article.max('title', { where: { authorId: 3 }, cache: cache === false ? false : undefined } as never);
  t.true(await afterWrite(t, longest, retitle(t, id)), 'an aggregate of title');
});

test.serial('a key or filter column set by an update moves the row between lists, as before', async (t) => {
  const { Article } = t.context.db.models;
  const article = (await Article.findOne({ where: { authorId: 1 }, order: [['id', 'ASC']], cache: false }))!;
  for (const authorId of [1, 4]) {
    const count: Read = (cache) => Article.count({ where: { authorId }, cache: cache === false ? false : undefined });
    t.true(await afterWrite(t, count, () => article.update({ authorId: authorId === 1 ? 4 : 1 })), `author ${authorId}`);
  }
});

/** A model whose `touched_at` column MariaDB sets on every update (`ON UPDATE CURRENT_TIMESTAMP`). */
async function touchedModel(sequelize: Sequelize, name: string, declared: boolean) {
  const table = `touched_${randomBytes(3).toString('hex')}`;
  await sequelize.query(
    `CREATE TABLE ${table} (id INT PRIMARY KEY, grp INT NOT NULL, label VARCHAR(40) NOT NULL, touched_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6))`,
  );
  const model = sequelize.define(name, {
    id: { type: DataType.INTEGER, primaryKey: true },
    grp: DataType.INTEGER,
    label: DataType.STRING(40),
    touchedAt: {
      type: DataType.DATE(6),
      field: 'touched_at',
      // Declared through its SQL default, or not at all (the app then names it in `computed`).
      ...(declared ? { defaultValue: sequelize.literal('CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)') } : {}),
    },
  }, { tableName: table, timestamps: false });
  await sequelize.query(`INSERT INTO ${table} (id, grp, label, touched_at) VALUES (1, 1, 'a', '2020-01-01'), (2, 1, 'b', '2021-01-01'), (3, 1, 'c', '2022-01-01')`);
  return model;
}

test.serial('a column the database changes on update counts as set by every update: from its SQL default, or named in `computed`', async (t) => {
  const { db } = t.context;
  for (const declared of [true, false]) {
    const { sequelize } = await db.connect();
    const model = await touchedModel(sequelize, `Touched${declared ? 'Default' : 'Named'}`, declared);
    const store = new MemcachedStore(memcachedServers());
    const cache = ormCache.install(sequelize, {
      store,
      namespace: `touch${randomBytes(3).toString('hex')}`,
      models: declared ? {} : { [model.name]: { computed: ['touchedAt'] } },
    });
    try {
      const read = () => model.findAll({ where: { grp: 1 }, order: [['touchedAt', 'DESC'], ['id', 'ASC']], limit: 2 });
      const ids = async () => ((await read()) as unknown as { id: number }[]).map((r) => r.id);
      t.deepEqual(await ids(), [3, 2]);
      await cache.settled();
      const first = await model.findByPk(1);
      await first!.update({ label: 'touched' });
      t.deepEqual(await ids(), [1, 3], declared ? 'from the SQL default' : 'named in computed');
    } finally {
      cache.uninstall();
      await Promise.all([store.close(), sequelize.close()]);
    }
  }
});

test('an update through an instance loaded before another write moved its row invalidates the lists of the row as it really is', async (t) => {
  // Its own database and a MemcachedStore as apps have it (one server on
  // the built-in client: commands applied in the order sent, which the read
  // of the row before the first invalidation relies on).
  const { db, cache, store } = await plainCachedBlogFor(t, 'column_reads_moved', { authors: 4, articles: 24, commentsPerArticle: 1, tags: 2 });
  t.true(store.ordered);
  const { Article } = db.models;
  const target = (await Article.findOne({ where: { authorId: 3 }, order: [['id', 'ASC']], cache: false }))!;
  // Loaded now, while the article is the third author's.
  const stale = (await Article.findByPk(target.id))!;
  // Another writer moves it to the fourth author.
  await (await Article.findByPk(target.id, { cache: false }))!.update({ authorId: 4 });
  const list: Read = (c) => Article.findAll({ where: { authorId: 4 }, order: [['title', 'ASC'], ['id', 'ASC']], cache: c === false ? false : undefined });
  await list();
  await cache.settled();
  db.sql.take();
  await list();
  t.is(db.sql.selects().length, 0, "the fourth author's list is cached, the moved article in it");
  // The held instance still believes it is the third author's.
  await stale.update({ title: 'zzz retitled last' });
  const cached = plain(await list()) as { id: number }[];
  t.deepEqual(cached, plain(await list(false)));
  t.is(cached[cached.length - 1]?.id, target.id, 'the retitled article sorts last');
});
