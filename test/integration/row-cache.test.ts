/**
 * The row cache against real MariaDB and memcached: hits proved by counting
 * SQL statements, transparency proved by comparing with uncached reads.
 */
import anyTest, { type TestFn } from 'ava';
import { Op } from 'sequelize';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'row_cache', { authors: 6, articles: 40, commentsPerArticle: 2, tags: 6 });

test.serial('a second findByPk of the same row issues no SQL', async (t) => {
  const { db } = t.context;
  const first = await db.models.Article.findByPk(2);
  t.is(db.sql.selects().length, 1);
  const second = await db.models.Article.findByPk(2);
  t.is(db.sql.selects().length, 0);
  t.deepEqual(second?.get({ plain: true }), first?.get({ plain: true }));
});

test.serial('cached rows are real instances: class, isNewRecord, getters, save() and reload()', async (t) => {
  const { db } = t.context;
  const { Author } = db.models;
  await Author.findByPk(3);
  const author = await Author.findByPk(3);
  t.is(db.sql.selects().length, 1);
  t.true(author instanceof Author);
  t.false(author!.isNewRecord);
  t.is(author!.displayName, `Author 3 <author3@example.test>`);
  t.false(author!.changed());
  author!.name = 'Renamed';
  await author!.save();
  t.is((await Author.findByPk(3))!.name, 'Renamed');
  await author!.reload();
  t.is(author!.name, 'Renamed');
});

test.serial('every seeded row reads back from the cache exactly as from the database', async (t) => {
  const { db } = t.context;
  for (const model of [db.models.Article, db.models.Author, db.models.Comment] as const) {
    const ids = (await (model as typeof db.models.Article).findAll({ attributes: ['id'], cache: false })).map((r) => r.id);
    for (const id of ids) {
      const uncached = await (model as typeof db.models.Article).findByPk(id, { cache: false });
      await (model as typeof db.models.Article).findByPk(id);
      db.sql.take();
      const cached = await (model as typeof db.models.Article).findByPk(id);
      t.is(db.sql.selects().length, 0, `${model.name} ${id} served from the cache`);
      t.deepEqual(cached!.get({ plain: true }), uncached!.get({ plain: true }), `${model.name} ${id}`);
      const rawCached = await (model as typeof db.models.Article).findByPk(id, { raw: true });
      const rawUncached = await (model as typeof db.models.Article).findByPk(id, { raw: true, cache: false });
      t.deepEqual(rawCached, rawUncached);
    }
  }
  const article = await db.models.Article.findByPk(1);
  t.true(article!.publishedAt instanceof Date || article!.publishedAt === null);
  const withCover = await db.models.Article.findByPk(3);
  t.true(Buffer.isBuffer(withCover!.cover));
  t.deepEqual([...withCover!.cover!], [0, 13, 10, 255, 32, 3]);
  t.is(String(article!.views), '9007199254740993', 'BIGINT beyond 2^53 keeps every digit');
});

test.serial('an attribute subset is projected from the cached full row', async (t) => {
  const { db } = t.context;
  await db.models.Article.findByPk(5);
  db.sql.take();
  const subset = await db.models.Article.findByPk(5, { attributes: ['id', 'title', 'authorId'] });
  const raw = await db.models.Article.findByPk(5, { attributes: ['title', ['views', 'viewCount']], raw: true });
  t.is(db.sql.selects().length, 0);
  const uncached = await db.models.Article.findByPk(5, { attributes: ['id', 'title', 'authorId'], cache: false });
  t.deepEqual(subset!.get({ plain: true }), uncached!.get({ plain: true }));
  t.deepEqual(Object.keys(subset!.get({ plain: true })).sort(), ['authorId', 'id', 'title']);
  const rawUncached = await db.models.Article.findByPk(5, { attributes: ['title', ['views', 'viewCount']], raw: true, cache: false });
  t.deepEqual(raw, rawUncached);
});

test.serial('findOne and findAll whose where is exactly the primary key use the row cache', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  await Article.findByPk(6);
  db.sql.take();
  const one = await Article.findOne({ where: { id: 6 } });
  const eq = await Article.findOne({ where: { id: { [Op.eq]: 6 } } });
  const all = await Article.findAll({ where: { id: '6' } });
  t.is(db.sql.selects().length, 0);
  t.is(one!.id, 6);
  t.is(eq!.id, 6);
  t.is(all.length, 1);
  t.is(all[0]!.id, 6);
  t.is(await Article.findByPk(987654), null, 'a missing row is null');
  t.deepEqual(await Article.findAll({ where: { id: 987654 } }), []);
});

