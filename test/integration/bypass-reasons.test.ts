/**
 * docs/metrics.md, Bypass reasons: every read of a cached model that skips
 * the cache is counted under the reason that stopped it, and the first of
 * each model, kind and reason is reported once with the query's shape.
 */
import test from 'ava';
import { type FindOptions, Op } from 'sequelize';
import type { BypassEvent, BypassReason } from '../../source';
import { cachedBlogFor } from '../helpers/cached-blog';

test('each kind of bypass is counted under its own reason, and the first of each is reported with its shape', async (t) => {
  const { db, cache } = await cachedBlogFor(t, 'bypass_reasons', { authors: 3, articles: 9 }, {
    models: { Comment: false, Author: { exclude: ['email'] } },
  });
  const { Article, Author, Comment, Tag } = db.models;
  const { sequelize } = db;
  const events: BypassEvent[] = [];
  cache.on('bypass', (event) => events.push(event));
  const reasons = () => cache.metrics.snapshot().bypassReasons;

  const cases: [BypassReason, () => Promise<unknown>][] = [
    ['cache-false', () => Article.findAll({ where: { authorId: 1 }, cache: false })],
    ['option:lock', () => Article.findAll({ where: { authorId: 1 }, lock: true })],
    ['option:minifyAliases', () => Article.findAll({ where: { authorId: 1 }, include: [Tag], minifyAliases: true } as FindOptions)],
    ['volatile-sql', () => Article.findAll({ where: { createdAt: { [Op.lt]: sequelize.fn('NOW') } } })],
    ['uncached-model', () => Article.findAll({ include: [Comment] })],
    ['literal-table', () => Article.findAll({ where: sequelize.literal('id IN (SELECT id FROM information_schema.tables)') })],
    ['excluded-attribute', () => Author.findAll({ where: { email: 'someone@example.com' } })],
    ['transaction-isolation', () => sequelize.transaction((transaction) => Article.findByPk(1, { transaction }))],
  ];
  for (const [reason, read] of cases) {
    const before = reasons()[reason] ?? 0;
    await read();
    await read();
    t.is((reasons()[reason] ?? 0) - before, 2, reason);
  }

  const s = cache.metrics.snapshot();
  t.is(s.bypassed, cases.length * 2, 'every bypass has a reason, and only one');
  t.like(s.models.Author?.bypassReasons.list, { 'excluded-attribute': 2 });
  t.like(s.models.Article?.bypassReasons.row, { 'transaction-isolation': 2 });
  t.is(s.models.Comment, undefined, 'reads of a model the cache does not store are not its reads');

  // One event per model, kind and reason, naming the options but no value.
  t.deepEqual(
    events.map((e) => `${e.model} ${e.kind} ${e.reason}`),
    cases.map(([reason]) => `${reason === 'excluded-attribute' ? 'Author' : 'Article'} ${reason.startsWith('transaction') ? 'row' : 'list'} ${reason}`),
  );
  const shape = (reason: BypassReason) => events.find((e) => e.reason === reason)?.shape ?? '';
  t.regex(shape('option:minifyAliases'), /include\(Tag as tags\[through ArticleTag\]\)/);
  t.regex(shape('option:minifyAliases'), /minifyAliases/);
  t.regex(shape('excluded-attribute'), /where\(email\)/);
  t.notRegex(shape('excluded-attribute'), /someone/, 'no value of the query');
  t.regex(shape('transaction-isolation'), /transaction/);

  // Coverage: cached reads over all reads of cached models.
  await Article.findByPk(1);
  await Article.findByPk(1);
  const after = cache.metrics.snapshot();
  const reads = after.rowHits + after.rowMisses + after.listHits + after.listMisses + after.countHits + after.countMisses;
  t.is(after.coverage, reads / (reads + after.bypassed));
  t.true(after.coverage > 0 && after.coverage < 1);
});

test('a count bypasses with the same reasons', async (t) => {
  const { db, cache } = await cachedBlogFor(t, 'bypass_counts', { authors: 2, articles: 4 }, { models: { Comment: false } });
  const { Article, Comment } = db.models;
  await Article.count({ where: { authorId: 1 }, cache: false });
  await Article.count({ include: [Comment] });
  await Article.count({ where: { createdAt: { [Op.lt]: db.sequelize.fn('NOW') } } });
  await db.sequelize.transaction((transaction) => Article.count({ transaction }));
  t.deepEqual(cache.metrics.snapshot().models.Article?.bypassReasons.count, {
    'cache-false': 1,
    'uncached-model': 1,
    'volatile-sql': 1,
    'transaction-isolation': 1,
  });
});
