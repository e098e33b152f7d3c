/**
 * The cache on Redis: the randomized differential run (row, list, tree,
 * whole-value and count reads, every write path, transactions) with every
 * cached read compared with the database, and the stampede guarantee of one
 * query per cold key.
 */
import anyTest, { type TestFn } from 'ava';
import { RedisStore } from '../../source';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';
import { differentialRun } from '../helpers/differential';
import { redisUrl } from '../helpers/test-database';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'redis_reads', { authors: 8, articles: 80, commentsPerArticle: 2, tags: 6 }, () => new RedisStore(redisUrl(), { timeoutMs: 1000 }));

test.serial('1500 random reads and writes on Redis: every cached read equals the uncached read', (t) => differentialRun(t, 1500));

test.serial('on Redis, 50 concurrent reads of a cold row and of a cold list run one query each', async (t) => {
  const { db, cache } = t.context;
  const { Article } = db.models;
  await cache.invalidate(Article);
  db.sql.take();
  const rows = await Promise.all(Array.from({ length: 50 }, () => Article.findByPk(7)));
  t.true(rows.every((r) => r?.id === 7));
  t.is(db.sql.selects().length, 1);
  const lists = await Promise.all(Array.from({ length: 50 }, () => Article.findAll({ where: { authorId: 2 }, order: [['id', 'ASC']] })));
  t.true(lists.every((l) => l.length === lists[0]!.length));
  // (A reader that finds the filled list before its rows were warmed reads them by key.)
  t.is(db.sql.selects().filter((s) => /`author_id` = 2/.test(s)).length, 1, 'the list query ran once');
});