test.serial('a composite primary key is cached as one row', async (t) => {
  const { db } = t.context;
  const { ArticleTag } = db.models;
  const link = (await ArticleTag.findOne({ where: { articleId: 1 }, cache: false }))!;
  const where = { articleId: link.articleId, tagId: link.tagId };
  await ArticleTag.findOne({ where });
  db.sql.take();
  const cached = await ArticleTag.findOne({ where });
  t.is(db.sql.selects().length, 0);
  t.deepEqual(cached!.get({ plain: true }), link.get({ plain: true }));
  await ArticleTag.update({ weight: 99 }, { where });
  t.is((await ArticleTag.findOne({ where }))!.weight, 99);
});

test.serial('a UUID key hits the cache, and another spelling of it never returns the wrong row', async (t) => {
  const { db } = t.context;
  const { Tag } = db.models;
  const id = db.seeded.tagIds[0]!;
  await Tag.findByPk(id);
  db.sql.take();
  t.is((await Tag.findByPk(id))!.id, id);
  t.is(db.sql.selects().length, 0);
  const upper = await Tag.findByPk(id.toUpperCase());
  const upperUncached = await Tag.findByPk(id.toUpperCase(), { cache: false });
  t.deepEqual(upper?.get({ plain: true }) ?? null, upperUncached?.get({ plain: true }) ?? null);
});

test.serial('a soft-deleted row is hidden from findByPk and found with paranoid: false', async (t) => {
  const { db } = t.context;
  const { Comment } = db.models;
  const comment = (await Comment.findByPk(4))!;
  await Comment.findByPk(5);
  await comment.destroy();
  db.sql.take();
  await Comment.findByPk(5);
  t.is(db.sql.selects().length, 0, 'a soft delete invalidates its own row only');
  t.is(await Comment.findByPk(4), null);
  const deleted = await Comment.findByPk(4, { paranoid: false });
  t.truthy(deleted?.deletedAt);
  db.sql.take();
  t.is(await Comment.findByPk(4), null);
  t.truthy((await Comment.findByPk(4, { paranoid: false }))?.deletedAt);
  t.is(db.sql.selects().length, 0, 'both answered from the one cached row');
  await deleted!.restore();
  t.is((await Comment.findByPk(4))!.id, 4);
});

test.serial('full-row results of other queries warm the row cache', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  const list = await Article.findAll({ where: { id: { [Op.between]: [20, 25] } } });
  t.is(list.length, 6);
  db.sql.take();
  for (const id of [20, 21, 22, 23, 24, 25]) await Article.findByPk(id);
  t.is(db.sql.selects().length, 0);
});

test.serial('after save() returns, reads see the new values', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  const article = (await Article.findByPk(7))!;
  await Article.findByPk(7);
  article.title = 'fresh title';
  article.metadata = { changed: true };
  await article.save();
  const read = (await Article.findByPk(7))!;
  t.is(read.title, 'fresh title');
  t.deepEqual(read.metadata, { changed: true });
  await article.update({ title: 'via update' });
  t.is((await Article.findByPk(7))!.title, 'via update');
});

test.serial('after destroy() returns, the row is gone from the cache', async (t) => {
  const { db } = t.context;
  const { Author, Article } = db.models;
  const author = await Author.create({ name: 'Temp', email: 'temp@example.test' });
  await Author.findByPk(author.id);
  await author.destroy();
  t.is(await Author.findByPk(author.id), null);
  const article = await Article.create({ title: 'temp', authorId: 1 });
  await Article.findByPk(article.id);
  await Article.destroy({ where: { id: article.id } });
  t.is(await Article.findByPk(article.id), null);
});

test.serial('bulk writes invalidate by primary key or by model', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  for (const id of [8, 9, 10]) await Article.findByPk(id);
  await Article.update({ title: 'bulk by pk' }, { where: { id: [8, 9] } });
  t.is((await Article.findByPk(8))!.title, 'bulk by pk');
  t.is((await Article.findByPk(9))!.title, 'bulk by pk');
  await Article.findByPk(10);
  db.sql.take();
  await Article.findByPk(10);
  t.is(db.sql.selects().length, 0, 'rows outside the where stay cached');
  await Article.update({ title: 'bulk by condition' }, { where: { id: { [Op.gte]: 10 }, authorId: { [Op.ne]: -1 } } });
  t.is((await Article.findByPk(10))!.title, 'bulk by condition');
  await Article.destroy({ where: { title: 'bulk by condition', id: 10 } });
  t.is(await Article.findByPk(10), null);
});

test.serial('increment and decrement, static and on an instance, invalidate', async (t) => {
  const { db } = t.context;
  const { Author } = db.models;
  const before = Number((await Author.findByPk(2))!.reputation);
  await Author.increment('reputation', { by: 5, where: { id: 2 } });
  t.is(Number((await Author.findByPk(2))!.reputation), before + 5);
  const author = (await Author.findByPk(2))!;
  await author.decrement('reputation', { by: 2 });
  t.is(Number((await Author.findByPk(2))!.reputation), before + 3);
  await Author.increment({ reputation: 1 }, { where: { email: 'author2@example.test' } });
  t.is(Number((await Author.findByPk(2))!.reputation), before + 4);
});

