/**
 * install(): options fail early with errors naming the option; uninstall()
 * takes everything back out; a second copy of the sequelize module works.
 */
import test from 'ava';
import { Sequelize } from 'sequelize-typescript';
import { MemcachedStore, MemoryStore, OptionError, OrmCacheError, ormCache } from '../../source';
import { createTestDatabase, memcachedServers, uniqueNamespace } from '../helpers/test-database';

// Never connects: install() and option validation need no database.
const offline = () => new Sequelize('mysql://nobody@127.0.0.1:9/none', { dialect: 'mysql', logging: false });

const invalid: [string, Record<string, unknown>, RegExp][] = [
  ['an unknown option', { tll: 60 }, /`tll` is not an option/],
  ['a ttl of zero', { ttl: 0 }, /`ttl` must be a whole number of seconds/],
  ['a ttl over 30 days', { ttl: 60 * 60 * 24 * 31 }, /`ttl`/],
  ['a fractional softTtl', { softTtl: 1.5 }, /`softTtl`/],
  ['a softTtl above the ttl', { ttl: 60, softTtl: 120 }, /`softTtl` \(120\) must not exceed `ttl` \(60\)/],
  ['a namespace with spaces', { namespace: 'my app' }, /`namespace`/],
  ['a store without the contract', { store: { get() {} } }, /`store` must implement CacheStore/],
  ['models as an array', { models: [] }, /`models`/],
  ['a model set to true', { models: { Article: true } }, /`models.Article` must be false or an object/],
  ['an unknown per-model option', { models: { Article: { tll: 5 } } }, /`models.Article.tll`/],
  ['a bad per-model ttl', { models: { Article: { ttl: 'long' } } }, /`models.Article.ttl`/],
  ['a negative warmLimit', { warmLimit: -1 }, /`warmLimit`/],
  ['a fractional rememberedLists', { rememberedLists: 1.5 }, /`rememberedLists`/],
  ['an unknown mode', { mode: 'lazy' }, /`mode`/],
  ['an unknown server isolation level', { serverIsolationLevel: 'SNAPSHOT' }, /`serverIsolationLevel` must be one of 'READ UNCOMMITTED'/],
  ['dependsOn that is not a list of names', { models: { Article: { dependsOn: 'Author' } } }, /`models.Article.dependsOn`/],
  ['a ttl given as a string', { ttl: '60' }, /`ttl` must be a whole number of seconds from 1 to 2592000 \(30 days\), got "60"/],
  ['stampedeProtection given as a string', { stampedeProtection: 'yes' }, /`stampedeProtection` must be true or false, got "yes"/],
  ['a namespace that is a number', { namespace: 5 }, /`namespace`/],
  ['options that are not an object', 'fast' as never, /`options` must be an object/],
  ['a sign secret that is too short', { sign: 'short' }, /`sign` must be a secret string of at least 16 characters, got 5 characters/],
  ['a sign secret that is a Buffer', { sign: Buffer.from('0123456789abcdef0123') }, /`sign` must be a secret string/],
  ['a replayMs of zero', { replayMs: 0 }, /`replayMs` must be a whole number of milliseconds from 10 to 60000/],
  ['exclude that is not a list of names', { models: { Author: { exclude: 'email' } } }, /`models.Author.exclude` must be an array of attribute names/],
  ['exclude with an empty name', { models: { Author: { exclude: [''] } } }, /`models.Author.exclude`/],
];

for (const [what, options, message] of invalid) {
  test(`install() rejects ${what}, naming the option`, (t) => {
    const error = t.throws(() => ormCache.install(offline(), options as never), { instanceOf: OptionError });
    t.regex(error.message, message);
  });
}

test('install() refuses a second install on the same instance until uninstall()', (t) => {
  const sequelize = offline();
  const cache = ormCache.install(sequelize);
  t.throws(() => ormCache.install(sequelize), { instanceOf: OrmCacheError, message: /already installed/ });
  cache.uninstall();
  t.notThrows(() => ormCache.install(sequelize).uninstall());
});

