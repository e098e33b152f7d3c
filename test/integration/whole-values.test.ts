/**
 * Queries pointers cannot represent (includes, grouping, aggregates, counts)
 * cached as whole values that depend on every model they read.
 */
import anyTest, { type TestFn } from 'ava';
import mysql from 'mysql2/promise';
import { type FindOptions, Op } from 'sequelize';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'whole_values', { authors: 5, articles: 30, commentsPerArticle: 3, tags: 6 });

const plain = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(plain) : v && typeof v === 'object' && 'get' in v ? (v as { get(o: object): unknown }).get({ plain: true }) : v;

type Finder = { findAll(o?: FindOptions): Promise<unknown[]>; findOne(o?: FindOptions): Promise<unknown> };

async function cachedTwice(t: import('ava').ExecutionContext<CachedBlog>, read: (o: { cache?: boolean }) => Promise<unknown>, label: string) {
  const { db } = t.context;
  await read({});
  db.sql.take();
  const cached = await read({});
  const selects = db.sql.selects().length;
  const truth = await read({ cache: false });
  t.deepEqual(plain(cached), plain(truth), label);
  return { cached, selects };
}

function includeQueries(t: import('ava').ExecutionContext<CachedBlog>): [string, (o: { cache?: boolean }) => Promise<unknown>][] {
  const { Article, Author, Comment, Tag } = t.context.db.models;
  const f = (model: Finder, options: FindOptions, one = false) => (o: { cache?: boolean }) =>
    one ? model.findOne({ ...options, ...o }) : model.findAll({ ...options, ...o });
  return [
    ['belongsTo', f(Article, { where: { published: true }, include: [Author], order: [['id', 'ASC']] })],
    ['hasMany with limit', f(Article, { include: [{ model: Comment }, { model: Author }], order: [['id', 'DESC']], limit: 4 })],
    ['three levels', f(Author, { where: { id: [1, 2] }, include: [{ model: Article, include: [Comment] }], order: [['id', 'ASC'], ['articles', 'id', 'ASC'], ['articles', 'comments', 'id', 'ASC']] })],
    ['belongsToMany with through attributes', f(Article, { where: { id: { [Op.lte]: 6 } }, include: [{ model: Tag, through: { attributes: ['weight'] } }], order: [['id', 'ASC'], ['tags', 'name', 'ASC']] })],
    ['required include with where', f(Article, { include: [{ model: Comment, where: { body: { [Op.like]: '%cache%' } } }], order: [['id', 'ASC']] })],
    ['raw include', f(Article, { where: { id: [1, 2] }, include: [Author], raw: true, order: [['id', 'ASC']] })],
    ['findOne with include', f(Article, { where: { id: 3 }, include: [Author, Comment] }, true)],
    ['separate include', f(Article, { where: { authorId: 2 }, include: [{ model: Comment, separate: true, order: [['id', 'ASC']] }], order: [['id', 'ASC']] })],
    ['group by', f(Article, { attributes: ['authorId', [t.context.db.sequelize.fn('count', t.context.db.sequelize.col('id')), 'n']], group: ['authorId'], order: [['authorId', 'ASC']], raw: true })],
  ];
}

test.serial('includes, 1 to 3 levels, and grouped queries are served with no SQL and equal the uncached result', async (t) => {
  for (const [label, read] of includeQueries(t)) {
    const { selects } = await cachedTwice(t, read, label);
    t.is(selects, 0, label);
  }
});

test.serial('writes to any model a query reads invalidate it', async (t) => {
  const { db } = t.context;
  const { Article, Author, Comment, Tag } = db.models;
  const queries = includeQueries(t);
  const check = async (what: string) => {
    for (const [label, read] of queries) await cachedTwice(t, read, `${label} after ${what}`);
  };
  await check('nothing');
  await (await Comment.findOne({ where: { articleId: 30 } }))!.update({ body: 'cache comment rewritten' });
  await check('a comment update');
  await (await Author.findByPk(2))!.update({ name: 'Renamed author' });
  await check('an author update');
  const article = (await Article.findByPk(2))!;
  const tags = await Tag.findAll({ limit: 2, order: [['name', 'DESC']] });
  await (article as unknown as { setTags(t: unknown[]): Promise<unknown> }).setTags(tags);
  await check('setTags');
  await (article as unknown as { createComment(v: object): Promise<unknown> }).createComment({ body: 'cache via association', authorId: 1 });
  await check('createComment');
  await Comment.destroy({ where: { articleId: 1 } });
  await check('a bulk destroy');
  await db.sequelize.query('UPDATE comments SET body = ? WHERE articleId = 5', { replacements: ['raw cache'] });
  await check('raw SQL');
});