test.serial('upsert, bulkCreate with updateOnDuplicate and hooks: false writes invalidate', async (t) => {
  const { db } = t.context;
  const { Author, Article } = db.models;
  await Author.findByPk(4);
  await Author.upsert({ id: 4, name: 'Upserted', email: 'author4@example.test' });
  t.is((await Author.findByPk(4))!.name, 'Upserted');
  await Article.findByPk(11);
  await Article.bulkCreate([{ id: 11, title: 'dup updated', authorId: 1 }], { updateOnDuplicate: ['title'] });
  t.is((await Article.findByPk(11))!.title, 'dup updated');
  const article = (await Article.findByPk(12))!;
  article.title = 'silent save';
  await article.save({ hooks: false });
  t.is((await Article.findByPk(12))!.title, 'silent save');
  await Article.update({ title: 'silent bulk' }, { where: { id: 12 }, hooks: false });
  t.is((await Article.findByPk(12))!.title, 'silent bulk');
});

test.serial('cache: false bypasses the cache and cache: { refresh: true } rereads and overwrites the entry', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  await Article.findByPk(13);
  await t.context.cache.settled(); // its fill lands after the answer
  probe.reset();
  db.sql.take();
  await Article.findByPk(13, { cache: false });
  t.is(probe.total, 0);
  t.is(db.sql.selects().length, 1);
  await db.sequelize.query('UPDATE articles SET title = :t WHERE id = 13', { replacements: { t: 'raw write' } });
  await Article.findByPk(13);
  db.sql.take();
  t.is((await Article.findByPk(13, { cache: { refresh: true } }))!.title, 'raw write');
  t.is(db.sql.selects().length, 1, 'refresh reads the database even when the entry is valid');
  t.is((await Article.findByPk(13))!.title, 'raw write');
  t.is(db.sql.selects().length, 0);
});

test.serial('raw SQL writes through sequelize.query() invalidate the models whose tables they name', async (t) => {
  const { db } = t.context;
  const { Article, Author } = db.models;
  const reads = async () => {
    db.sql.take();
    const article = await Article.findByPk(15);
    const author = await Author.findByPk(2);
    return { article: article!.title, author: author!.name, selects: db.sql.selects().length };
  };
  await reads();
  t.is((await reads()).selects, 0);
  await db.sequelize.query("SELECT * FROM articles WHERE title = 'UPDATE authors'");
  await db.sequelize.query("/* UPDATE articles */ SELECT 1 -- DELETE FROM authors");
  t.is((await reads()).selects, 0, 'reads, comments and literals naming tables invalidate nothing');
  await db.sequelize.query("UPDATE `articles` SET title = 'raw ''quoted''' WHERE id = 15");
  const afterRaw = await reads();
  t.is(afterRaw.article, "raw 'quoted'");
  t.is(afterRaw.selects, 1, 'only the written table was invalidated');
  await db.sequelize.transaction(async (transaction) => {
    await db.sequelize.query("UPDATE authors SET name = 'raw in transaction' WHERE id = 2", { transaction });
    t.not((await Author.findByPk(2))!.name, 'raw in transaction');
  });
  t.is((await reads()).author, 'raw in transaction');
});

test.serial('invalidate(Model, pk), invalidate(Model) and flush() force the next read to the database', async (t) => {
  const { db, cache } = t.context;
  const { Article, Author } = db.models;
  const reads = async () => {
    db.sql.take();
    await Article.findByPk(14);
    await Author.findByPk(1);
    return db.sql.selects().length;
  };
  await reads();
  t.is(await reads(), 0);
  await cache.invalidate(Article, 14);
  t.is(await reads(), 1);
  await cache.invalidate(Author);
  t.is(await reads(), 1);
  await cache.flush();
  t.is(await reads(), 2);
  t.is(await reads(), 0);
});

test.serial('a missing row is remembered until a write of the model could create it', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  const missing = async (id: number) => {
    t.is(await Article.findByPk(id), null);
    db.sql.take();
    t.is(await Article.findByPk(id), null);
    t.is(db.sql.selects().length, 0, `the absence of ${id} is cached`);
  };
  await missing(5000);
  await Article.create({ id: 5000, title: 'created', authorId: 1 });
  t.is((await Article.findByPk(5000))!.title, 'created');
  await missing(5001);
  await Article.bulkCreate([{ id: 5001, title: 'bulk created', authorId: 1 }]);
  t.is((await Article.findByPk(5001))!.title, 'bulk created');
  await missing(5002);
  await db.sequelize.query("INSERT INTO articles (id, title, author_id, published, views, created_at, updated_at) VALUES (5002, 'raw', 1, 0, 0, NOW(), NOW())");
  t.is((await Article.findByPk(5002))!.title, 'raw');
});
