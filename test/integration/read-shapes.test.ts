/**
 * Query shapes that must behave exactly as uncached: attribute lists
 * Sequelize resolves late, no columns at all, and SQL text inside a read.
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import mysql from 'mysql2/promise';
import type { FindOptions } from 'sequelize';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'read_shapes', { authors: 4, articles: 16, commentsPerArticle: 1 });

const plain = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(plain) : v && typeof v === 'object' && 'get' in v ? (v as { get(o: object): unknown }).get({ plain: true }) : v;

type Finder = { findAll(o?: FindOptions): Promise<unknown[]> };

/** Read twice through the cache and once around it: all three equal. */
async function sameAsUncached(t: ExecutionContext<CachedBlog>, model: Finder, options: FindOptions) {
  const first = await model.findAll(options);
  const second = await model.findAll(options);
  const truth = await model.findAll({ ...options, cache: false });
  t.deepEqual(plain(first), plain(truth));
  t.deepEqual(plain(second), plain(truth));
  return second;
}

test.serial("an included model's default scope with attributes: { exclude } is applied as uncached", async (t) => {
  const { Article, Author } = t.context.db.models;
  Author.addScope('defaultScope', { attributes: { exclude: ['bio', 'email'] } }, { override: true });
  t.teardown(() => Author.addScope('defaultScope', {}, { override: true }));
  const articles = (await sameAsUncached(t, Article as unknown as Finder, { where: { id: [1, 2] }, include: [Author], order: [['id', 'ASC']] })) as {
    author: { get(o: object): Record<string, unknown> };
  }[];
  t.false('email' in (articles[0]?.author.get({ plain: true }) ?? { email: 1 }));
});

test.serial('findAll({ attributes: [] }) rejects as it does uncached, and an include may carry every column', async (t) => {
  const { Article, Author } = t.context.db.models;
  const uncached = await Article.findAll({ attributes: [], cache: false }).catch((error: Error) => error);
  t.true(uncached instanceof Error);
  const cached = await Article.findAll({ attributes: [] }).catch((error: Error) => error);
  t.true(cached instanceof Error);
  t.is((cached as Error).message, (uncached as Error).message);
  t.is((cached as Error).constructor, (uncached as Error).constructor);
  await sameAsUncached(t, Article as unknown as Finder, { attributes: [], include: [{ model: Author, attributes: ['name'] }], where: { id: 3 }, raw: true });
});

test.serial('a literal naming another table depends on its model; a literal reading an unknown table is not cached', async (t) => {
  const { db } = t.context;
  const { Article, Author } = db.models;
  const literal = db.sequelize.literal("author_id IN (SELECT id FROM authors WHERE name LIKE 'renamed%')");
  const read = async () => ((await Article.findAll({ where: literal, order: [['id', 'ASC']] })) as unknown as { id: number }[]).map((a) => a.id);
  t.deepEqual(await read(), []);
  t.deepEqual(await read(), []);
  await Author.update({ name: 'renamed by the test' }, { where: { id: 2 } });
  const expected = ((await Article.findAll({ where: { authorId: 2 }, order: [['id', 'ASC']], cache: false })) as unknown as { id: number }[]).map((a) => a.id);
  t.true(expected.length > 0);
  t.deepEqual(await read(), expected, 'the authors write invalidated the list');

  const unknown = db.sequelize.literal('author_id IN (SELECT 1 FROM information_schema.tables WHERE 0)');
  const bypassed = () => db.sequelize.models.Article?.findAll({ where: unknown });
  const before = t.context.cache.metrics.snapshot().models.Article?.list.bypassed ?? 0;
  await bypassed();
  await bypassed();
  t.is((t.context.cache.metrics.snapshot().models.Article?.list.bypassed ?? 0) - before, 2);
});

test.serial('cache: { refresh: true } after a write behind the cache leaves no old row to later reads', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  const titles = async (options: FindOptions = {}) =>
    ((await Article.findAll({ where: { authorId: 1 }, order: [['id', 'ASC']], ...options })) as unknown as { title: string }[]).map((a) => a.title);
  await titles();
  await titles();
  const first = (await Article.findAll({ where: { authorId: 1 }, order: [['id', 'ASC']], limit: 1, cache: false }))[0] as unknown as { id: number };
  await Article.findByPk(first.id);
  const outside = await mysql.createConnection(db.url);
  t.teardown(() => outside.end());
  await outside.query("UPDATE articles SET title = 'changed behind the cache' WHERE id = ?", [first.id]);
  t.not((await titles())[0], 'changed behind the cache', 'served from the cache, as expected without an invalidation');
  t.is((await titles({ cache: { refresh: true } }))[0], 'changed behind the cache');
  await t.context.cache.settled();
  t.is((await titles())[0], 'changed behind the cache');
  t.is(((await Article.findByPk(first.id)) as unknown as { title: string }).title, 'changed behind the cache');
});

test.serial('rows a list read right after writes of them are stored, so the next reads run no SQL', async (t) => {
  const { db, cache } = t.context;
  const { Article } = db.models;
  for (const id of [11, 12, 13]) await Article.update({ title: `written ${id}` }, { where: { id } });
  const created = (await Article.create({ title: 'written new', authorId: 3 })) as unknown as { id: number };
  const ids = [11, 12, 13, created.id];
  const read = async () => ((await Article.findAll({ where: { id: ids }, order: [['id', 'ASC']] })) as unknown as { title: string }[]).map((a) => a.title);
  const rejectedBefore = cache.metrics.snapshot().models.Article?.row.fillsRejected ?? 0;
  t.deepEqual(await read(), ['written 11', 'written 12', 'written 13', 'written new']);
  await cache.settled();
  db.sql.take();
  t.deepEqual(await read(), ['written 11', 'written 12', 'written 13', 'written new']);
  for (const id of ids) await Article.findByPk(id);
  t.is(db.sql.selects().length, 0, 'the list and its rows are hits');
  t.is((cache.metrics.snapshot().models.Article?.row.fillsRejected ?? 0) - rejectedBefore, 0);
});

test.serial('a row read before a write that began after the read cannot replace that write\'s tombstone', async (t) => {
  const { db, probe, cache } = t.context;
  const { Article } = db.models;
  await Article.update({ title: 'first write' }, { where: { id: 14 } });
  const schema = cache.schemaOf(Article);
  const rowKey = schema ? cache.keys.row(schema, '14') : '';
  const held = probe.pauseNext('add', (key) => key === rowKey);
  await Article.findAll({ where: { id: [14, 15] } }); // its warming of row 14 is held
  await held.reached;
  await Article.update({ title: 'second write' }, { where: { id: 14 } });
  held.release();
  await cache.settled();
  t.is(((await Article.findByPk(14)) as unknown as { title: string }).title, 'second write');
});
