/**
 * docs/architecture.md, invariant 7, as a catalogue: every awkward input gives the
 * database's answer through the cache on a real memcached, never an invalid
 * or injected memcached command, never a crash. Options are covered in
 * install.test.ts.
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { DataTypes, Op } from 'sequelize';
import { MemcachedStore, ormCache } from '../../source';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';
import { createTestDatabase, memcachedServers, uniqueNamespace } from '../helpers/test-database';

const test = anyTest as TestFn<CachedBlog>;
useCachedBlog(test, 'bad_input', { authors: 3, articles: 20 });

/** The "not cached" process warnings about `model` (other tests of this file run at the same time). */
function notCachedWarnings(t: ExecutionContext<unknown>, model: string): Error[] {
  const warnings: Error[] = [];
  const listen = (warning: Error) => {
    if ((warning as Error & { code?: string }).code === 'ORM_CACHE_NOT_CACHED' && warning.message.includes(`model ${model} `)) warnings.push(warning);
  };
  process.on('warning', listen);
  t.teardown(() => void process.off('warning', listen));
  return warnings;
}

const plain = (rows: { get(o: { plain: true }): unknown }[]) => rows.map((r) => r.get({ plain: true }));

const AWKWARD: [string, string][] = [
  ['spaces', 'a title with  spaces '],
  ['CR/LF', 'line one\r\nline two\r\n'],
  ['memcached command text', 'x\r\nset oc:evil 0 0 5\r\nhello\r\nflush_all\r\nget oc:evil'],
  ['a 10 KB string', 'long '.repeat(2048)],
  ['emoji and other non-BMP text', 'emoji 🚀🧪 and ünïcødé 𝔘'],
  ['NUL and control characters', 'nul\u0000tab\tbell\u0007'],
];

for (const [what, title] of AWKWARD) {
  test.serial(`a where-value with ${what} is cached and read back exactly`, async (t) => {
    const { db, cache } = t.context;
    const { Article } = db.models;
    const article = await Article.create({ title: title.slice(0, 200), body: title, authorId: 1 });
    const query = { where: { title: title.slice(0, 200) }, order: [['id', 'ASC']] as [string, string][] };
    const truth = plain(await Article.findAll({ ...query, cache: false }));
    const before = cache.metrics.snapshot();
    t.deepEqual(plain(await Article.findAll(query)), truth);
    t.deepEqual(plain(await Article.findAll(query)), truth);
    t.deepEqual(plain(await Article.findAll({ where: { body: title } })), plain(await Article.findAll({ where: { body: title }, cache: false })));
    const after = cache.metrics.snapshot();
    t.is(after.listHits - before.listHits, 1, 'the second identical read is a hit');
    t.is(after.storeErrors, before.storeErrors, 'no store operation failed');
    // The server still speaks the protocol and was told nothing else.
    const probe = new MemcachedStore(memcachedServers());
    t.is(await probe.get('oc:evil'), undefined);
    await probe.close();
    await article.destroy();
  });
}

test.serial('a binary Buffer where-value is cached and read back exactly', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  const cover = Buffer.from([0, 13, 10, 32, 255, 254, 0x67, 0x65, 0x74, 13, 10]);
  await Article.create({ title: 'binary cover', authorId: 2, cover });
  const truth = plain(await Article.findAll({ where: { cover }, cache: false }));
  t.is(truth.length, 1);
  t.deepEqual(plain(await Article.findAll({ where: { cover } })), truth);
  t.deepEqual(plain(await Article.findAll({ where: { cover } })), truth);
  t.deepEqual(((await Article.findAll({ where: { cover } }))[0] as unknown as { cover: Buffer }).cover, cover);
});

test.serial('a row over 1 MB is served from the database, uncached, without errors', async (t) => {
  const { db, cache } = t.context;
  const { Article } = db.models;
  // JSON is LONGTEXT in MariaDB: room for more than memcached's 1 MB item.
  const metadata = { big: 'x'.repeat(1536 * 1024) };
  const { id } = await Article.create({ title: 'huge', metadata, authorId: 1 });
  const errors = cache.metrics.snapshot().storeErrors;
  const size = (a: unknown) => ((a as { metadata?: { big?: string } } | null)?.metadata?.big ?? '').length;
  for (let i = 0; i < 3; i++) t.is(size(await Article.findByPk(id)), metadata.big.length);
  for (let i = 0; i < 2; i++) t.is(size((await Article.findAll({ where: { title: 'huge' } }))[0]), metadata.big.length);
  t.is(cache.metrics.snapshot().storeErrors, errors, 'the oversized value is refused before it reaches memcached');
  await Article.destroy({ where: { id } });
  t.is(await Article.findByPk(id), null);
});

