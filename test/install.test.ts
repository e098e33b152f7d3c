/**
 * install(): options fail early with errors naming the option; uninstall()
 * takes everything back out; a second copy of the sequelize module works.
 */
import test from 'ava';
import { Sequelize } from 'sequelize-typescript';
import { MemcachedStore, MemoryStore, OptionError, OrmCacheError, ormCache } from '../source';
import { createTestDatabase, memcachedServers, uniqueNamespace } from './helpers/servers';

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
