/**
 * source/tokens/write-marks.ts: on a store that applies commands in the
 * order called (one memcached server on the built-in client), a write sends
 * its first invalidation right behind its write mark. When the mark did not
 * exist, memcached applied the invalidation before the `add` that creates
 * the mark: a reader in between sees the rotated tokens and no mark, and may
 * store what it read before the write's commit. The write then invalidates
 * again under the mark, so that entry never outlives the commit. The test
 * holds the mark's `add` and the write's last invalidation on the real store.
 */
import test from 'ava';
import mysql from 'mysql2/promise';
import { plainCachedBlogFor } from '../helpers/cached-blog';

/** A promise with its resolver. */
function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

test('a write whose mark did not exist invalidates again once the mark is up: what a reader stored in between dies before the commit shows', async (t) => {
  const { db, cache, store } = await plainCachedBlogFor(t, 'first_invalidation', { authors: 2, articles: 2, tags: 2 });
  t.true(store.ordered, 'one server on the built-in client');
  const { Tag } = db.models;
  const names = async () => ((await Tag.findAll({ where: { name: 'pipelined' } })) as unknown as { name: string }[]).map((tag) => tag.name);
  t.deepEqual(await names(), []);
  await cache.settled();
  db.sql.take();
  t.deepEqual(await names(), []);
  t.is(db.sql.selects().length, 0, 'the empty list is a hit before the write');

  const schema = cache.schemaOf(Tag);
  if (!schema) throw new Error('Tag is cached');
  const markKey = cache.keys.writes(schema);
  const tagWrite = (key: string) => key.startsWith(`${cache.options.namespace}:`) && key.includes(':Tag:') && /:(r:[^:]+|c:[^:]+|l|e)$/.test(key);
  const outside = await mysql.createConnection(db.url);
  t.teardown(() => outside.end());
  const committed = async () => ((await outside.query("SELECT COUNT(*) AS n FROM tags WHERE name = 'pipelined'"))[0] as { n: number }[])[0]?.n === 1;

  // Hold the `add` that creates the mark, and the first invalidation's
  // writes landing before it; later, hold the last invalidation (the first
  // store write of Tag after the row is committed).
  const addReached = gate();
  const addRelease = gate();
  const firstLanded = gate();
  const lastReached = gate();
  const lastRelease = gate();
  let holdLast = false;
  const add = store.add.bind(store);
  const set = store.set.bind(store);
  store.add = async (key, value, ttl) => {
    if (key === markKey) {
      addReached.open();
      await addRelease.opened;
    }
    return add(key, value, ttl);
  };
  store.set = async (key, value, ttl) => {
    if (holdLast && tagWrite(key) && (await committed())) {
      holdLast = false;
      lastReached.open();
      await lastRelease.opened;
    }
    const stored = await set(key, value, ttl);
    if (tagWrite(key)) firstLanded.open();
    return stored;
  };

  const writing = Tag.create({ name: 'pipelined' });
  await addReached.opened; // the step found no counter
  await firstLanded.opened; // and the first invalidation was applied before the mark exists
  // A reader now misses, finds no mark, reads the database (no row yet) and stores that.
  t.deepEqual(await names(), []);
  await cache.settled();
  db.sql.take();
  t.deepEqual(await names(), [], 'its entry is stored and valid');
  t.is(db.sql.selects().length, 0);

  holdLast = true;
  addRelease.open();
  await lastReached.opened; // the INSERT has committed; the last invalidation waits
  t.deepEqual(await names(), ['pipelined'], 'the entry from before the commit no longer validates');
  lastRelease.open();
  await writing;
  t.deepEqual(await names(), ['pipelined']);
});

test("a write's statement waits for its first invalidation", async (t) => {
  const { db, cache, store } = await plainCachedBlogFor(t, 'first_invalidation_gate', { authors: 2, articles: 2, tags: 2 });
  const { Article } = db.models;
  const article = (await Article.findByPk(1)) as unknown as { title: string; update(values: object): Promise<unknown> };
  const schema = cache.schemaOf(Article);
  if (!schema) throw new Error('Article is cached');
  const rowKey = cache.keys.row(schema, '1');

  // Hold the first invalidation at the store: the tombstone of the row.
  const reached = gate();
  const release = gate();
  t.teardown(() => release.open()); // a failing test must not leave the writer held
  let holding = true;
  const set = store.set.bind(store);
  store.set = async (key, value, ttl) => {
    if (holding && key === rowKey) {
      holding = false;
      reached.open();
      await release.opened;
    }
    return set(key, value, ttl);
  };
  const epoch = await store.get(cache.keys.epoch(schema));
  t.truthy(epoch, 'the read recorded the model epoch');
  db.sql.take();
  const writing = article.update({ title: 'gated' });
  await reached.opened;
  // A whole statement's round trip on another connection of the pool: an
  // UPDATE sent without waiting would have been logged (and run) by now.
  await db.sequelize.query('SELECT 1');
  t.false(db.sql.take().some((s) => /\bUPDATE\b/.test(s)), 'the UPDATE is not sent while the first invalidation is held');
  const outside = await mysql.createConnection(db.url);
  t.teardown(() => outside.end());
  const title = async () => ((await outside.query('SELECT title FROM articles WHERE id = 1'))[0] as { title: string }[])[0]?.title;
  t.not(await title(), 'gated');

  release.open();
  await writing;
  t.is(await title(), 'gated');
  t.is(((await Article.findByPk(1)) as unknown as { title: string }).title, 'gated');
  // The statement was known as the write's: not also read as raw SQL, which
  // would have rotated the model epoch (every entry of the model).
  t.is(await store.get(cache.keys.epoch(schema)), epoch);
});