test('install() needs a Sequelize instance', (t) => {
  t.throws(() => ormCache.install({} as never), { instanceOf: TypeError });
});

test('uninstall() removes every wrapper, and install() adds no Sequelize hook', (t) => {
  const sequelize = offline();
  const queryInterface = sequelize.getQueryInterface();
  const methods = ['select', 'rawSelect', 'insert', 'update', 'delete', 'bulkInsert', 'bulkUpdate', 'bulkDelete', 'upsert', 'increment', 'decrement'];
  const own = (target: object, name: string) => Object.prototype.hasOwnProperty.call(target, name);
  const cache = ormCache.install(sequelize);
  for (const method of methods) t.true(own(queryInterface, method), method);
  t.true(own(sequelize, 'query'));
  t.deepEqual(Object.values(sequelize.options.hooks ?? {}).flat(), []);
  cache.uninstall();
  for (const method of methods) t.false(own(queryInterface, method), method);
  t.false(own(sequelize, 'query'));
  t.false(cache.installed);
});

test('after uninstall() and with models: { X: false }, reads go to the database every time', async (t) => {
  const db = await createTestDatabase('install', { authors: 2, articles: 4 });
  const store = new MemcachedStore(memcachedServers(), { timeoutMs: 500 });
  t.teardown(async () => {
    await store.close();
    await db.drop();
  });
  const { Article, Author } = db.models;
  const cache = ormCache.install(db.sequelize, { store, namespace: uniqueNamespace(), models: { Author: false } });
  await Article.findByPk(1);
  await Author.findByPk(1);
  db.sql.take();
  await Article.findByPk(1);
  await Author.findByPk(1);
  t.is(db.sql.selects().length, 1, 'only the uncached model went to the database');
  cache.uninstall();
  await Article.findByPk(1);
  t.is(db.sql.selects().length, 1);
});

test('install() works with a Sequelize instance from another copy of the sequelize module', async (t) => {
  const db = await createTestDatabase('second_copy', { authors: 2, articles: 3 });
  t.teardown(() => db.drop());
  // A second copy: the same files loaded again under fresh module records.
  const saved = { ...require.cache };
  for (const key of Object.keys(require.cache)) {
    if (/node_modules[\\/](sequelize|sequelize-typescript)[\\/]/.test(key)) delete require.cache[key];
  }
  const copy = require('sequelize-typescript') as typeof import('sequelize-typescript');
  Object.assign(require.cache, saved);
  t.not(copy.Sequelize, Sequelize, 'really another copy');
  const statements: string[] = [];
  const sequelize = new copy.Sequelize(db.url, { dialect: 'mysql', logging: (s: string) => statements.push(s) });
  t.teardown(() => sequelize.close());
  const models = addBlogModelsWith(copy, sequelize);
  const cache = ormCache.install(sequelize as never, { store: new MemoryStore(), namespace: uniqueNamespace() });
  await models.Article.findByPk(2);
  await models.Article.findByPk(2);
  t.is(statements.filter((s) => s.includes('SELECT')).length, 1);
  await models.Article.update({ title: 'copy write' }, { where: { id: 2 } });
  t.is((await models.Article.findByPk(2))!.title, 'copy write');
  cache.uninstall();
});

/** The blog's Article on a Sequelize instance of another module copy (decorators bind to their copy). */
function addBlogModelsWith(copy: typeof import('sequelize-typescript'), sequelize: InstanceType<typeof copy.Sequelize>) {
  const { DataType } = copy;
  const Article = sequelize.define(
    'Article',
    {
      id: { type: DataType.INTEGER, primaryKey: true, autoIncrement: true },
      title: { type: DataType.STRING(200), allowNull: false },
      authorId: { type: DataType.INTEGER, field: 'author_id' },
    },
    { tableName: 'articles', underscored: true },
  ) as unknown as { findByPk(pk: number): Promise<{ title: string } | null>; update(v: object, o: object): Promise<unknown> };
  return { Article };
}

