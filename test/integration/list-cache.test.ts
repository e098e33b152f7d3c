/**
 * Pointer lists against real MariaDB and memcached: hits with no SQL,
 * equality with the uncached result, precise invalidation by conditions.
 */
import anyTest, { type TestFn } from 'ava';
import { type FindOptions, Op } from 'sequelize';
import mysql from 'mysql2/promise';
import type { InvalidationWarning } from '../../source';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'list_cache', { authors: 6, articles: 60, commentsPerArticle: 2, tags: 6 });

type Finder = { findAll(o?: FindOptions): Promise<unknown[]>; findOne(o?: FindOptions): Promise<unknown> };
const plain = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(plain) : v && typeof v === 'object' && 'get' in v ? (v as { get(o: object): unknown }).get({ plain: true }) : v;

/** Read twice through the cache; the second read must be SQL-free and equal the uncached read. */
async function cachedTwice(t: import('ava').ExecutionContext<CachedBlog>, model: Finder, options: FindOptions, one = false) {
  const { db } = t.context;
  const read = (o: FindOptions) => (one ? model.findOne(o) : model.findAll(o));
  await read(options);
  db.sql.take();
  const cached = await read(options);
  const selects = db.sql.selects().length;
  const truth = await read({ ...options, cache: false });
  t.deepEqual(plain(cached), plain(truth), JSON.stringify(options, (_k, v) => (typeof v === 'symbol' ? String(v) : v)));
  return { cached, selects };
}

test.serial('the second identical findAll issues no SQL and equals the uncached result', async (t) => {
  const { Article, Author, Comment } = t.context.db.models;
  const queries: [Finder, FindOptions, boolean?][] = [
    [Article, { where: { published: true }, order: [['title', 'ASC'], ['id', 'ASC']] }],
    [Article, { where: { authorId: [1, 2] }, order: [['id', 'DESC']], limit: 5, offset: 2 }],
    [Article, { where: { title: { [Op.like]: '%cache%' } }, attributes: ['id', 'title'] }],
    [Article, { where: { views: { [Op.gt]: 1000 } }, raw: true, order: [['views', 'DESC']] }],
    [Author, { where: { email: 'author3@example.test' } }, true],
    [Author, { order: [['name', 'DESC']] }],
    [Comment, { where: { articleId: 7 } }],
    [Article, { where: { id: { [Op.in]: [3, 1, 2] } }, order: [['id', 'ASC']] }],
    [Article, { where: { [Op.or]: [{ authorId: 1 }, { published: false }] }, order: [['id', 'ASC']] }],
  ];
  for (const [model, options, one] of queries) {
    const { selects } = await cachedTwice(t, model, options, one);
    t.is(selects, 0, JSON.stringify(options, (_k, v) => (typeof v === 'symbol' ? String(v) : v)));
  }
  t.true(t.context.cache.metrics.snapshot().listHits >= queries.length);
});

test.serial('a row that changes a filtered column leaves one list and enters another', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  const byAuthor = (authorId: number) => ({ where: { authorId }, order: [['id', 'ASC']] as [string, string][] });
  await cachedTwice(t, Article, byAuthor(1));
  await cachedTwice(t, Article, byAuthor(2));
  await cachedTwice(t, Article, byAuthor(3));
  const moving = (await Article.findOne({ where: { authorId: 1 }, cache: false }))!;
  await moving.update({ authorId: 2 });
  const one = await cachedTwice(t, Article, byAuthor(1));
  const two = await cachedTwice(t, Article, byAuthor(2));
  t.false((one.cached as { id: number }[]).some((a) => a.id === moving.id));
  t.true((two.cached as { id: number }[]).some((a) => a.id === moving.id));
  db.sql.take();
  const listHits = t.context.cache.metrics.snapshot().listHits;
  await Article.findAll(byAuthor(3));
  t.is(t.context.cache.metrics.snapshot().listHits, listHits + 1, 'a list pinned to another author stayed cached');
  // Its rows were copied in by the list's own read (warmed), and any write of
  // the model retires such copies: they are read once more, by key, and filled.
  t.true(db.sql.selects().length <= 1);
  await Article.findAll(byAuthor(3));
  t.is(db.sql.selects().length, 0, 'then the list and its rows are served from the cache');
});

