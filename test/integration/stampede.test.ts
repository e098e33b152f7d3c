/**
 * docs/architecture.md, invariant 3: however many processes ask for the same cold or
 * invalidated entry at once, one database query runs. Counted in MariaDB's
 * general log, not in the client.
 */
import test from 'ava';
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import type { Sequelize } from 'sequelize';
import { MemcachedStore, ormCache } from '../../source';
import { cachedBlogFor } from '../helpers/cached-blog';
import { forkChild } from '../helpers/fork-child';
import { createTestDatabase, memcachedServers, sharedStore, uniqueNamespace } from '../helpers/test-database';

interface Report {
  ok: number;
  lengths: number[];
  metrics: Record<string, number>;
}

type StoreKind = 'memcached' | 'redis';
const STORES: StoreKind[] = ['memcached', 'redis'];

async function startChild(database: string, namespace: string, kind: StoreKind): Promise<{ go(message: object, onNote?: (note: unknown) => void): Promise<Report>; stop(): void }> {
  const child = await forkChild<Report>('stampede-child.ts', [database, namespace, '', kind]);
  return { go: (go, onNote) => child.ask({ go }, onNote), stop: child.stop };
}

/**
 * Four reader processes, the general log on, and a marker to count one
 * query's executions. `softTtl` applies to this process's install only. The
 * tests of this file run serially: they switch the server's general log.
 */
async function fourProcesses(t: import('ava').ExecutionContext, label: string, softTtl?: number, kind: StoreKind = 'memcached') {
  const db = await createTestDatabase(label, { authors: 4, articles: 80 });
  const namespace = uniqueNamespace();
  const store = sharedStore(kind, 2000);
  const cache = ormCache.install(db.sequelize, { store, namespace, ...(softTtl ? { softTtl } : {}) });
  const admin = await mysql.createConnection(process.env.ORM_CACHE_MYSQL_URL!);
  const children = await Promise.all([1, 2, 3, 4].map(() => startChild(db.name, namespace, kind)));
  t.teardown(async () => {
    for (const child of children) child.stop();
    await admin.query('SET GLOBAL general_log = 0').catch(() => undefined);
    await admin.end();
    cache.uninstall();
    await store.close();
    await db.drop();
  });
  await admin.query("SET GLOBAL log_output = 'TABLE'");
  await admin.query('SET GLOBAL general_log = 1');
  const marker = `stampede-${randomBytes(4).toString('hex')}`;
  // The count query itself must not match: the marker is split in its text.
  const executions = async () => {
    const [rows] = await admin.query(
      "SELECT COUNT(*) AS n FROM mysql.general_log WHERE command_type IN ('Query', 'Execute') AND argument LIKE CONCAT('%', ?, ?, '%')",
      [marker.slice(0, 5), marker.slice(5)],
    );
    return Number((rows as { n: number }[])[0]!.n);
  };
  return { db, cache, children, marker, executions };
}

for (const kind of STORES) test.serial(`${kind}: 4 processes × 100 concurrent identical findAll on a cold key run its SQL once, and once again after a write`, async (t) => {
  const { db, cache, children, marker, executions } = await fourProcesses(t, `stampede_${kind}`, undefined, kind);

  // The articles table is write-locked from another session while the
  // processes start, so the filler's SELECT blocks and no fill can land
  // before every process has tried the fill lock: each tells its outcome,
  // and the table is unlocked once one is filling and three are waiting.
  const locker = await mysql.createConnection(process.env.ORM_CACHE_MYSQL_URL!);
  t.teardown(() => locker.end());
  const burst = async () => {
    await locker.query(`LOCK TABLES \`${db.name}\`.articles WRITE`);
    const notes: unknown[] = [];
    let engaged!: () => void;
    const allEngaged = new Promise<void>((resolve) => (engaged = resolve));
    const onNote = (note: unknown) => notes.push(note) === children.length && engaged();
    const at = Date.now() + 300;
    const replies = Promise.all(children.map((c) => c.go({ n: 100, authorId: 2, marker, at, note: true }, onNote)));
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 20_000).unref());
    await Promise.race([allEngaged, timeout]);
    await locker.query('UNLOCK TABLES');
    const reports = await replies;
    t.deepEqual([...notes].sort(), ['filling', 'waiting', 'waiting', 'waiting'], 'one process filled while the other three waited');
    t.deepEqual(reports.map((r) => r.ok), [100, 100, 100, 100]);
    t.is(new Set(reports.flatMap((r) => r.lengths)).size, 1, 'every reader got the same rows');
    t.true(reports.reduce((n, r) => n + r.metrics.lockWaits!, 0) >= 3, 'the waiting processes counted their waits');
    return reports;
  };
  await burst();
  t.is(await executions(), 1, 'one query for 400 cold readers');

  const article = (await db.models.Article.findOne({ where: { authorId: 2 }, cache: false }))!;
  await article.update({ title: 'invalidating write' });
  // The write's mark is lowered after save() returns (source/tokens/write-marks.ts);
  // readers of other processes that come while it is still up may read but
  // store nothing, so the claim is for readers that come after it.
  await cache.settled();
  await burst();
  t.is(await executions(), 2, 'one more query after the write invalidated the entry');
});