test('stores reject options they do not have, naming them', (t) => {
  t.throws(() => new MemcachedStore('127.0.0.1:9', { timeout: 5 } as never), { instanceOf: OptionError, message: /`timeout` is not an option of MemcachedStore/ });
  t.throws(() => new MemoryStore({ maxitems: 5 } as never), { instanceOf: OptionError, message: /`maxitems` is not an option of MemoryStore/ });
});

test('models names that name no model are rejected at install() once models are defined, and said at the first read otherwise', async (t) => {
  const defined = offline();
  defined.define('Article', {});
  t.throws(() => ormCache.install(defined, { models: { Artcle: { ttl: 5 } } }), { instanceOf: OptionError, message: /`models\.Artcle` names no model/ });
  t.throws(() => ormCache.install(defined, { models: { Article: { dependsOn: ['Autor'] } } }), { instanceOf: OptionError, message: /`models\.Article\.dependsOn` names no model.*"Autor"/ });
  t.throws(() => ormCache.install(defined, { models: { Article: { computed: ['touchedAt'] } } }), { instanceOf: OptionError, message: /`models\.Article\.computed` names no attribute of Article.*"touchedAt"/ });

  const early = offline();
  const cache = ormCache.install(early, { models: { Artcle: false } });
  t.teardown(() => cache.uninstall());
  const warnings: Error[] = [];
  const listen = (warning: Error) => void ((warning as Error & { code?: string }).code === 'ORM_CACHE_UNKNOWN_MODEL' && warnings.push(warning));
  process.on('warning', listen);
  t.teardown(() => void process.off('warning', listen));
  const Article = early.define('Article', {});
  await Article.findAll().catch(() => undefined);
  await Article.findAll().catch(() => undefined);
  await new Promise((resolve) => setImmediate(resolve));
  t.is(warnings.length, 1);
  t.regex(warnings[0]?.message ?? '', /`models\.Artcle` names no model/);
});

test('a bad per-query cache option fails the query with an OptionError naming the option and the model, before any SQL', async (t) => {
  const sequelize = offline();
  const cache = ormCache.install(sequelize);
  t.teardown(() => cache.uninstall());
  const Article = sequelize.define('Article', {});
  const cases: [unknown, RegExp][] = [
    [{ ttl: -1 }, /`cache\.ttl` of a Article query must be a whole number of seconds/],
    [{ ttl: 'x' }, /`cache\.ttl` of a Article query must be a whole number/],
    [{ tll: 5 }, /`cache\.tll` is not an option of a Article query/],
    ['yes', /`cache` of a Article query must be true, false or an object, got "yes"/],
    [{ refresh: 1 }, /`cache\.refresh`/],
    [{ key: '' }, /`cache\.key`/],
    [{ ttl: 5, softTtl: 10 }, /`cache\.softTtl` \(10\) of a Article query must not exceed/],
    [{ dependsOn: ['Nope'] }, /`cache\.dependsOn` of a Article query names no model.*"Nope"/],
  ];
  for (const [option, message] of cases) {
    await t.throwsAsync(Article.findAll({ cache: option as never }), { instanceOf: OptionError, message }, JSON.stringify(option));
    await t.throwsAsync(Article.count({ cache: option as never }), { instanceOf: OptionError, message }, `count ${JSON.stringify(option)}`);
  }
  // Valid ones reach the database (there is none here: a connection error).
  const error = await Article.findAll({ cache: { ttl: 5, softTtl: 2, dependsOn: ['Article', Article], refresh: false, key: 'k' } }).catch((e: Error) => e);
  t.false(error instanceof OptionError);
  // `cache` is typed on aggregates too, with classes or names in dependsOn (type-checked by npm test).
  await Promise.allSettled([Article.max('id', { cache: false }), Article.sum('id', { cache: { dependsOn: ['Article', Article] } }), Article.aggregate('id', 'min', { cache: true })]);
});