test.serial('created, destroyed and restored rows enter and leave lists', async (t) => {
  const { db } = t.context;
  const { Article, Comment } = db.models;
  const published4 = { where: { authorId: 4, published: true }, order: [['id', 'ASC']] as [string, string][] };
  const author5 = { where: { authorId: 5 }, order: [['id', 'ASC']] as [string, string][] };
  await cachedTwice(t, Article, published4);
  await cachedTwice(t, Article, author5);
  const created = await Article.create({ title: 'new in list', authorId: 4, published: true });
  db.sql.take();
  await Article.findAll(author5);
  // The list is still valid: its rows, warmed copies the insert's warm token
  // rotation retired, are read once by key, and the list query is not run.
  const byKey = db.sql.selects();
  t.true(byKey.length <= 1 && byKey.every((s) => /`Article`\.`id` IN \(/.test(s) && !/author_id/.test(s.split('WHERE')[1] ?? '')), byKey.join(' / '));
  await Article.findAll(author5);
  t.deepEqual(db.sql.selects(), [], 'an insert leaves lists pinned to other values cached');
  const after = await cachedTwice(t, Article, published4);
  t.true((after.cached as { id: number }[]).some((a) => a.id === created.id));
  await created.destroy();
  t.false(((await cachedTwice(t, Article, published4)).cached as { id: number }[]).some((a) => a.id === created.id));
  await Article.bulkCreate([{ title: 'bulk a', authorId: 4, published: true }, { title: 'bulk b', authorId: 4, published: false }]);
  await cachedTwice(t, Article, published4);
  const comments = { where: { articleId: 9 }, order: [['id', 'ASC']] as [string, string][] };
  await cachedTwice(t, Comment, comments);
  const comment = (await Comment.findOne({ where: { articleId: 9 } }))!;
  await comment.destroy();
  t.is(((await cachedTwice(t, Comment, comments)).cached as unknown[]).length, 1);
  await comment.restore();
  t.is(((await cachedTwice(t, Comment, comments)).cached as unknown[]).length, 2);
});

test.serial('bulk writes, increments, upserts and raw SQL invalidate the lists they affect', async (t) => {
  const { db } = t.context;
  const { Article, Author } = db.models;
  const lists: FindOptions[] = [
    { where: { published: true }, order: [['id', 'ASC']] },
    { where: { authorId: 5 }, order: [['views', 'DESC'], ['id', 'ASC']] },
    { where: { views: { [Op.lt]: 100 } }, order: [['id', 'ASC']] },
  ];
  const check = async () => {
    for (const options of lists) await cachedTwice(t, Article, options);
  };
  await check();
  await Article.update({ published: false }, { where: { id: [10, 11] } });
  await check();
  await Article.update({ published: true }, { where: { title: { [Op.like]: '%lock%' } } });
  await check();
  await Article.increment('views', { by: 1_000_000_000_000, where: { authorId: 5 } });
  await check();
  await (await Article.findByPk(12))!.decrement('views', { by: 1 });
  await check();
  await db.sequelize.query('UPDATE articles SET views = 5 WHERE id IN (13, 14)');
  await check();
  await Article.destroy({ where: { id: 15 } });
  await check();
  await Article.bulkCreate([{ id: 16, title: 'dup', authorId: 5, views: 1, published: true }], { updateOnDuplicate: ['authorId', 'views', 'published'] });
  await check();
  const authors = { where: { name: { [Op.ne]: 'nobody' } }, order: [['id', 'ASC']] } as FindOptions;
  await cachedTwice(t, Author, authors);
  await Author.upsert({ id: 5, name: 'Upserted Five', email: 'author5@example.test' });
  await cachedTwice(t, Author, authors);
});

test.serial('text conditions are compared the way MariaDB compares them', async (t) => {
  const { db } = t.context;
  const { Author } = db.models;
  const shouting = { where: { name: 'AUTHOR 2  ' } };
  const { cached } = await cachedTwice(t, Author, shouting);
  t.is((cached as unknown[]).length, 1, 'case and trailing spaces are ignored by the collation');
  await (await Author.findByPk(2))!.update({ name: 'Author Two' });
  t.is(((await cachedTwice(t, Author, shouting)).cached as unknown[]).length, 0);
});

test.serial('a write inside a transaction invalidates lists when it commits', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  const list = { where: { authorId: 6 }, order: [['id', 'ASC']] as [string, string][] };
  const before = (await cachedTwice(t, Article, list)).cached as unknown[];
  const transaction = await db.sequelize.transaction();
  await Article.create({ title: 'in transaction', authorId: 6 }, { transaction });
  t.is((await Article.findAll(list)).length, before.length);
  await transaction.commit();
  t.is(((await cachedTwice(t, Article, list)).cached as unknown[]).length, before.length + 1);
});