test.serial('a lock holder killed mid-fill delays the others by at most the lock wait; nothing hangs', async (t) => {
  const db = await createTestDatabase('lock_holder', { authors: 3, articles: 30 });
  const namespace = uniqueNamespace();
  const store = new MemcachedStore(memcachedServers(), { timeoutMs: 2000 });
  const cache = ormCache.install(db.sequelize, { store, namespace, lockTtl: 3, lockWaitMs: 1500 });
  t.teardown(async () => {
    cache.uninstall();
    await store.close();
    await db.drop();
  });
  const holder = fork(join(__dirname, '..', 'helpers', 'lock-holder-child.ts'), [db.name, namespace, '3'], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    cwd: join(__dirname, '..', '..'),
  });
  await new Promise<void>((resolve) => holder.on('message', (m: { holding?: boolean }) => m.holding && resolve()));
  holder.kill('SIGKILL');
  const list = { where: { authorId: 3 }, order: [['id', 'ASC']] as [string, string][] };
  const started = performance.now();
  const rows = await db.models.Article.findAll(list);
  const waited = performance.now() - started;
  t.deepEqual(rows.map((r) => r.id), (await db.models.Article.findAll({ ...list, cache: false })).map((r) => r.id));
  // The dead holder's lock lives 10 s; the reader gives up after lockWaitMs (1.5 s).
  t.true(waited >= 1000 && waited < 5000, `waited ${Math.round(waited)} ms for the dead holder's lock`);
  const snapshot = cache.metrics.snapshot();
  t.is(snapshot.lockTimeouts, 1);
  db.sql.take();
  await db.models.Article.findAll(list);
  t.is(db.sql.selects().length, 0, 'the reader that gave up waiting filled the entry itself');
});

test.serial('a waiter never accepts a fill that a write made stale while it waited', async (t) => {
  const { db, cache, probe } = await cachedBlogFor(t, 'waiter_race', { authors: 3, articles: 30 }, { lockWaitMs: 600 });
  const { Article } = db.models;
  const list = { where: { authorId: 2 }, order: [['id', 'ASC']] as [string, string][] };
  const gate = probe.pauseNext('set', (key) => key.includes(':q:'));
  const filler = Article.findAll(list); // takes the lock, reads the database, is held before storing
  await gate.reached;
  const moved = (await Article.findOne({ where: { authorId: 2 }, cache: false }))!;
  await moved.update({ authorId: 1 }); // the write returns here
  // The waiter is another app on the same store and namespace (in this one
  // it would board the filler's next flight instead of polling the lock).
  const other = await db.connect();
  const second = ormCache.install(other.sequelize, { store: probe, namespace: cache.options.namespace, lockWaitMs: 600 });
  t.teardown(() => second.uninstall());
  const waiter = other.models.Article.findAll(list); // starts after the write: must see it
  await new Promise((r) => setTimeout(r, 50)); // the waiter is polling the locked entry
  gate.release(); // the filler stores its pre-write list, under pre-write tokens
  const [, seen] = await Promise.all([filler, waiter]);
  t.false(seen.some((a) => a.id === moved.id), 'the waiter did not return the pre-write list');
  t.true(second.metrics.snapshot().lockWaits >= 1);
});

/** Hold the first query whose SQL contains `text` once it has run, until `release()`. */
function holdQuery(sequelize: Sequelize, text: string): { reached: Promise<void>; release: () => void } {
  let reached!: () => void;
  let release!: () => void;
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  const held = new Promise<void>((resolve) => (release = resolve));
  let holding = true;
  sequelize.addHook('afterQuery', async (_options, query) => {
    if (!holding || !(query as unknown as { sql?: string }).sql?.includes(text)) return;
    holding = false;
    reached();
    await held;
  });
  return { reached: arrived, release };
}

