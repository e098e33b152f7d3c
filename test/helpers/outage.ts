/**
 * docs/architecture.md, invariant 4, as one routine run against each store:
 * with the store down, hung or refusing, every query still returns the
 * database's answer within the store deadline plus database time.
 */
import type { ExecutionContext } from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CacheStore, ormCache, type StoreError } from '../../source';
import { createTestDatabase, type SqlLog, uniqueNamespace } from './test-database';

/** Deadline of the stores under test. */
export const OUTAGE_TIMEOUT_MS = 40;
// Deadline-bound store calls a single read can make before the breaker opens
// (lookup, token add + get, gets, fill) plus generous room for the database
// and a busy CI machine. Without the deadlines a hung server blocks forever.
const BOUND_MS = 5 * OUTAGE_TIMEOUT_MS + 1500;

/**
 * Reads and writes of every kind through `store`, which is down, hung or
 * refusing: each answers what the database says, within the deadlines, and
 * the failures are counted and emitted.
 */
export async function outage(t: ExecutionContext, store: CacheStore, label: string): Promise<void> {
  const db = await createTestDatabase(`outage_${label}`, { authors: 3, articles: 12 });
  const cache = ormCache.install(db.sequelize, { store, namespace: uniqueNamespace() });
  const errors: StoreError[] = [];
  cache.on('error', (error) => errors.push(error));
  t.teardown(async () => {
    cache.uninstall();
    await store.close();
    await db.drop();
  });
  const { Article } = db.models;
  let slowest = 0;
  const timed = async <T>(run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await run();
    slowest = Math.max(slowest, performance.now() - started);
    return result;
  };
  for (let round = 0; round < 3; round++) {
    for (let id = 1; id <= 12; id++) {
      const cached = await timed(() => Article.findByPk(id));
      const truth = await Article.findByPk(id, { cache: false });
      t.deepEqual(cached?.get({ plain: true }), truth?.get({ plain: true }));
    }
    const list = { where: { authorId: 2 }, order: [['id', 'ASC']] as [string, string][] };
    const cachedList = await timed(() => Article.findAll({ ...list, include: [db.models.Author] }));
    const truthList = await Article.findAll({ ...list, include: [db.models.Author], cache: false });
    t.deepEqual(cachedList.map((a) => a.get({ plain: true })), truthList.map((a) => a.get({ plain: true })));
    t.is(await timed(() => Article.count({ where: { published: true } })), await Article.count({ where: { published: true }, cache: false }));
    await timed(() => Article.update({ title: `round ${round}` }, { where: { id: 1 } }));
    t.is((await timed(() => Article.findByPk(1)))!.title, `round ${round}`);
  }
  await timed(() => Article.destroy({ where: { id: 12 } }));
  t.is(await timed(() => Article.findByPk(12)), null);
  t.true(slowest < BOUND_MS, `slowest query took ${Math.round(slowest)} ms`);
  t.true(cache.metrics.snapshot().storeErrors > 0);
  t.true(errors.length > 0, 'failures are emitted as error events');
  t.is(cache.metrics.snapshot().rowHits, 0);
}


/**
 * Read until the cache answers without SQL (its breaker closed, its grace
 * period over), up to `tries` times 25 ms apart; that read's result.
 */
export async function untilHit<T>(read: () => Promise<T>, { sql }: { sql: SqlLog }, tries = 200): Promise<T> {
  for (let i = 0; i < tries; i++) {
    await read();
    sql.take();
    const result = await read();
    if (sql.selects().length === 0) return result;
    await sleep(25);
  }
  throw new Error('the cache never answered again');
}

/** A server a test can kill and start again (empty, on its port). */
export interface Restartable {
  kill(): Promise<void>;
  start(): Promise<unknown>;
}

/**
 * A write whose store's breaker is still open after the server came back
 * must still deliver its invalidation: another process (`readerStore`) that
 * filled the row on the server that is back must not serve it after the
 * write returns.
 */
export async function writeWithBreakerOpen(t: ExecutionContext, label: string, server: Restartable, writerStore: CacheStore, readerStore: CacheStore): Promise<void> {
  const db = await createTestDatabase(label, { authors: 2, articles: 4 });
  const namespace = uniqueNamespace();
  const writer = ormCache.install(db.sequelize, { store: writerStore, namespace, replayMs: 60_000 });
  writer.on('error', () => undefined);
  const other = await db.connect();
  const reader = ormCache.install(other.sequelize, { store: readerStore, namespace });
  reader.on('error', () => undefined);
  t.teardown(async () => {
    writer.uninstall();
    reader.uninstall();
    await Promise.all([writerStore.close(), readerStore.close()]);
    await db.drop();
  });
  const breaker = () => writerStore.health?.()[0]?.breaker;
  for (let i = 0; !(await writerStore.set('warm', '1', 60).catch(() => false)); i++) {
    if (i > 100) throw new Error('never connected');
    await sleep(20);
  }
  await server.kill();
  for (let i = 0; i < 3; i++) await writerStore.get('warm').catch(() => undefined); // the writer's breaker opens
  t.is(breaker(), 'open');
  await server.start(); // empty, on the same port
  // The reader caches the row on the server that is back.
  const read = () => other.models.Article.findByPk(1);
  for (let i = 0; i < 100; i++) {
    await read();
    other.sql.take();
    await read();
    if (other.sql.selects().length === 0) break;
    await sleep(20);
  }
  t.is(breaker(), 'open', 'the writer still skips reads');
  const article = (await db.models.Article.findByPk(1, { cache: false }))!;
  await article.update({ title: 'written with the breaker open' });
  t.is((await read())!.title, 'written with the breaker open', 'the reader does not serve its entry from before the write');
}

/**
 * A write made while its store is in its grace period (back from an outage,
 * reading nothing) must still invalidate the lists of a scheme another
 * process registered and the writer has never seen: the writer reads the
 * scheme registry with `gets`, which must say "cannot tell" then, never
 * "absent" (the writer would rotate the tokens of no scheme). `enterGrace`
 * puts both stores in their grace period.
 */
export async function writeInGracePeriod(t: ExecutionContext, label: string, writerStore: CacheStore, readerStore: CacheStore, enterGrace: () => Promise<void>): Promise<void> {
  const db = await createTestDatabase(label, { authors: 3, articles: 12 });
  const namespace = uniqueNamespace();
  const reader = ormCache.install(db.sequelize, { store: readerStore, namespace });
  const other = await db.connect();
  const writer = ormCache.install(other.sequelize, { store: writerStore, namespace });
  for (const cache of [reader, writer]) cache.on('error', () => undefined);
  t.teardown(async () => {
    reader.uninstall();
    writer.uninstall();
    await Promise.all([writerStore.close(), readerStore.close()]);
    await db.drop();
  });
  const published = () => db.models.Article.findAll({ where: { published: true }, order: [['id', 'ASC']] });
  const before = (await untilHit(published, db, 400)).length;
  await enterGrace();
  const author = (await other.models.Author.findOne())!;
  await other.models.Article.create({ title: 'published in the grace period', body: 'x', authorId: author.id, published: true });
  // Once its grace period is over the reader serves its list from the store again.
  const after = await untilHit(published, db, 400);
  t.is(after.length, before + 1, 'the list has the new article');
  t.true(after.some((a) => a.title === 'published in the grace period'));
}