test.serial('count, findAndCountAll and aggregates are cached and invalidated', async (t) => {
  const { db } = t.context;
  const { Article, Author } = db.models;
  const reads: [string, (o: { cache?: boolean }) => Promise<unknown>][] = [
    ['count', (o) => Article.count({ where: { published: true }, ...o })],
    ['count with include', (o) => Article.count({ include: [{ model: Author, where: { id: [1, 3] } }], distinct: true, col: 'id', ...o })],
    ['findAndCountAll', async (o) => {
      const { count, rows } = await Article.findAndCountAll({ where: { authorId: 3 }, order: [['id', 'ASC']], limit: 2, ...o });
      return { count, rows: plain(rows) };
    }],
    ['max', (o) => Article.max('views', { where: { authorId: 4 }, ...(o as object) })],
    ['sum', (o) => Article.sum('views', { ...(o as object) })],
  ];
  for (const [label, read] of reads) t.is((await cachedTwice(t, read, label)).selects, 0, label);
  await Article.create({ title: 'counted', authorId: 3, published: true, views: 5_000_000_000 });
  for (const [label, read] of reads) await cachedTwice(t, read, `${label} after a create`);
  await Article.update({ views: 1 }, { where: { authorId: 4 } });
  for (const [label, read] of reads) await cachedTwice(t, read, `${label} after a bulk update`);
});

test.serial('forget() drops one entry without SQL', async (t) => {
  const { db, cache } = t.context;
  const { Article } = db.models;
  const options = { where: { authorId: 1 }, order: [['id', 'ASC']] as [string, string][] };
  await Article.findAll(options);
  await Article.findByPk(7);
  db.sql.take();
  await cache.forget(Article, options);
  await cache.forget(Article, { where: { id: 7 } });
  await cache.forget(Article, { where: { id: 7 }, transaction: undefined, cache: false });
  t.is(db.sql.take().length, 0, 'forget ran no SQL at all');
  await Article.findAll(options);
  await Article.findByPk(7);
  t.is(db.sql.selects().length, 2);
});

test.serial('cache: { dependsOn } ties a literal subquery to the models it reads', async (t) => {
  const { db } = t.context;
  const { Article, Author } = db.models;
  const literal = db.sequelize.literal("author_id IN (SELECT id FROM authors WHERE name LIKE 'Author 1%')");
  const read = (o: { cache?: boolean }) =>
    Article.findAll({ where: literal as never, order: [['id', 'ASC']], cache: o.cache === false ? false : { dependsOn: [Author] } });
  const before = (await cachedTwice(t, read, 'literal')).cached as unknown[];
  await (await Author.findByPk(1))!.update({ name: 'Someone else' });
  const after = (await cachedTwice(t, read, 'literal after author rename')).cached as unknown[];
  t.true(after.length < before.length || before.length === 0);
});

test.serial('models: { X: { dependsOn } } registers a model dependency for every entry of X', async (t) => {
  const { db } = t.context;
  const other = await db.connect();
  const { MemoryStore, ormCache } = await import('../../source');
  const cache = ormCache.install(other.sequelize, { store: new MemoryStore(), models: { Article: { dependsOn: ['Author'] } } });
  t.teardown(() => cache.uninstall());
  const { Article, Author } = other.models;
  const literal = other.sequelize.literal("author_id IN (SELECT id FROM authors WHERE name LIKE 'Dependent%')");
  const read = () => Article.findAll({ where: literal as never, order: [['id', 'ASC']] });
  t.deepEqual(await read(), []);
  await (await Author.findByPk(3))!.update({ name: 'Dependent author' });
  t.deepEqual((await read()).map((a) => a.authorId), (await Article.findAll({ where: { authorId: 3 }, order: [['id', 'ASC']], cache: false })).map((a) => a.authorId));
});

