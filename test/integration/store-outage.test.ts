/**
 * docs/architecture.md, invariant 4: with memcached stopped, hung or refusing
 * connections, every query still returns the database's answer within the
 * store deadline plus database time, failures are counted and emitted, and
 * nothing crashes the process.
 */
import test from 'ava';
import { MemcachedStore, ormCache, type StoreError } from '../../source';
import { freePort, MemcachedServer } from '../harness/servers';
import { startFakeServer } from '../helpers/fake-servers';
import { createTestDatabase, uniqueNamespace } from '../helpers/test-database';

const TIMEOUT_MS = 40;
// Deadline-bound store calls a single read can make before the breaker opens
// (lookup, token add + get, gets, fill) plus generous room for the database
// and a busy CI machine. Without the deadlines a hung server blocks forever.
const BOUND_MS = 5 * TIMEOUT_MS + 1500;

async function exercise(t: import('ava').ExecutionContext, address: string, label: string) {
  const db = await createTestDatabase(`outage_${label}`, { authors: 3, articles: 12 });
  const store = new MemcachedStore(address, { timeoutMs: TIMEOUT_MS, breakerCooldownMs: 200 });
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

test('with memcached killed, queries return database results', async (t) => {
  const server = await MemcachedServer.launch(16);
  server.process?.signal('SIGKILL');
  await server.process?.exited();
  await exercise(t, server.address, 'killed');
});

test('with a memcached that accepts connections and never answers, queries return database results', async (t) => {
  const fake = await startFakeServer('hang');
  t.teardown(() => fake.close());
  await exercise(t, fake.address, 'hung');
});

test('with memcached refusing connections, queries return database results', async (t) => {
  await exercise(t, `127.0.0.1:${await freePort()}`, 'refused');
});

test('without an error listener, store failures are still swallowed', async (t) => {
  const db = await createTestDatabase('outage_silent', { authors: 2, articles: 3 });
  const store = new MemcachedStore(`127.0.0.1:${await freePort()}`, { timeoutMs: TIMEOUT_MS });
  const cache = ormCache.install(db.sequelize, { store, namespace: uniqueNamespace() });
  t.teardown(async () => {
    cache.uninstall();
    await store.close();
    await db.drop();
  });
  t.is((await db.models.Article.findByPk(2))!.id, 2);
  await db.models.Article.update({ title: 'x' }, { where: { id: 2 } });
  t.true(cache.metrics.snapshot().storeErrors > 0);
});