test.serial('a 100,000-element IN list gives the database answer, cached or not', async (t) => {
  const { db, cache } = t.context;
  const { Article } = db.models;
  const ids = Array.from({ length: 100_000 }, (_, i) => i + 1);
  const truth = plain(await Article.findAll({ where: { id: ids }, order: [['id', 'ASC']], cache: false }));
  t.true(truth.length >= 20);
  t.deepEqual(plain(await Article.findAll({ where: { id: ids }, order: [['id', 'ASC']] })), truth);
  t.deepEqual(plain(await Article.findAll({ where: { id: ids }, order: [['id', 'ASC']] })), truth);
  t.is(await Article.count({ where: { id: { [Op.in]: ids } } }), truth.length);
  // A write to any listed row still invalidates the entry.
  await Article.update({ title: 'changed by IN test' }, { where: { id: 3 } });
  const after = await Article.findAll({ where: { id: ids }, order: [['id', 'ASC']] });
  t.is(after.find((a) => a.id === 3)?.title, 'changed by IN test');
  t.is(cache.metrics.snapshot().storeErrors, 0);
});

test('a model without a primary key is not cached, and this is said once', async (t) => {
  const db = await createTestDatabase('no_pk', { authors: 1, articles: 1 });
  const Visit = db.sequelize.define('Visit', { path: DataTypes.STRING, hits: DataTypes.INTEGER }, { timestamps: false });
  Visit.removeAttribute('id');
  await Visit.sync();
  await Visit.bulkCreate([{ path: '/a', hits: 1 }, { path: '/b', hits: 2 }]);
  const store = new MemcachedStore(memcachedServers());
  const cache = ormCache.install(db.sequelize, { store, namespace: uniqueNamespace() });
  const warnings = notCachedWarnings(t, 'Visit');
  t.teardown(async () => {
    cache.uninstall();
    await store.close();
    await db.drop();
  });
  db.sql.take();
  for (let i = 0; i < 3; i++) t.is((await Visit.findAll({ where: { path: '/a' } })).length, 1);
  await Visit.update({ hits: 5 }, { where: { path: '/a' } });
  t.is(((await Visit.findAll({ where: { path: '/a' } }))[0] as unknown as { hits: number }).hits, 5);
  t.is(db.sql.selects().length, 4, 'every read went to the database');
  await new Promise((resolve) => setImmediate(resolve));
  t.is(warnings.length, 1);
  t.regex(warnings[0]?.message ?? '', /model Visit has no primary key; its queries are not cached/);
});

test('two apps with different namespaces on one memcached never read each other’s entries', async (t) => {
  // Same table names, same ids, different data: any shared key would show.
  const [one, two] = await Promise.all([createTestDatabase('ns_one', { authors: 2, articles: 6, seed: 1 }), createTestDatabase('ns_two', { authors: 2, articles: 6, seed: 2 })]);
  await one.models.Article.update({ title: 'from app one' }, { where: {} });
  await two.models.Article.update({ title: 'from app two' }, { where: {} });
  const stores = [new MemcachedStore(memcachedServers()), new MemcachedStore(memcachedServers())];
  const caches = [
    ormCache.install(one.sequelize, { store: stores[0], namespace: 'appone' + uniqueNamespace() }),
    ormCache.install(two.sequelize, { store: stores[1], namespace: 'apptwo' + uniqueNamespace() }),
  ];
  t.teardown(async () => {
    for (const cache of caches) cache.uninstall();
    await Promise.all(stores.map((s) => s.close()));
    await Promise.all([one.drop(), two.drop()]);
  });
  for (let round = 0; round < 3; round++) {
    for (const [db, title] of [[one, 'from app one'], [two, 'from app two']] as const) {
      t.is((await db.models.Article.findByPk(1))?.title, title);
      t.true((await db.models.Article.findAll({ where: { authorId: 1 } })).every((a) => a.title === title));
      t.is(await db.models.Article.count(), 6);
    }
  }
  t.true(caches.every((c) => c.metrics.snapshot().rowHits > 0), 'both apps were served from the cache');
});

test('excluding a primary key leaves the model uncached, and this is said once', async (t) => {
  const db = await createTestDatabase('exclude_pk', { authors: 2, articles: 2 });
  const store = new MemcachedStore(memcachedServers());
  const cache = ormCache.install(db.sequelize, { store, namespace: uniqueNamespace(), models: { Author: { exclude: ['id'] } } });
  const warnings = notCachedWarnings(t, 'Author');
  t.teardown(async () => {
    cache.uninstall();
    await store.close();
    await db.drop();
  });
  db.sql.take();
  for (let i = 0; i < 3; i++) t.is((await db.models.Author.findByPk(1))?.id, 1);
  t.is(db.sql.selects().length, 3);
  await new Promise((resolve) => setImmediate(resolve));
  t.is(warnings.length, 1);
  t.regex(warnings[0]?.message ?? '', /model Author has its primary key id in `models.Author.exclude`; its queries are not cached/);
});