test.serial('a row deleted behind the cache raises one InvalidationWarning and the list is rebuilt', async (t) => {
  const { db, cache, probe } = t.context;
  const { Article } = db.models;
  const list = { where: { authorId: 3 }, order: [['id', 'ASC']] as [string, string][] };
  const rows = (await cachedTwice(t, Article, list)).cached as { id: number }[];
  const victim = rows[0]!.id;
  const rowKey = probe.results.find((r) => r.op === 'add' && r.key.includes(':Article:') && r.key.endsWith(`:r:${victim}`))?.key;
  t.truthy(rowKey, 'the row was filled by the list read');
  await probe.inner.delete(rowKey!);
  const other = await mysql.createConnection(db.url);
  await other.query('DELETE FROM article_tags WHERE articleId = ?', [victim]);
  await other.query('DELETE FROM comments WHERE articleId = ?', [victim]);
  await other.query('DELETE FROM articles WHERE id = ?', [victim]);
  await other.end();
  const warnings: InvalidationWarning[] = [];
  const listener = (w: InvalidationWarning) => warnings.push(w);
  cache.on('invalidationWarning', listener);
  t.teardown(() => cache.off('invalidationWarning', listener));
  const result = (await Article.findAll(list)) as { id: number }[];
  t.deepEqual(result.map((a) => a.id), rows.slice(1).map((a) => a.id));
  t.is(warnings.length, 1);
  t.is(warnings[0]!.model, 'Article');
  t.deepEqual(warnings[0]!.missing, [victim]);
  t.is(((await cachedTwice(t, Article, list)).selects), 0, 'the rebuilt list is cached again');
  t.is(warnings.length, 1);
});

test.serial('a lost scheme registry invalidates lists instead of letting them go stale', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  const list = { where: { authorId: 2 }, order: [['id', 'ASC']] as [string, string][] };
  await cachedTwice(t, Article, list);
  const registry = probe.results.find((r) => r.key.includes(':Article:') && r.key.endsWith(':s'))!.key;
  await probe.inner.delete(registry);
  db.sql.take();
  await Article.findAll(list);
  t.is(db.sql.selects().length, 1);
});

test.serial('cache: { key } names the entry and cache: { refresh: true } rebuilds it', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  const options = { where: { published: false }, order: [['id', 'ASC']] as [string, string][], cache: { key: 'unpublished' } };
  await cachedTwice(t, Article, options);
  db.sql.take();
  await Article.findAll({ ...options, cache: { key: 'unpublished', refresh: true } });
  t.is(db.sql.selects().length, 1);
  await Article.findAll(options);
  t.is(db.sql.selects().length, 0);
});

test.serial('queries calling volatile SQL functions are never cached', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  const fn = db.sequelize.fn;
  const options = { where: { publishedAt: { [Op.lt]: fn('NOW') } }, order: [['id', 'ASC']] as [string, string][] };
  await Article.findAll(options);
  db.sql.take();
  await Article.findAll(options);
  t.is(db.sql.selects().length, 1);
  await Article.findAll({ order: db.sequelize.random(), limit: 3 });
  await Article.findAll({ order: db.sequelize.random(), limit: 3 });
  t.is(db.sql.selects().length, 2);
});

