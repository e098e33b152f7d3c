/**
 * Every way a write reaches the database invalidates what it changes: ORM
 * calls whatever the hook tables say, query interface calls made directly
 * (migrations, seeders), calls that name another model or none, and DDL.
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { ormCache } from '../../source';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'write_paths', { authors: 4, articles: 24, commentsPerArticle: 1, tags: 3 });

type Row = { id: number; title: string; views: string | number };

/** Reads of one article through the row cache, a list and a count, each warmed twice. */
async function warmed(t: ExecutionContext<CachedBlog>, id: number) {
  const { Article } = t.context.db.models;
  const reads = {
    row: async () => ((await Article.findByPk(id)) as unknown as Row | null)?.title ?? null,
    list: async () => ((await Article.findAll({ where: { id: [id, id + 1] }, order: [['id', 'ASC']] })) as unknown as Row[]).map((a) => a.title),
    count: () => Article.count({ where: { title: 'changed by the test' } }),
  };
  for (const read of Object.values(reads)) {
    await read();
    await read();
  }
  t.context.db.sql.take();
  await Promise.all(Object.values(reads).map((read) => read()));
  t.is(t.context.db.sql.selects().length, 0, 'all three reads are hits before the write');
  return reads;
}

async function expectChanged(t: ExecutionContext<CachedBlog>, reads: Awaited<ReturnType<typeof warmed>>, title: string | null, count: number) {
  t.is(await reads.row(), title);
  t.is((await reads.list())[0], title ?? undefined);
  t.is(await reads.count(), count);
}

test.serial('writes invalidate after the app resets the hook tables (sequelize.options.hooks = {})', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  (db.sequelize.options as { hooks: unknown }).hooks = {};
  (Article.options as { hooks: unknown }).hooks = {};
  const reads = await warmed(t, 1);
  const article = (await Article.findByPk(1, { cache: false })) as unknown as Row & { save(): Promise<unknown> };
  article.title = 'changed by the test';
  await article.save();
  await expectChanged(t, reads, 'changed by the test', 1);
  await Article.update({ title: 'put back' }, { where: { id: 1 } });
  await expectChanged(t, reads, 'put back', 0);
});

test.serial('queryInterface.bulkUpdate, insert, bulkInsert and bulkDelete called directly invalidate their table', async (t) => {
  const { db } = t.context;
  const qi = db.sequelize.getQueryInterface();
  let reads = await warmed(t, 3);
  await qi.bulkUpdate('articles', { title: 'changed by the test' }, { id: 3 });
  await expectChanged(t, reads, 'changed by the test', 1);

  reads = await warmed(t, 3);
  await qi.bulkDelete('articles', { id: 3 });
  t.is(await reads.row(), null);
  t.deepEqual(await reads.list(), [(await db.models.Article.findByPk(4, { cache: false }) as unknown as Row).title]);
  t.is(await reads.count(), 0);

  reads = await warmed(t, 3);
  const now = new Date();
  await qi.bulkInsert('articles', [{ id: 3, title: 'changed by the test', author_id: 1, published: false, views: 0, created_at: now, updated_at: now }]);
  await expectChanged(t, reads, 'changed by the test', 1);

  await qi.bulkDelete('articles', { id: 3 });
  reads = await warmed(t, 3);
  await qi.insert(null, 'articles', { id: 3, title: 'put back', author_id: 1, published: false, views: 0, created_at: now, updated_at: now }, {});
  await expectChanged(t, reads, 'put back', 0);
});

test.serial('a query interface write that names another model, or the wrong one, still invalidates the table it writes', async (t) => {
  const { db } = t.context;
  const { Author } = db.models;
  const reads = await warmed(t, 5);
  await db.sequelize.getQueryInterface().bulkUpdate('articles', { title: 'changed by the test' }, { id: 5 }, { model: Author } as never);
  await expectChanged(t, reads, 'changed by the test', 1);
  await db.models.Article.update({ title: 'put back' }, { where: { id: 5 } });
});

test.serial('Model.increment and raw SQL invalidate; DDL of migrations (addColumn, removeColumn) invalidates the model', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  const qi = db.sequelize.getQueryInterface();
  let reads = await warmed(t, 7);
  await db.sequelize.query("UPDATE articles SET title = 'changed by the test' WHERE id = 7");
  await expectChanged(t, reads, 'changed by the test', 1);
  await Article.update({ title: 'put back' }, { where: { id: 7 } });

  const views = async () => String(((await Article.findByPk(7)) as unknown as Row).views);
  await views();
  const before = await views();
  await Article.increment('views', { by: 2, where: { id: 7 } });
  t.is(await views(), String(Number(before) + 2));

  reads = await warmed(t, 7);
  const invalidations = t.context.cache.metrics.snapshot().models.Article?.invalidations.sync ?? 0;
  await qi.addColumn('articles', 'extra', { type: 'INTEGER' } as never);
  await qi.removeColumn('articles', 'extra');
  t.true((t.context.cache.metrics.snapshot().models.Article?.invalidations.sync ?? 0) >= invalidations + 2);
  db.sql.take();
  await reads.row();
  t.true(db.sql.selects().length > 0, 'the row is read again after the table changed');
});

test.serial('instances with other time zones share one namespace: each reads its own values, and sees the other\'s writes', async (t) => {
  const { db, cache } = t.context;
  const other = await db.connect({ timezone: '+07:00' });
  const otherCache = ormCache.install(other.sequelize, { store: cache.store, namespace: cache.options.namespace });
  t.teardown(() => otherCache.uninstall());
  type Dated = { title: string; createdAt: Date };
  const read = async (models: typeof db.models, options: { cache?: false } = {}) =>
    (await models.Article.findByPk(9, options)) as unknown as Dated;
  for (let i = 0; i < 2; i++) {
    for (const models of [db.models, other.models]) {
      t.is((await read(models)).createdAt.getTime(), (await read(models, { cache: false })).createdAt.getTime());
    }
  }
  const here = await read(db.models);
  const there = await read(other.models);
  t.is(Math.abs(here.createdAt.getTime() - there.createdAt.getTime()), 7 * 3600 * 1000, 'the same DATETIME read in two time zones');
  await other.models.Article.update({ title: 'changed by the test' }, { where: { id: 9 } });
  t.is((await read(db.models)).title, 'changed by the test');
  await db.models.Article.update({ title: 'put back' }, { where: { id: 9 } });
  t.is((await read(other.models)).title, 'put back');
});
