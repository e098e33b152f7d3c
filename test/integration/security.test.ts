/**
 * memcached has no authentication: whoever reaches it can plant values. With
 * `sign`, a planted, altered or moved value reads as absent (a miss, counted
 * in `forgedEntries`) and is replaced by the next fill; without it, the same
 * plant is served, which is what makes the option worth having. Attributes
 * listed in `models: { X: { exclude } }` never reach memcached at all.
 */
import test from 'ava';
import { MemcachedStore, type OrmCache, ormCache } from '../../source';
import { Wire } from '../soak/memcached-wire';
import { createTestDatabase, memcachedServers, type TestDatabase, uniqueNamespace } from '../helpers/test-database';

const SECRET = 'a secret of more than sixteen characters';

async function setup(t: import('ava').ExecutionContext, label: string, options: { sign?: string; exclude?: string[] } = {}) {
  const db = await createTestDatabase(label, { authors: 3, articles: 8 });
  // Deadlines far above CI's stalls: a lookup that timed out would store nothing, and these tests are about values.
  const store = new MemcachedStore(memcachedServers(), { timeoutMs: 1000 });
  const cache = ormCache.install(db.sequelize, {
    store,
    namespace: uniqueNamespace(),
    sign: options.sign,
    models: options.exclude ? { Author: { exclude: options.exclude } } : {},
  });
  // A second client, standing for whoever else can reach the server.
  const attacker = new MemcachedStore(memcachedServers(), { timeoutMs: 1000 });
  t.teardown(async () => {
    cache.uninstall();
    await Promise.all([store.close(), attacker.close()]);
    await db.drop();
  });
  return { db, cache, attacker };
}

function rowKey(cache: OrmCache, db: TestDatabase, id: number): string {
  return cache.keys.row(cache.schemaOf(db.models.Article) as NonNullable<ReturnType<OrmCache['schemaOf']>>, String(id));
}

async function cachedRow(t: import('ava').ExecutionContext, cache: OrmCache, db: TestDatabase, attacker: MemcachedStore, id: number) {
  await db.models.Article.findByPk(id);
  await cache.settled(); // the fill lands after the answer; the attacker reads on its own connection
  const genuine = await attacker.get(rowKey(cache, db, id));
  t.truthy(genuine, 'the row is in memcached');
  return genuine as string;
}

test('without sign, a value planted in memcached is served (the threat)', async (t) => {
  const { db, cache, attacker } = await setup(t, 'unsigned_plant');
  const truth = (await db.models.Article.findByPk(1, { cache: false }))?.title as string;
  const genuine = await cachedRow(t, cache, db, attacker, 1);
  await attacker.set(rowKey(cache, db, 1), genuine.replace(JSON.stringify(truth).slice(1, -1), 'planted'), 60);
  t.is((await db.models.Article.findByPk(1))?.title, 'planted');
});

test('with sign, an altered value reads as a miss, is counted, and is replaced by the next fill', async (t) => {
  const { db, cache, attacker } = await setup(t, 'signed_alter', { sign: SECRET });
  const truth = (await db.models.Article.findByPk(1, { cache: false }))?.title as string;
  const genuine = await cachedRow(t, cache, db, attacker, 1);
  t.regex(genuine, /^[A-Za-z0-9_-]{22}\./, 'stored values carry their signature');
  t.is((await db.models.Article.findByPk(1))?.title, truth);
  const hits = cache.metrics.snapshot().rowHits;
  await attacker.set(rowKey(cache, db, 1), genuine.replace(JSON.stringify(truth).slice(1, -1), 'planted'), 60);
  t.is((await db.models.Article.findByPk(1))?.title, truth);
  const forged = cache.metrics.snapshot().forgedEntries;
  t.true(forged >= 1);
  t.is(cache.metrics.snapshot().rowHits, hits, 'the altered value was not a hit');
  t.is((await db.models.Article.findByPk(1))?.title, truth);
  t.is(cache.metrics.snapshot().rowHits, hits + 1, 'the fill replaced it with a signed value');
  t.is(cache.metrics.snapshot().forgedEntries, forged);
});

test('with sign, a genuine value moved to another key, or plain garbage, reads as a miss', async (t) => {
  const { db, cache, attacker } = await setup(t, 'signed_move', { sign: SECRET });
  const one = await cachedRow(t, cache, db, attacker, 1);
  await cachedRow(t, cache, db, attacker, 2);
  const truth = (await db.models.Article.findByPk(2, { cache: false }))?.get({ plain: true });
  await attacker.set(rowKey(cache, db, 2), one, 60);
  t.deepEqual((await db.models.Article.findByPk(2))?.get({ plain: true }), truth);
  await attacker.set(rowKey(cache, db, 2), 'garbage that is not even signed', 60);
  t.deepEqual((await db.models.Article.findByPk(2))?.get({ plain: true }), truth);
  // Tokens too: a forged token is replaced, which only ever invalidates.
  const list = async () => (await db.models.Article.findAll({ where: { authorId: 1 }, order: [['id', 'ASC']] })).map((a) => a.id);
  const ids = await list();
  await attacker.set(cache.keys.namespaceToken(), 'forged token', 0);
  t.deepEqual(await list(), ids);
  t.deepEqual(await list(), ids);
  t.true(cache.metrics.snapshot().forgedEntries >= 3);
});

test('an excluded attribute never reaches memcached, and reads that ask for it go to the database', async (t) => {
  const { db, cache, attacker } = await setup(t, 'exclude', { exclude: ['email'] });
  const { Author, Article } = db.models;
  const emails = (await Author.findAll({ cache: false })).map((a) => a.email);
  db.sql.take();
  for (let i = 0; i < 2; i++) {
    // Default attributes include email: the database every time, email present.
    t.deepEqual((await Author.findByPk(1))?.email, emails[0]);
    t.deepEqual((await Author.findAll({ order: [['id', 'ASC']] })).map((a) => a.email), emails);
    t.truthy((await Article.findAll({ include: [Author], where: { authorId: 2 } }))[0]?.author?.email);
    t.is(await Author.count({ where: { email: emails[1] } }), 1);
    t.is(await Author.count({ distinct: true, col: 'email' }), emails.length);
  }
  t.is(db.sql.selects().length, 10, 'every read naming email went to the database');
  // Reads without it are cached as usual.
  const withoutEmail = { attributes: { exclude: ['email'] } };
  const first = await Author.findByPk(1, withoutEmail);
  t.is(first?.email, undefined);
  t.is((await Author.findByPk(1, withoutEmail))?.name, first?.name);
  t.is((await Author.findAll({ ...withoutEmail, where: { id: [1, 2] } })).length, 2);
  t.is((await Author.findAll({ ...withoutEmail, where: { id: [1, 2] } })).length, 2);
  t.is(db.sql.selects().length, 2, 'the second reads were hits');
  t.true(cache.metrics.snapshot().rowHits >= 1);
  // Every value in this cache's namespace, read straight from the server.
  const wire = await Wire.open(memcachedServers()[0] as string);
  t.teardown(() => wire.close()); // a dump that fails must not leave the socket holding the worker open
  const keys = (await wire.keys()).filter((k) => k.startsWith(`${cache.options.namespace}:`));
  t.true(keys.length >= 3, `keys found: ${keys.join(' ')}`);
  const values = await Promise.all(keys.map((k) => attacker.get(k)));
  for (const email of emails) {
    const holding = keys.filter((_, i) => values[i]?.includes(email));
    t.deepEqual(holding, [], `${email} is not in memcached`);
  }
  t.true(values.some((v) => v?.includes(first?.name as string)), 'the other attributes are');
});