test.serial('a list read while this process still warms the rows of that list waits for them instead of reading them from the database', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  const isRow = (key: string) => key.includes(':Article:') && key.includes(':r:');
  // Warmed copies of author 2's articles, then retired by a write to another
  // author's article (it rotates the model's warm token, not their list's).
  await Article.findAll({ where: { authorId: 2 }, order: [['id', 'ASC']] });
  const other = await Article.findOne({ where: { authorId: { [Op.ne]: 2 } }, cache: false });
  await other!.update({ title: 'retires warmed copies' });
  await t.context.cache.settled();
  // A new list of those rows: its fill warms them again, and replacing an
  // invalid copy takes `add`, `gets` and `cas`. Hold that `cas`.
  const newer: FindOptions = { where: { authorId: 2 }, order: [['id', 'DESC']] };
  const warming = probe.pauseNext('cas', isRow);
  const filled = (await Article.findAll(newer)) as { id: number }[];
  const held = await warming.reached;
  t.true(filled.some((a) => held.key.endsWith(`:r:${a.id}`)));
  // The next read finds its entry, and the held row still invalid in memcached.
  const lookup = probe.pauseNext('getMulti', (keys) => keys.split(' ').includes(held.key));
  db.sql.take();
  const second = Article.findAll(newer);
  await lookup.reached;
  lookup.release();
  while (!probe.results.some((r) => r.op === 'getMulti' && r.key.split(' ').includes(held.key))) await new Promise(setImmediate);
  warming.release();
  t.deepEqual(plain(await second), plain(filled));
  t.deepEqual(db.sql.selects(), [], 'the row was waited for, not read again');
});

test.serial('a write during a list fill leaves the stored list invalid', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  const list = { where: { authorId: 4 }, order: [['id', 'ASC']] as [string, string][], cache: { key: 'race' } };
  await Article.findAll({ ...list, cache: false });
  await db.sequelize.query('SELECT 1');
  const gate = probe.pauseNext('set', (key) => key.includes(':q:'));
  const reader = Article.findAll(list);
  await gate.reached; // the reader read the database and is about to store the list
  const moved = (await Article.findOne({ where: { authorId: 4 }, cache: false }))!;
  await moved.update({ authorId: 1 });
  gate.release();
  await reader;
  db.sql.take();
  const after = (await Article.findAll(list)) as { id: number }[];
  t.true(db.sql.selects().length >= 1, 'the list stored with old tokens was not served');
  t.false(after.some((a) => a.id === moved.id));
});

test.serial('a bulk update inside a transaction invalidates only the rows it changed and their lists', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  const other = { where: { authorId: 2 }, order: [['id', 'ASC']] as [string, string][] };
  const target = { where: { authorId: 1 }, order: [['id', 'ASC']] as [string, string][] };
  await cachedTwice(t, Article, other);
  await cachedTwice(t, Article, target);
  const bystander = (await Article.findOne({ where: { authorId: 2 }, cache: false }))!.id;
  await Article.findByPk(bystander);
  await db.sequelize.transaction((transaction) => Article.update({ published: false, title: 'bulk in transaction' }, { where: { authorId: 1 }, transaction }));
  db.sql.take();
  await Article.findAll(other);
  await Article.findByPk(bystander);
  t.is(db.sql.selects().length, 0, 'rows and lists the update did not touch stay cached');
  const after = (await cachedTwice(t, Article, target)).cached as { title: string }[];
  t.true(after.length > 0 && after.every((a) => a.title === 'bulk in transaction'));
  await db.sequelize.transaction((transaction) => Article.destroy({ where: { authorId: 1, title: 'bulk in transaction' }, transaction }));
  db.sql.take();
  await Article.findAll(other);
  t.is(db.sql.selects().length, 0);
  t.deepEqual((await cachedTwice(t, Article, target)).cached, []);
});

test.serial('a scheme another app registers after this one last read the registry is still rotated by its writes', async (t) => {
  const { db, cache, probe } = t.context;
  const { ormCache } = await import('../../source');
  const other = await db.connect();
  const second = ormCache.install(other.sequelize, { store: probe, namespace: cache.options.namespace });
  t.teardown(() => second.uninstall());
  // This app writes once, so it has read the registry (without the new scheme).
  const article = (await db.models.Article.findOne({ where: { authorId: 4 }, cache: false }))!;
  await article.update({ title: 'learns the registry' });
  // The other app caches a list by a scheme nobody used before.
  const list = { where: { views: article.views }, order: [['id', 'ASC']] as [string, string][] };
  const before = await other.models.Article.findAll(list);
  t.true(before.some((a) => a.id === article.id));
  // This app's write moves the row out of that list: its early rotation knows
  // nothing of `views`; the registry read in the same write must catch it.
  await article.update({ views: Number(article.views) + 1_000_000 });
  other.sql.take();
  const after = await other.models.Article.findAll(list);
  t.is(other.sql.selects().length, 1, 'the list was invalidated');
  t.false(after.some((a) => a.id === article.id));
});
