/**
 * `mode: 'opt-in'`: only reads that ask for the cache use it; the others go
 * to the database untouched, and writes still invalidate what opted in.
 */
import test from 'ava';
import { cachedBlogFor } from '../helpers/cached-blog';

test('with mode opt-in, reads without a cache option go to the database and reads with one are cached', async (t) => {
  const { db, cache, probe } = await cachedBlogFor(t, 'opt_in', { authors: 2, articles: 6 }, { mode: 'opt-in' });
  const { Article } = db.models;
  const authorId = (await Article.findByPk(1, { cache: false }))!.authorId;
  db.sql.take();
  probe.reset();
  await Article.findByPk(1);
  await Article.findByPk(1);
  await Article.findAll({ where: { authorId } });
  await Article.count({ where: { authorId } });
  t.is(db.sql.selects().length, 4, 'every plain read ran its SQL');
  t.is(probe.total, 0, 'and never touched the store');
  const m = cache.metrics.snapshot().models.Article!;
  t.is(m.row.bypassed + m.list.bypassed + m.count.bypassed, 5);
  t.deepEqual(m.bypassReasons, { row: { 'cache-false': 1, 'opt-in': 2 }, list: { 'opt-in': 1 }, count: { 'opt-in': 1 } });

  db.sql.take();
  for (let i = 0; i < 2; i++) {
    await Article.findByPk(1, { cache: true });
    await Article.findAll({ where: { authorId }, cache: {} });
    await Article.count({ where: { authorId }, cache: true });
  }
  t.is(db.sql.selects().length, 3, 'the reads that opted in ran their SQL once');

  const article = (await Article.findByPk(1, { cache: true }))!;
  article.title = 'written in opt-in mode';
  await article.save();
  t.is((await Article.findByPk(1, { cache: true }))!.title, 'written in opt-in mode', 'writes still invalidate');
  t.true((await Article.findAll({ where: { authorId }, cache: {} })).some((a) => a.title === 'written in opt-in mode'));
});
