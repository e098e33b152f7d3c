/**
 * A RealWorld ("Conduit") application's reads (fixtures/conduit.ts) through
 * the cache: how many of its reads outside transactions the cache serves
 * (docs/metrics.md, Coverage of a real application), and a differential
 * run in which every endpoint's answer from the cached app equals the
 * uncached app's on the same database, between random writes.
 */
import anyTest, { type TestFn } from 'ava';
import mysql from 'mysql2/promise';
import { Sequelize } from 'sequelize';
import { type ConduitModels, conduitReads, conduitWrites, defineConduit, seedConduit } from '../../fixtures/conduit';
import { prng } from '../../fixtures/seed';
import { MemcachedStore, type OrmCache, ormCache } from '../../source';
import { memcachedServers, uniqueNamespace } from '../helpers/test-database';

interface App {
  sequelize: Sequelize;
  models: ConduitModels;
}
interface Context {
  database: string;
  cached: App;
  plain: App;
  cache: OrmCache;
}
const test = anyTest as TestFn<Context>;
const SIZE = { users: 30, articles: 120, tags: 12 };

function open(database: string): App {
  const url = new URL(process.env.ORM_CACHE_MYSQL_URL as string);
  url.pathname = `/${database}`;
  const sequelize = new Sequelize(url.toString(), { dialect: 'mysql', logging: false });
  return { sequelize, models: defineConduit(sequelize) };
}

test.before(async (t) => {
  const database = `oc_conduit_${uniqueNamespace('')}`;
  const admin = await mysql.createConnection(process.env.ORM_CACHE_MYSQL_URL as string);
  await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
  await admin.end();
  const plain = open(database);
  await plain.sequelize.sync();
  await seedConduit(plain.models, SIZE);
  const cached = open(database);
  const cache = ormCache.install(cached.sequelize, { store: new MemcachedStore(memcachedServers(), { timeoutMs: 2000 }), namespace: uniqueNamespace() });
  t.context = { database, cached, plain, cache };
});

test.after.always(async (t) => {
  const { database, cached, plain, cache } = t.context;
  cache.uninstall();
  await cache.store.close();
  await Promise.allSettled([cached.sequelize.close(), plain.sequelize.close()]);
  const admin = await mysql.createConnection(process.env.ORM_CACHE_MYSQL_URL as string);
  await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await admin.end();
});

/** One random request of a Conduit session: mostly reads, some writes, as the RealWorld API suite drives it. */
function session(app: App, seed: number) {
  const random = prng(seed);
  const int = (n: number) => Math.floor(random() * n);
  const reads = conduitReads(app.models, app.sequelize);
  const writes = conduitWrites(app.models, app.sequelize);
  const viewer = () => 1 + int(SIZE.users);
  const slug = () => `article-${1 + int(SIZE.articles)}`;
  const username = () => `user${1 + int(SIZE.users)}`;
  const page = () => ({ limit: [10, 20][int(2)] as number, offset: [0, 0, 10, 20][int(4)] as number });
  let created = 0;
  const readRequests: [string, () => Promise<unknown>][] = [
    ['list', () => reads.listArticles(viewer(), {}, page().limit, page().offset)],
    ['list by tag', () => reads.listArticles(viewer(), { tag: `tag${1 + int(SIZE.tags)}` }, 20, 0)],
    ['list by author', () => reads.listArticles(viewer(), { author: username() }, 20, 0)],
    ['list favorited', () => reads.listArticles(viewer(), { favoritedBy: username() }, 20, 0)],
    ['feed', () => reads.feed(viewer(), page().limit, page().offset)],
    ['article', () => reads.article(viewer(), slug())],
    ['comments', () => reads.comments(slug())],
    ['profile', () => reads.profile(viewer(), username())],
    ['user', () => reads.currentUser(viewer())],
    ['tags', () => reads.tags()],
  ];
  const writeRequests: [string, () => Promise<unknown>][] = [
    ['favorite', () => writes.favorite(viewer(), slug())],
    ['unfavorite', () => writes.unfavorite(viewer(), slug())],
    ['follow', () => writes.follow(viewer(), viewer(), random() < 0.6)],
    ['comment', () => writes.comment(viewer(), slug(), `comment ${int(1e6)}`)],
    ['delete comment', () => writes.deleteComment(viewer())],
    ['update article', () => writes.updateArticle(slug(), `Retitled ${int(1e6)}`)],
    ['create article', () => writes.createArticle(viewer(), `new-${seed}-${++created}`, [`tag${1 + int(SIZE.tags)}`, `fresh${int(5)}`])],
  ];
  return {
    read: () => readRequests[int(readRequests.length)] as [string, () => Promise<unknown>],
    write: () => writeRequests[int(writeRequests.length)] as [string, () => Promise<unknown>],
    random,
  };
}

test.serial('a Conduit session: at least 90 % of the reads outside transactions go through the cache', async (t) => {
  const { cached, cache } = t.context;
  const drive = session(cached, 1);
  for (let i = 0; i < 250; i++) {
    const [, request] = drive.random() < 0.15 ? drive.write() : drive.read();
    await request();
  }
  await cache.settled();
  const s = cache.metrics.snapshot();
  const reads = s.rowHits + s.rowMisses + s.listHits + s.listMisses + s.countHits + s.countMisses;
  const inTransactions = Object.entries(s.bypassReasons)
    .filter(([reason]) => reason.startsWith('transaction-'))
    .reduce((n, [, count]) => n + (count ?? 0), 0);
  const outside = reads + s.bypassed - inTransactions;
  const coverage = reads / outside;
  const top = Object.entries(s.bypassReasons).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0));
  t.log(`reads ${reads + s.bypassed}: ${s.rowHits + s.listHits + s.countHits} hits, ${s.rowMisses + s.listMisses + s.countMisses} misses, ${s.bypassed} bypassed (${inTransactions} in transactions)`);
  t.log(`coverage outside transactions ${(coverage * 100).toFixed(1)} %; bypass reasons: ${top.map(([r, n]) => `${r} ${n}`).join(', ') || 'none'}`);
  t.true(coverage >= 0.9, `coverage ${(coverage * 100).toFixed(1)} %`);
});

test.serial('every Conduit endpoint answers from the cache what it answers without it, between random writes', async (t) => {
  const { cached, plain, cache } = t.context;
  const writer = session(cached, 2);
  const readsCached = session(cached, 3);
  const readsPlain = session(plain, 3); // the same sequence of reads
  for (let i = 0; i < 200; i++) {
    if (writer.random() < 0.3) await writer.write()[1]();
    const [label, request] = readsCached.read();
    const [, same] = readsPlain.read();
    const fromCache = JSON.parse(JSON.stringify(await request()));
    const fromDatabase = JSON.parse(JSON.stringify(await same()));
    t.deepEqual(fromCache, fromDatabase, `request ${i}: ${label}`);
    if (JSON.stringify(fromCache) !== JSON.stringify(fromDatabase)) return;
  }
  await cache.settled();
  t.true(cache.metrics.snapshot().rowHits + cache.metrics.snapshot().listHits > 100, 'the cache served reads');
});
