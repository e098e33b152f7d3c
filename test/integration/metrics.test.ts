/**
 * The metrics core on real MariaDB and memcached: every read counts to its
 * model and kind, SQL statements run and saved add up, latency is observed
 * once per read, writes count by cause, and warnings are kept for the
 * dashboard.
 */
import test from 'ava';
import mysql from 'mysql2/promise';
import { cachedBlogFor } from '../helpers/cached-blog';
import { memcachedServers } from '../helpers/test-database';
import type { LatencyHistogram } from '../../source';

const byAuthor = (authorId: number) => ({ where: { authorId }, order: [['id', 'ASC']] as [string, string][] });

/** Observations of a histogram, bucket by bucket (must equal its count). */
const observed = (h: LatencyHistogram) => h.counts.reduce((a, b) => a + b, 0);

test('each read counts to its model and kind; SQL run and saved add up; each read is timed once', async (t) => {
  const { db, cache } = await cachedBlogFor(t, 'metrics_reads', { authors: 3, articles: 30, commentsPerArticle: 0 });
  const { Article, Author } = db.models;
  await Article.findByPk(1);
  await Article.findByPk(1);
  await Article.findAll(byAuthor(1));
  await cache.settled(); // the list's rows are warmed in the background
  await Article.findAll(byAuthor(1));
  await Article.count({ where: { authorId: 1 } });
  await Article.count({ where: { authorId: 1 } });
  await Author.findByPk(2);
  await db.sequelize.transaction((transaction) => Article.findByPk(1, { transaction }));
  await Article.findByPk(1, { cache: false });
  // Ten identical cold reads at once: the first runs alone (a miss), the
  // other nine board the next flight, which starts when it lands (a hit).
  await Promise.all(Array.from({ length: 10 }, () => Article.findByPk(8)));
  await cache.settled();

  const s = cache.metrics.snapshot();
  t.like(s.models.Article?.row, { hits: 10, misses: 2, coalesced: 8, dbQueries: 2, dbQueriesSaved: 10, bypassed: 2 });
  // The transaction runs at the server's default (REPEATABLE READ): no cached read there.
  t.deepEqual(s.models.Article?.bypassReasons.row, { 'transaction-isolation': 1, 'cache-false': 1 });
  t.like(s.models.Article?.list, { hits: 1, misses: 1, dbQueries: 1, dbQueriesSaved: 1, bypassed: 0 });
  t.like(s.models.Article?.count, { hits: 1, misses: 1, dbQueries: 1, dbQueriesSaved: 1 });
  t.like(s.models.Author?.row, { hits: 0, misses: 1, dbQueries: 1, dbQueriesSaved: 0 });
  t.true((s.models.Article?.row.fills ?? 0) >= 2, 'the two misses filled their rows');
  t.like(s, {
    rowHits: 10,
    rowMisses: 3,
    listHits: 1,
    listMisses: 1,
    countHits: 1,
    countMisses: 1,
    coalesced: 8,
    bypassed: 2,
    dbQueries: 5,
    dbQueriesSaved: 12,
    storeErrors: 0,
  });
  t.is(s.hitRatio, 12 / 17);
  t.is(s.coverage, 17 / 19);
  t.deepEqual(s.bypassReasons, { 'transaction-isolation': 1, 'cache-false': 1 });

  // One observation per read that was a hit or a miss (bypassed reads are not timed).
  t.is(s.latency.row.hit.count, 10);
  t.is(s.latency.row.miss.count, 3);
  t.is(s.latency.list.hit.count, 1);
  t.is(s.latency.count.miss.count, 1);
  for (const kind of ['row', 'list', 'count'] as const) {
    for (const h of [s.latency[kind].hit, s.latency[kind].miss]) {
      t.is(observed(h), h.count);
      t.is(h.counts.length, h.bounds.length + 1);
      t.true(h.count === 0 || h.sum > 0);
    }
  }
  t.true(s.bytesRead > 0 && s.bytesWritten > 0);
  t.deepEqual(s.servers, [{ server: memcachedServers()[0], breaker: 'closed', breakerOpened: 0 }]);
  t.deepEqual(s.recentWarnings, []);
});

test('invalidations count by cause, and a transaction counts its deferred ones and then the invalidation at commit', async (t) => {
  const { db, cache } = await cachedBlogFor(t, 'metrics_causes', { authors: 3, articles: 30, commentsPerArticle: 0 });
  const { Article } = db.models;
  await (await Article.findByPk(3))!.update({ title: 'saved' });
  await Article.create({ title: 'created', authorId: 1 });
  await (await Article.findByPk(4))!.destroy();
  await Article.update({ views: 5 }, { where: { authorId: 2 } });
  await db.sequelize.query('UPDATE articles SET views = views + 1 WHERE id = 5');
  await cache.invalidate(Article, 6);
  await cache.invalidate(Article);
  await db.sequelize.transaction(async (transaction) => {
    await Article.update({ views: 1 }, { where: { id: 7 }, transaction });
    const during = cache.metrics.snapshot().models.Article!;
    t.is(during.invalidationsDeferred, 1);
    t.is(during.invalidations.bulk, 1, 'not invalidated before the commit');
  });

  const s = cache.metrics.snapshot();
  t.deepEqual(s.models.Article?.invalidations, { save: 2, destroy: 1, bulk: 2, raw: 1, cascade: 0, sync: 0, manual: 2 });
  t.is(s.models.Article?.invalidationsDeferred, 1);
  const total = Object.values(s.models).reduce((n, m) => n + Object.values(m.invalidations).reduce((a, b) => a + b, 0), 0);
  t.is(s.invalidations, total);
  t.is(s.invalidationsDeferred, 1);
});

test('an InvalidationWarning is counted for its model and kept with the missing keys', async (t) => {
  const { db, cache } = await cachedBlogFor(t, 'metrics_warnings', { authors: 3, articles: 30, commentsPerArticle: 0 });
  const { Article } = db.models;
  const before = await Article.findAll(byAuthor(3));
  await cache.settled();
  const gone = before[0]!.id;
  // Deleted behind the cache's back, and its row entry dropped: the list's
  // pointer now leads nowhere.
  const other = await mysql.createConnection(db.url);
  await other.query('DELETE FROM articles WHERE id = ?', [gone]);
  await other.end();
  await cache.forget(Article, { where: { id: gone } });

  const after = await Article.findAll(byAuthor(3));
  t.deepEqual(
    after.map((a) => a.id),
    before.slice(1).map((a) => a.id),
  );
  const s = cache.metrics.snapshot();
  t.is(s.invalidationWarnings, 1);
  t.is(s.models.Article?.invalidationWarnings, 1);
  t.is(s.recentWarnings.length, 1);
  t.like(s.recentWarnings[0], { model: 'Article', missing: [gone] });
  t.regex(s.recentWarnings[0]!.message, /no longer exist/);
  t.false(Number.isNaN(Date.parse(s.recentWarnings[0]!.at)));
});