test.serial('includes are stored as pointers: a missing child row is fetched by key, a deleted one rebuilds the tree', async (t) => {
  const { db, cache, probe } = t.context;
  const { Article, Author, Comment } = db.models;
  const read = (o: { cache?: boolean } = {}) =>
    Article.findAll({ where: { id: [20, 21] }, include: [Author, Comment], order: [['id', 'ASC'], ['comments', 'id', 'ASC']], ...o });
  await read();
  await read(); // rows that held tombstones from earlier tests are filled by this hit
  const comment = (await Comment.findOne({ where: { articleId: 20 }, cache: false }))!;
  const commentKey = cache.keys.row(cache.schemaOf(Comment)!, String(comment.id));
  t.truthy(await probe.inner.get(commentKey), 'the comment is in the row cache');
  await probe.inner.delete(commentKey);
  db.sql.take();
  const again = await read();
  const selects = db.sql.selects();
  t.is(selects.length, 1);
  t.regex(selects[0]!, /FROM `comments`.*IN \(/, 'only the missing comment, by key');
  t.deepEqual(plain(again), plain(await read({ cache: false })));

  await probe.inner.delete(commentKey);
  const other = await mysql.createConnection(db.url);
  await other.query('DELETE FROM comments WHERE id = ?', [comment.id]);
  await other.end();
  const warnings: unknown[] = [];
  const listener = (w: unknown) => warnings.push(w);
  cache.on('invalidationWarning', listener);
  t.teardown(() => cache.off('invalidationWarning', listener));
  t.deepEqual(plain(await read()), plain(await read({ cache: false })));
  t.is(warnings.length, 1, 'the pointer to the deleted comment raised one InvalidationWarning');
});

test.serial('a child write invalidates only the trees of the parents it leaves or joins', async (t) => {
  const { db } = t.context;
  const { Article, Comment } = db.models;
  const tree = (ids: number[]) => (o: { cache?: boolean }) =>
    Article.findAll({ where: { id: ids }, include: [Comment], order: [['id', 'ASC'], ['comments', 'id', 'ASC']], ...o });
  await cachedTwice(t, tree([11, 12]), 'tree 11-12');
  await cachedTwice(t, tree([13, 14]), 'tree 13-14');
  const comment = (await Comment.findOne({ where: { articleId: 11 }, cache: false }))!;
  await comment.update({ body: 'edited child' });
  db.sql.take();
  await tree([13, 14])({});
  // The tree's entry stays; its comment rows, copied in by the tree's own read
  // (warmed), are retired by any Comment write and read once more, by key.
  const selects = db.sql.selects();
  t.true(selects.length <= 1 && selects.every((sql) => !/JOIN/i.test(sql)), "the other parents' tree stayed cached");
  await tree([13, 14])({});
  t.is(db.sql.selects().length, 0, 'then its rows are served from the cache too');
  await cachedTwice(t, tree([11, 12]), 'tree 11-12 after the edit');
  await comment.update({ articleId: 13 });
  await cachedTwice(t, tree([11, 12]), 'tree 11-12 after the move');
  await cachedTwice(t, tree([13, 14]), 'tree 13-14 after the move');
});

test.serial('a child write between the tree read and its relation tokens leaves nothing stored', async (t) => {
  const { db, probe } = t.context;
  const { Article, Comment } = db.models;
  const read = (o: { cache?: boolean } = {}) =>
    Article.findAll({ where: { id: [15, 16] }, include: [Comment], order: [['id', 'ASC'], ['comments', 'id', 'ASC']], cache: { key: 'tree-race', ...o } });
  // The read of the relation tokens: only Comment conjunction keys, one per parent.
  const relationRead = (joined: string) => {
    const keys = joined.split(' ');
    return keys.length >= 2 && keys.every((k) => k.includes(':Comment:') && k.includes(':c:'));
  };
  const gate = probe.pauseNext('getMulti', relationRead);
  const reader = read();
  await gate.reached; // the joined rows are read; the relation tokens are not yet
  const comment = await Comment.create({ articleId: 15, authorId: 1, body: 'created in the window' });
  gate.release();
  await reader;
  const after = (await read()) as unknown as { comments: { id: number }[] }[];
  t.true(after[0]!.comments.some((c) => c.id === comment.id), 'the tree built before the insert was not stored');
});

test.serial('addTag, removeTag and truncate invalidate what they change', async (t) => {
  const { db } = t.context;
  const { Article, Tag, ArticleTag } = db.models;
  const tagged = (o: { cache?: boolean }) =>
    Article.findAll({ where: { id: [3, 4] }, include: [{ model: Tag, through: { attributes: ['weight'] } }], order: [['id', 'ASC'], ['tags', 'name', 'ASC']], ...o });
  const links = (o: { cache?: boolean }) => ArticleTag.findAll({ where: { articleId: 3 }, order: [['tagId', 'ASC']], ...o });
  await cachedTwice(t, tagged, 'tagged');
  await cachedTwice(t, links, 'links');
  const article = (await Article.findByPk(3))!;
  const extra = (await Tag.findAll({ order: [['name', 'ASC']], limit: 1, cache: false }))[0]!;
  type Tags = { addTag(t: unknown, o?: object): Promise<unknown>; removeTag(t: unknown): Promise<unknown> };
  await (article as unknown as Tags).removeTag(extra);
  await (article as unknown as Tags).addTag(extra, { through: { weight: 9 } });
  await cachedTwice(t, tagged, 'tagged after addTag');
  await cachedTwice(t, links, 'links after addTag');
  await (article as unknown as Tags).removeTag(extra);
  await cachedTwice(t, tagged, 'tagged after removeTag');
  await cachedTwice(t, links, 'links after removeTag');
  await ArticleTag.truncate();
  t.deepEqual(await links({}), []);
  await cachedTwice(t, tagged, 'tagged after truncate');
});