test.serial('a read that starts while an identical read runs boards the next flight, so it sees a write made meanwhile', async (t) => {
  const { db, cache } = await cachedBlogFor(t, 'next_flight', { authors: 3, articles: 30 });
  const { Article } = db.models;
  const list = { where: { authorId: 2 }, order: [['id', 'ASC']] as [string, string][] };
  // The running flight has read the database and not yet answered (its
  // answer does not wait for the store, so the hold is on the query).
  const gate = holdQuery(db.sequelize, '`author_id` = 2');
  const filler = Article.findAll(list);
  await gate.reached;
  const moved = (await Article.findOne({ where: { authorId: 2 }, cache: false }))!;
  await moved.update({ authorId: 1 });
  db.sql.take();
  const late = Array.from({ length: 10 }, () => Article.findAll(list)); // after the write: one boarding flight
  await new Promise((r) => setTimeout(r, 20));
  gate.release();
  const [before, ...after] = await Promise.all([filler, ...late]);
  t.true(before.some((a) => a.id === moved.id), 'the running flight read before the write');
  for (const rows of after) t.false(rows.some((a) => a.id === moved.id), 'a boarded read saw the write');
  t.is(cache.metrics.snapshot().coalesced, 9, 'nine boarded the tenth read');
  t.is(db.sql.selects().filter((s) => s.includes('`author_id` = 2')).length, 1, 'one database read for the ten');
});

test.serial('waiters stop waiting when the holder releases without a fill, and never wait on a failing store', async (t) => {
  const db = await createTestDatabase('lock_release', { authors: 2, articles: 10 });
  const { ProbeStore } = await import('../helpers/store-probe');
  const memcached = new MemcachedStore(memcachedServers(), { timeoutMs: 2000 });
  // A store whose lock adds fail, as when memcached times out on them.
  class FailingLocks extends ProbeStore {
    override add(key: string, value: string, ttl: number): Promise<boolean> {
      return key.endsWith(':lock') && failLocks ? Promise.reject(new Error('add timed out')) : super.add(key, value, ttl);
    }
  }
  let failLocks = false;
  const probe = new FailingLocks(memcached);
  const cache = ormCache.install(db.sequelize, { store: probe, namespace: uniqueNamespace(), lockWaitMs: 5000, lockTtl: 10 });
  t.teardown(async () => {
    cache.uninstall();
    await probe.close();
    await db.drop();
  });
  const { Article } = db.models;
  // A missing UUID row: nothing is stored for it (string keys record no
  // absence), so the holder releases its lock without a fill. The waiters are
  // another app (in this one they would board the holder's next flight).
  const other = await db.connect();
  const second = ormCache.install(other.sequelize, { store: probe, namespace: cache.options.namespace, lockWaitMs: 5000, lockTtl: 10 });
  t.teardown(() => second.uninstall());
  const unknown = '00000000-0000-4000-8000-000000000000';
  const gate = probe.pauseNext('delete', (key) => key.endsWith(':lock'));
  const holder = db.models.Tag.findByPk(unknown);
  await gate.reached; // the holder read nothing and is releasing its lock
  const started = performance.now();
  const waiters = Promise.all(Array.from({ length: 10 }, () => other.models.Tag.findByPk(unknown)));
  await new Promise((r) => setTimeout(r, 100));
  gate.release();
  t.deepEqual([await holder, ...(await waiters)], Array(11).fill(null));
  t.true(performance.now() - started < 3000, 'the waiters stopped when the lock went, not after lockWaitMs');
  t.is(second.metrics.snapshot().lockWaits, 1, 'one waiter; the other nine boarded its flight');
  t.is(second.metrics.snapshot().lockTimeouts, 0, 'no waiter sat out lockWaitMs');

  failLocks = true;
  const rows = await Promise.all(Array.from({ length: 20 }, () => Article.findAll({ where: { authorId: 1 }, order: [['id', 'ASC']] })));
  const truth = (await Article.findAll({ where: { authorId: 1 }, order: [['id', 'ASC']], cache: false })).map((a) => a.id);
  for (const list of rows) t.deepEqual(list.map((a) => a.id), truth);
  t.is(cache.metrics.snapshot().lockTimeouts, 0, 'an unreadable lock is not waited on');
});

test.serial('concurrent identical reads in one process share one lookup and one read, and get independent results', async (t) => {
  const { db, cache, probe } = await cachedBlogFor(t, 'single_flight', { authors: 3, articles: 30 });
  const { Article } = db.models;
  const list = { where: { authorId: 2 }, order: [['id', 'ASC']] as [string, string][] };
  db.sql.take();
  probe.reset();
  const results = await Promise.all(Array.from({ length: 50 }, () => Article.findAll(list)));
  t.is(db.sql.selects().length, 1);
  const lockAttempts = probe.results.filter((r) => r.op === 'add' && r.key.endsWith(':lock')).length;
  // The first read flies at once; the other 49 board the next flight, whose
  // leader finds the entry the first one stored.
  t.is(cache.metrics.snapshot().coalesced, 48);
  t.is(lockAttempts, 1);
  // The first flight looks up, and re-checks once it holds the lock; the second looks up.
  t.is(probe.results.filter((r) => r.op === 'getMulti' && r.key.includes(':q:')).length, 3, 'three entry lookups for 50 reads');
  const truth = (await Article.findAll({ ...list, cache: false })).map((a) => a.get({ plain: true }));
  for (const rows of results) t.deepEqual(rows.map((a) => a.get({ plain: true })), truth);
  // Each caller owns its instances and their JSON values.
  const withMetadata = results.map((rows) => rows.find((a) => a.metadata !== null)!);
  (withMetadata[0]!.metadata as Record<string, unknown>).changed = true;
  t.is((withMetadata[1]!.metadata as Record<string, unknown>).changed, undefined);
  t.not(results[0]![0], results[1]![0]);
});

