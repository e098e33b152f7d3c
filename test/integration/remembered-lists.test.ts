/**
 * A list or tree hit fetches the rows it pointed to last time (and a tree's
 * relation tokens) in the same multi-get as its entry
 * (source/lists/remembered-lists.ts), and uses them only beside the very
 * entry it remembered.
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { Op } from 'sequelize';
import { MemcachedStore, ormCache } from '../../source';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';
import { memcachedServers } from '../helpers/test-database';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'remembered', { authors: 3, articles: 24 });

/** A list without equality conditions: its rows are not pinned by a conjunction. */
const query = { where: { views: { [Op.gte]: 0 }, id: { [Op.lte]: 8 } }, order: [['id', 'ASC']] as [string, string][] };
const isEntry = (key: string) => key.includes(':Article:') && key.includes(':q:');

/**
 * A second app on the same cache, to write and rebuild an entry while this
 * one's read is held between its row lookup and its entry lookup.
 */
async function secondApp(t: ExecutionContext<CachedBlog>) {
  const { db, cache } = t.context;
  const other = await db.connect();
  const otherStore = new MemcachedStore(memcachedServers(), { timeoutMs: 1000 });
  const otherCache = ormCache.install(other.sequelize, { store: otherStore, namespace: cache.options.namespace });
  t.teardown(async () => {
    otherCache.uninstall();
    await otherStore.close();
  });
  return { other, otherCache };
}

test.serial('from its third read on, a list hit is one store round trip: its entry and its rows together', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  await Article.findAll(query); // miss: built
  await Article.findAll(query); // hit: entry, then rows; remembered
  await t.context.cache.settled();
  probe.reset();
  db.sql.take();
  const gate = probe.pauseNext('getMulti', isEntry);
  const reading = Article.findAll(query);
  await gate.reached;
  // The rows' lookup went out beside the entry's, before it answered.
  const inFlight = probe.counts.getMulti;
  gate.release();
  const rows = await reading;
  t.is(inFlight, 2, 'entry and rows asked for together');
  t.is(probe.counts.getMulti, 2, 'and nothing after the entry');
  t.is(db.sql.selects().length, 0);
  t.deepEqual(rows.map((a) => a.id), [1, 2, 3, 4, 5, 6, 7, 8]);
});

test.serial('rows read beside an entry are not used with another entry, even one pointing to the same rows', async (t) => {
  const { db, cache, probe } = t.context;
  const { Article } = db.models;
  await Article.findAll(query);
  await Article.findAll(query); // remembered
  await cache.settled();
  const { other, otherCache } = await secondApp(t);
  const gate = probe.pauseNext('getMulti', isEntry);
  const reading = Article.findAll(query);
  await gate.reached; // the remembered rows have been asked for: article 3 as it is now
  await other.models.Article.update({ title: 'written while held' }, { where: { id: 3 } });
  const rebuilt = await other.models.Article.findAll(query); // a new entry, the same rows
  t.is(rebuilt.find((a) => a.id === 3)?.title, 'written while held');
  await otherCache.settled();
  gate.release();
  const rows = await reading;
  t.deepEqual(rows.map((a) => a.id), [1, 2, 3, 4, 5, 6, 7, 8]);
  t.is(rows.find((a) => a.id === 3)?.title, 'written while held', 'the rows read beside the old entry were not used with the new one');
});

const tree = (t: { context: CachedBlog }) => ({
  where: { id: { [Op.lte]: 6 } },
  include: [t.context.db.models.Author, t.context.db.models.Comment],
  order: [['id', 'ASC']] as [string, string][],
});

test.serial('a tree hit seen before asks for its entry, rows and relation tokens together, and nothing after', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  await Article.findAll(tree(t));
  await Article.findAll(tree(t)); // remembered
  await t.context.cache.settled();
  probe.reset();
  db.sql.take();
  const gate = probe.pauseNext('getMulti', isEntry);
  const reading = Article.findAll(tree(t));
  await gate.reached;
  const beside = probe.counts.getMulti;
  gate.release();
  const articles = await reading;
  t.true(beside >= 3, `entry, rows of each model and the relation tokens at once (${beside} requests)`);
  t.is(probe.counts.getMulti, beside, 'nothing after the entry');
  t.is(db.sql.selects().length, 0);
  t.deepEqual(articles.map((a) => a.id), [1, 2, 3, 4, 5, 6]);
});

test.serial('a tree read beside another entry than the one remembered reads its rows again', async (t) => {
  const { db, cache, probe } = t.context;
  const { Article, Comment } = db.models;
  await Article.findAll(tree(t));
  await Article.findAll(tree(t)); // remembered
  await cache.settled();
  const { other, otherCache } = await secondApp(t);
  const comment = (await Comment.findOne({ where: { articleId: { [Op.lte]: 6 } }, order: [['id', 'ASC']] }))!;
  const gate = probe.pauseNext('getMulti', isEntry);
  const reading = Article.findAll(tree(t));
  await gate.reached; // rows and relation tokens as they are now have been asked for
  await other.models.Comment.update({ body: 'edited while held' }, { where: { id: comment.id } });
  await other.models.Article.findAll({ ...tree(t), include: [other.models.Author, other.models.Comment] }); // rebuilt
  await otherCache.settled();
  gate.release();
  const articles = await reading;
  const seen = articles.flatMap((a) => (a as unknown as { comments: { id: number; body: string }[] }).comments).find((c) => c.id === comment.id);
  t.is(seen?.body, 'edited while held');
});

test('rememberedLists: 0 remembers nothing, and the hit reads its rows after its entry', async (t) => {
  const { db } = t.context;
  const other = await db.connect();
  const store = new MemcachedStore(memcachedServers(), { timeoutMs: 1000 });
  const cache = ormCache.install(other.sequelize, { store, namespace: `${t.context.cache.options.namespace}x`, rememberedLists: 0 });
  t.teardown(async () => {
    cache.uninstall();
    await store.close();
  });
  for (let i = 0; i < 3; i++) await other.models.Article.findAll(query);
  t.is((cache as unknown as { remembered: { size: number } }).remembered.size, 0);
});
