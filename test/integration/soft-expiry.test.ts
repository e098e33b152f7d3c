/**
 * Soft expiry: one reader refreshes a soft-expired entry while everyone is
 * served the stale copy; entries invalidated by writes are never stale-served.
 * Time is a fake clock; the store is the in-process MemoryStore on the same
 * clock (memcached's own clock cannot be moved).
 */
import anyTest, { type TestFn } from 'ava';
import mysql from 'mysql2/promise';
import { ManualClock, MemoryStore, type OrmCache, ormCache } from '../../source';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

const test = anyTest as TestFn<{ db: TestDatabase; cache: OrmCache; clock: ManualClock }>;

test.beforeEach(async (t) => {
  const db = await createTestDatabase('soft_expiry', { authors: 3, articles: 20 });
  const clock = new ManualClock(Date.now());
  const cache = ormCache.install(db.sequelize, { store: new MemoryStore({ clock }), clock, ttl: 3600, softTtl: 60 });
  t.context = { db, cache, clock };
});

test.afterEach.always(async (t) => {
  t.context.cache.uninstall();
  await t.context.db.drop();
});

/** A write the cache cannot see: another application on the same database. */
async function writeBehind(db: TestDatabase, sql: string, values: unknown[]) {
  const other = await mysql.createConnection(db.url);
  await other.query(sql, values);
  await other.end();
}

const list = { where: { authorId: 2 }, order: [['id', 'ASC']] as [string, string][] };

test.serial('a soft-expired list is served stale to 50 concurrent readers while one query refreshes it', async (t) => {
  const { db, cache, clock } = t.context;
  const { Article } = db.models;
  const before = await Article.findAll(list);
  // Another application adds a row: only a refresh can show it.
  await writeBehind(db, 'INSERT INTO articles (title, author_id, published, views, created_at, updated_at) VALUES (?, 2, 0, 0, NOW(), NOW())', ['added behind the cache']);
  clock.advance(61_000);
  db.sql.take();
  const readers = await Promise.all(Array.from({ length: 50 }, () => Article.findAll(list)));
  for (const rows of readers) t.deepEqual(rows.map((a) => a.id), before.map((a) => a.id), 'stale copy served');
  await cache.settled();
  t.is(db.sql.selects().filter((q) => q.includes('`author_id` = 2')).length, 1, 'one refresh query');
  const m = cache.metrics.snapshot();
  t.is(m.refreshes, 1);
  t.is(m.staleServed, 50);
  db.sql.take();
  const after = await Article.findAll(list);
  t.is(after.length, before.length + 1, 'the refresh stored the fresh list');
  t.is(after.at(-1)!.title, 'added behind the cache');
  t.is(db.sql.selects().length, 0);
});

test.serial('an entry invalidated by a write is never served stale, soft-expired or not', async (t) => {
  const { db, clock } = t.context;
  const { Article } = db.models;
  await Article.findAll(list);
  clock.advance(61_000);
  const article = (await Article.findOne({ where: { authorId: 2 }, cache: false }))!;
  await article.update({ title: 'written through the ORM' });
  const rows = await Article.findAll(list);
  t.is(rows.find((a) => a.id === article.id)!.title, 'written through the ORM');
});

test.serial('a refresh that fails keeps the stale entry and releases the lock', async (t) => {
  const { db, cache, clock } = t.context;
  const { Article } = db.models;
  const before = await Article.findAll(list);
  clock.advance(61_000);
  let fail = true;
  db.sequelize.addHook('beforeQuery', 'fail-refresh', () => {
    if (fail) throw new Error('database unavailable');
  });
  t.teardown(() => db.sequelize.removeHook('beforeQuery', 'fail-refresh'));
  t.deepEqual((await Article.findAll(list)).map((a) => a.id), before.map((a) => a.id));
  await cache.settled();
  t.is(cache.metrics.snapshot().refreshFailures, 1);
  fail = false;
  t.deepEqual((await Article.findAll(list)).map((a) => a.id), before.map((a) => a.id), 'still served, and refreshed again');
  await cache.settled();
  t.is(cache.metrics.snapshot().refreshes, 2);
});

test.serial("refreshMode 'wait' gives the refresher's own caller fresh data", async (t) => {
  const { db } = t.context;
  const clock = new ManualClock(Date.now());
  const other = await db.connect();
  const cache = ormCache.install(other.sequelize, { store: new MemoryStore({ clock }), clock, softTtl: 60, refreshMode: 'wait' });
  t.teardown(() => cache.uninstall());
  const { Article } = other.models;
  await Article.findAll(list);
  await writeBehind(db, 'UPDATE articles SET title = ? WHERE author_id = 2', ['fresh for the refresher']);
  clock.advance(61_000);
  t.true((await Article.findAll(list)).every((a) => a.title === 'fresh for the refresher'));
});

test.serial('XFetch refreshes before the soft expiry when the query is slow relative to the time left', async (t) => {
  const { db } = t.context;
  const clock = new ManualClock(Date.now());
  const other = await db.connect();
  const cache = ormCache.install(other.sequelize, { store: new MemoryStore({ clock }), clock, softTtl: 60, earlyRefreshBeta: 1 });
  t.teardown(() => cache.uninstall());
  // The query "takes" 30 s on the fake clock, so 55 s in (5 s left) a refresh is almost certain.
  other.sequelize.addHook('beforeQuery', 'slow', () => clock.advance(30_000));
  await other.models.Article.findAll(list);
  other.sequelize.removeHook('beforeQuery', 'slow');
  clock.advance(55_000);
  for (let i = 0; i < 20 && cache.metrics.snapshot().refreshes === 0; i++) await other.models.Article.findAll(list);
  await cache.settled();
  t.true(cache.metrics.snapshot().refreshes >= 1);
});