test.serial('concurrent reads of one row share one lookup, cold or hot, and spellings of a string key never share', async (t) => {
  const { db, cache, probe } = await cachedBlogFor(t, 'row_flight', { authors: 3, articles: 30 });
  const { Article, Tag } = db.models;
  const id = db.seeded.articleIds[4]!;
  db.sql.take();
  probe.reset();
  const cold = await Promise.all(Array.from({ length: 30 }, () => Article.findByPk(id)));
  t.is(db.sql.selects().length, 1, 'one read for 30 cold readers');
  t.is(cache.metrics.snapshot().coalesced, 28);
  const hot = await Promise.all(Array.from({ length: 30 }, () => Article.findByPk(id)));
  t.is(db.sql.selects().length, 0);
  t.is(cache.metrics.snapshot().coalesced, 28 + 28);
  const truth = (await Article.findByPk(id, { cache: false }))!.get({ plain: true });
  for (const article of [...cold, ...hot]) t.deepEqual(article!.get({ plain: true }), truth);
  t.not(hot[0], hot[1]);
  t.not(hot[0]!.createdAt, hot[1]!.createdAt, 'each caller owns its Date objects');

  // A string key is looked up case-folded; other spellings fly separately.
  const tag = (await Tag.findOne({ cache: false }))!;
  const spellings = [tag.id, tag.id.toUpperCase(), tag.id];
  const found = await Promise.all(spellings.map((s) => Tag.findByPk(s)));
  const uncached = await Promise.all(spellings.map((s) => Tag.findByPk(s, { cache: false })));
  t.deepEqual(found.map((f) => f?.id ?? null), uncached.map((f) => f?.id ?? null));
});

test.serial('a read that starts once a flight has begun reading never joins it', async (t) => {
  const { db, cache, probe } = await cachedBlogFor(t, 'flight_seal', { authors: 3, articles: 30 }, { lockWaitMs: 300 });
  const { Article } = db.models;
  const list = { where: { authorId: 3 }, order: [['id', 'ASC']] as [string, string][] };
  const gate = probe.pauseNext('add', (key) => key.endsWith(':lock'));
  const leader = Article.findAll(list);
  await gate.reached; // the leader's flight is sealed: it is taking the lock
  const moved = (await Article.findOne({ where: { authorId: 1 }, cache: false }))!;
  await moved.update({ authorId: 3 });
  const late = Article.findAll(list); // starts after the write returned
  await new Promise((r) => setTimeout(r, 20));
  gate.release();
  const [, seen] = await Promise.all([leader, late]);
  t.is(cache.metrics.snapshot().coalesced, 0);
  t.true(seen.some((a) => a.id === moved.id), 'the late read sees the write');
});

for (const kind of STORES) test.serial(`${kind}: a soft-expired key under 4 processes × 100 concurrent readers: one refresh query, every reader served the stale copy`, async (t) => {
  // This process builds the entry with a 1 s soft TTL; the readers' refresh
  // rebuilds it with theirs (the default, 300 s), so one refresh is expected.
  const { db, children, marker, executions } = await fourProcesses(t, `soft_stampede_${kind}`, 1, kind);
  const { Op } = await import('sequelize');
  const list = { where: { authorId: 3, title: { [Op.ne]: marker } }, order: [['id', 'ASC']] as [string, string][] };
  const before = await db.models.Article.findAll(list);
  t.is(await executions(), 1);
  await new Promise((r) => setTimeout(r, 1300)); // past the 1 s soft TTL
  const reports = await Promise.all(children.map((c) => c.go({ n: 100, authorId: 3, marker })));
  t.deepEqual(reports.map((r) => r.ok), [100, 100, 100, 100]);
  t.deepEqual([...new Set(reports.flatMap((r) => r.lengths))], [before.length]);
  t.is(await executions(), 2, 'one refresh query for 400 readers of a soft-expired entry');
  t.is(reports.reduce((n, r) => n + r.metrics.refreshes!, 0), 1);
  t.is(reports.reduce((n, r) => n + r.metrics.staleServed!, 0), 400);
});
