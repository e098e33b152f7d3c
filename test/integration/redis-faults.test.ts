/**
 * RedisStore under faults, on real redis-server processes of the test's own:
 * refused, killed, hung (SIGSTOP), restarted empty, restarted with its data
 * (an append-only file) after writes it could not be told about, full
 * under `noeviction`, and demoted to a replica (`READONLY`). Every query returns the database's answer, within the
 * deadlines, and nothing stale is ever served.
 */
import test from 'ava';
import Redis from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ormCache, RedisStore, type RedisStoreOptions } from '../../source';
import { ROLE_CHECK_MS } from '../../source/store/redis-role';
import { RedisServer } from '../harness/redis-server';
import { freePort } from '../harness/servers';
import { setTimeout as sleep } from 'node:timers/promises';
import { outage, OUTAGE_TIMEOUT_MS, untilHit, writeInGracePeriod, writeWithBreakerOpen } from '../helpers/outage';
import { createTestDatabase, uniqueNamespace } from '../helpers/test-database';

function scratch(t: import('ava').ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'orm-cache-redis-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const store = (url: string) => new RedisStore(url, { timeoutMs: OUTAGE_TIMEOUT_MS, breakerCooldownMs: 200 });

test('with Redis refusing connections, queries return database results', async (t) => {
  await outage(t, store(`redis://127.0.0.1:${await freePort()}`), 'redis_refused');
});

test('with Redis killed, queries return database results', async (t) => {
  const server = await RedisServer.launch(scratch(t));
  const redis = store(server.url);
  t.teardown(() => redis.close());
  await server.process?.kill();
  await outage(t, redis, 'redis_killed');
});

test('with Redis killed, a write waits for a connection once, not once for each of its store commands', async (t) => {
  const server = await RedisServer.launch(scratch(t));
  const timeoutMs = 300;
  const { db, cache } = await cachedOn(t, server, 'redis_killed_write', { timeoutMs, breakerCooldownMs: 60_000 });
  const { Article } = db.models;
  await Article.findByPk(1);
  await server.process?.kill();
  const article = (await Article.findByPk(2, { cache: false }))!;
  const started = performance.now();
  await article.update({ title: 'written with Redis gone' });
  const ms = performance.now() - started;
  const s = cache.metrics.snapshot();
  t.log(`the save took ${Math.round(ms)} ms with a ${timeoutMs} ms deadline; ${s.storeErrors} store errors`);
  // Its write mark, tombstone, tokens and epoch each waited the deadline in turn before.
  t.true(s.storeErrors >= 3, 'the save sent several store commands');
  t.true(ms < 2.5 * timeoutMs, `the save took ${Math.round(ms)} ms`);
  t.is((await Article.findByPk(2))!.title, 'written with Redis gone');
});

test('with Redis stopped (SIGSTOP: connections open, no answers), queries return database results', async (t) => {
  const server = await RedisServer.launch(scratch(t));
  t.teardown(() => server.stop());
  const redis = store(server.url);
  t.teardown(() => redis.close());
  // Connected first: the connection stays open while the server is stopped.
  for (let i = 0; !(await redis.set('warm', '1', 60).catch(() => false)); i++) {
    if (i > 100) throw new Error('never connected');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  server.process?.signal('SIGSTOP');
  await outage(t, redis, 'redis_stopped');
});

/** A cache on its own Redis, with a blog database. */
async function cachedOn(t: import('ava').ExecutionContext, server: RedisServer, label: string, options: RedisStoreOptions = { timeoutMs: 200, breakerCooldownMs: 100 }) {
  const db = await createTestDatabase(label, { authors: 2, articles: 6 });
  const redis = new RedisStore(server.url, options);
  const cache = ormCache.install(db.sequelize, { store: redis, namespace: uniqueNamespace(), replayMs: 50 });
  cache.on('error', () => undefined);
  t.teardown(async () => {
    cache.uninstall();
    await redis.close();
    await db.drop();
  });
  return { db, cache };
}

/**
 * A second app on the same database, Redis and namespace as `cache`'s: it
 * knows nothing of the first one's failed invalidations.
 */
async function secondApp(t: import('ava').ExecutionContext, db: Awaited<ReturnType<typeof cachedOn>>['db'], server: RedisServer, namespace: string) {
  const other = await db.connect();
  const store = new RedisStore(server.url, { timeoutMs: 200 });
  const cache = ormCache.install(other.sequelize, { store, namespace });
  cache.on('error', () => undefined);
  t.teardown(async () => {
    cache.uninstall();
    await store.close();
  });
  return { other, store, cache, sql: { sql: other.sql } };
}

test('a Redis restarted empty is filled again, and reads stay right meanwhile', async (t) => {
  const server = await RedisServer.launch(scratch(t));
  t.teardown(() => server.stop());
  const { db, cache } = await cachedOn(t, server, 'redis_restart_empty');
  const { Article } = db.models;
  const read = () => Article.findAll({ where: { authorId: 1 }, order: [['id', 'ASC']] });
  const before = (await read()).map((a) => a.title);
  await server.stop();
  t.deepEqual((await read()).map((a) => a.title), before, 'from the database while Redis is down');
  await server.start();
  await untilHit(read, db);
  t.deepEqual((await read()).map((a) => a.title), before);
  t.true(cache.metrics.snapshot().storeErrors > 0);
});

test('a Redis restarted with its data after a write it missed never serves the old entries', async (t) => {
  const server = await RedisServer.launch(scratch(t), true);
  t.teardown(() => server.stop());
  const { db, cache } = await cachedOn(t, server, 'redis_restart_data');
  const { Article } = db.models;
  const authorId = (await Article.findByPk(1))!.authorId;
  const list = () => Article.findAll({ where: { authorId }, order: [['id', 'ASC']] });
  await list();
  await untilHit(() => Article.findByPk(1), db);
  await untilHit(list, db);
  await cache.settled();
  await server.stop(); // the append-only file keeps the row and the list
  await Article.update({ title: 'written while Redis was down' }, { where: { id: 1 } });
  t.is(cache.metrics.snapshot().lostInvalidations > 0, true, 'the invalidation could not be delivered');
  await server.start(); // back with the entries from before the write
  for (let i = 0; i < 40; i++) {
    t.is((await Article.findByPk(1))!.title, 'written while Redis was down', `read ${i}`);
    t.true((await list()).some((a) => a.title === 'written while Redis was down'), `list read ${i}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await untilHit(() => Article.findByPk(1), db);
  t.is((await Article.findByPk(1))!.title, 'written while Redis was down', 'and once served from Redis again');
  t.true(cache.metrics.snapshot().invalidationsReplayed > 0);
});

test('a Redis full under noeviction (OOM errors) never fails a query and never serves stale data, in any app', async (t) => {
  const server = await RedisServer.launch(scratch(t), false, ['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction']);
  t.teardown(() => server.stop());
  const { db, cache } = await cachedOn(t, server, 'redis_oom');
  const { Article } = db.models;
  const { other, cache: otherCache, sql: otherSql } = await secondApp(t, db, server, cache.options.namespace);
  const otherArticle = other.models.Article;
  await untilHit(() => Article.findByPk(2), db);
  await untilHit(() => otherArticle.findByPk(2), otherSql);
  await untilHit(() => otherArticle.findAll({ where: { id: [1, 2, 3] } }), otherSql);
  // The apps' work after their answers (fills, lock releases that delete
  // keys) lands first: a key freed during the filling below would let a
  // small write in again.
  await Promise.all([cache.settled(), otherCache.settled()]);
  // Fill the server past its limit from outside, with small values: Redis
  // checks the limit before each command, with the command's own bytes
  // counted, so only a server already over it refuses small writes too. A
  // plain client, so that only Redis' OOM reply ends a step: a store's
  // `false` could be a slow reply on a loaded machine, not a full server.
  const filler = new Redis(server.url);
  t.teardown(() => filler.disconnect());
  const full = (error: unknown) => /\bOOM\b/.test(String(error));
  const fill = async (prefix: string, value: string, most: number) => {
    for (let i = 0; i < most; i++) {
      const refused = await filler.set(`${prefix}:${i}`, value).then(() => false, (error: unknown) => (full(error) ? true : Promise.reject(error)));
      if (refused) return;
    }
  };
  await fill('junk', 'x'.repeat(40_000), 200);
  await fill('small', 'x'.repeat(1000), 2000);
  await fill('tiny', 'x', 20_000);
  t.true(await filler.set('small:more', 'x').then(() => false, full), 'the server refuses even small writes now');
  const refused: string[] = [];
  cache.on('error', (e) => refused.push(e.message));
  await Article.update({ title: 'written while Redis was full' }, { where: { id: 2 } });
  t.true(refused.some((m) => /\bOOM\b/.test(m)), 'the invalidation was refused for want of memory');
  for (let i = 0; i < 20; i++) t.is((await Article.findByPk(2))!.title, 'written while Redis was full');
  t.is((await otherArticle.findByPk(2))!.title, 'written while Redis was full', 'the other app does not serve its old row');
  t.true((await otherArticle.findAll({ where: { id: [1, 2, 3] } })).some((a) => a.title === 'written while Redis was full'), 'nor its old list');
  t.true(cache.metrics.snapshot().storeErrors > 0, 'the OOM errors are counted');
});

/** Poll `check` every 20 ms for at most `ms`; whether it came true. */
async function within(ms: number, check: () => Promise<boolean> | boolean): Promise<boolean> {
  for (const until = Date.now() + ms; Date.now() < until; await sleep(20)) if (await check()) return true;
  return check();
}

test('a master demoted to a replica (READONLY to every write) is read by no app until it is master again: no entry a lost write replaced is served', async (t) => {
  const dir = scratch(t);
  const [server, peer] = await Promise.all([RedisServer.launch(dir), RedisServer.launch(dir)]);
  t.teardown(() => Promise.all([server.stop(), peer.stop()]).then(() => undefined));
  await peer.cli('REPLICAOF', '127.0.0.1', String(server.port));
  const { db, cache } = await cachedOn(t, server, 'redis_readonly');
  const { Article } = db.models;
  // A second app that only reads: no write of its own tells it of the demotion.
  const { other, store: otherStore, sql: otherSql } = await secondApp(t, db, server, cache.options.namespace);
  const otherList = () => other.models.Article.findAll({ where: { id: [1, 2, 3] } });
  await untilHit(() => Article.findByPk(2), db);
  await untilHit(() => other.models.Article.findByPk(2), otherSql);
  await untilHit(otherList, otherSql);
  await cache.settled();
  const size = await server.cli('DBSIZE');
  t.true(await within(5000, async () => (await peer.cli('DBSIZE')) === size), 'the peer has every entry');
  // The failover: the peer is the master now, the server its replica with the same entries.
  await peer.cli('REPLICAOF', 'NO', 'ONE');
  await server.cli('REPLICAOF', '127.0.0.1', String(peer.port));
  t.true(await within(5000, async () => /master_link_status:up/.test(await server.cli('INFO', 'replication'))), 'the server replicates the peer');
  t.true(await within(3 * ROLE_CHECK_MS, () => otherStore.health()[0]?.replica === true), `the reading app sees the replica within ${ROLE_CHECK_MS} ms`);
  const refused: string[] = [];
  cache.on('error', (e) => refused.push(e.message));
  await Article.update({ title: 'written to a demoted master' }, { where: { id: 2 } });
  t.true(refused.some((m) => /READONLY/.test(m)), 'the invalidation was refused by the replica');
  t.is((await Article.findByPk(2))!.title, 'written to a demoted master');
  t.is((await other.models.Article.findByPk(2))!.title, 'written to a demoted master', 'the other app does not serve its old row');
  t.true((await otherList()).some((a) => a.title === 'written to a demoted master'), 'nor its old list');
  other.sql.take();
  await other.models.Article.findByPk(2);
  t.is(other.sql.selects().length, 1, 'nothing is read from the replica');
  // Master again: the writer's lost invalidation is replayed, then both apps are served from Redis.
  await server.cli('REPLICAOF', 'NO', 'ONE');
  await untilHit(() => Article.findByPk(2), db);
  await untilHit(() => other.models.Article.findByPk(2), otherSql);
  t.is((await other.models.Article.findByPk(2))!.title, 'written to a demoted master');
  t.true((await otherList()).some((a) => a.title === 'written to a demoted master'));
  t.true(cache.metrics.snapshot().invalidationsReplayed > 0, 'the lost invalidation was replayed');
});

test('a write in its store\'s grace period still invalidates the lists of schemes it has not seen (the registry read says "cannot tell", never "absent")', async (t) => {
  const server = await RedisServer.launch(scratch(t));
  t.teardown(() => server.stop());
  const options = { timeoutMs: 200, returnGraceMs: 4000 };
  const [writerStore, readerStore] = [new RedisStore(server.url, options), new RedisStore(server.url, options)];
  await writeInGracePeriod(t, 'redis_grace_write', writerStore, readerStore, async () => {
    // Every connection dropped: both apps connect again and read nothing for the grace period.
    await server.cli('CLIENT', 'KILL', 'TYPE', 'normal');
    for (const store of [writerStore, readerStore]) {
      if (!(await within(3000, async () => (await store.set('grace:probe', '1', 60).catch(() => false)) === true))) throw new Error('not connected again');
    }
  });
});

test('a command whose connection died is never sent again after a reconnect (it would land after later writes)', async (t) => {
  const server = await RedisServer.launch(scratch(t));
  t.teardown(() => server.stop());
  const redis = new RedisStore(server.url, { timeoutMs: 100, breakerCooldownMs: 50 });
  t.teardown(() => redis.close());
  const key = `late:${Date.now()}`;
  for (let i = 0; !(await redis.set(key, 'before', 60).catch(() => false)); i++) {
    if (i > 100) throw new Error('never connected');
    await sleep(20);
  }
  server.process?.signal('SIGSTOP');
  // Written to the socket, never answered: the deadline fails it.
  await t.throwsAsync(redis.set(key, 'late', 60), { message: /no answer/ });
  await server.process?.kill();
  await server.start(); // empty, on the same port
  for (let i = 0; !(await redis.get(key).then(() => true, () => false)); i++) {
    if (i > 200) throw new Error('never reconnected');
    await sleep(20);
  }
  await sleep(300);
  t.is(await server.cli('GET', key), '', 'the failed set was not applied after the reconnect');
});

test("a write whose store breaker is still open after Redis came back delivers its invalidation: another process's entry dies with it", async (t) => {
  const server = await RedisServer.launch(scratch(t));
  t.teardown(() => server.stop());
  await writeWithBreakerOpen(
    t,
    'redis_open_breaker',
    { kill: async () => server.process?.kill(), start: () => server.start() },
    new RedisStore(server.url, { timeoutMs: 100, breakerThreshold: 3, breakerCooldownMs: 5000 }),
    new RedisStore(server.url, { timeoutMs: 500 }),
  );
});
