/**
 * docs/architecture.md, invariant 4: with memcached stopped, hung or refusing
 * connections, every query still returns the database's answer within the
 * store deadline plus database time, failures are counted and emitted, and
 * nothing crashes the process.
 */
import test from 'ava';
import { MemcachedStore, ormCache } from '../../source';
import { freePort, MemcachedServer } from '../harness/servers';
import { startFakeServer } from '../helpers/fake-servers';
import { outage, OUTAGE_TIMEOUT_MS } from '../helpers/outage';
import { createTestDatabase, uniqueNamespace } from '../helpers/test-database';

const exercise = (t: import('ava').ExecutionContext, address: string, label: string) =>
  outage(t, new MemcachedStore(address, { timeoutMs: OUTAGE_TIMEOUT_MS, breakerCooldownMs: 200 }), label);

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
  const store = new MemcachedStore(`127.0.0.1:${await freePort()}`, { timeoutMs: OUTAGE_TIMEOUT_MS });
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

test("a write whose breaker is still open after memcached came back delivers its invalidation: another process's entry dies with it", async (t) => {
  const server = await MemcachedServer.launch(16);
  t.teardown(() => server.stop());
  const db = await createTestDatabase('outage_open_breaker', { authors: 2, articles: 4 });
  const namespace = uniqueNamespace();
  const writerStore = new MemcachedStore(server.address, { timeoutMs: 100, breakerThreshold: 3, breakerCooldownMs: 5000, returnGraceMs: 0 });
  const writer = ormCache.install(db.sequelize, { store: writerStore, namespace, replayMs: 60_000 });
  writer.on('error', () => undefined);
  const other = await db.connect();
  const readerStore = new MemcachedStore(server.address, { timeoutMs: 500 });
  const reader = ormCache.install(other.sequelize, { store: readerStore, namespace });
  reader.on('error', () => undefined);
  t.teardown(async () => {
    writer.uninstall();
    reader.uninstall();
    await Promise.all([writerStore.close(), readerStore.close()]);
    await db.drop();
  });
  t.true(await writerStore.set('warm', '1', 60));
  server.process?.signal('SIGKILL');
  await server.process?.exited();
  for (let i = 0; i < 3; i++) await writerStore.get('warm').catch(() => undefined); // the writer's breaker opens
  t.is(writerStore.health()[0]?.breaker, 'open');
  await server.start(); // empty, on the same port
  const read = () => other.models.Article.findByPk(1);
  for (let i = 0; i < 100; i++) {
    await read();
    other.sql.take();
    await read();
    if (other.sql.selects().length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.is(writerStore.health()[0]?.breaker, 'open', 'the writer still skips reads');
  const article = (await db.models.Article.findByPk(1, { cache: false }))!;
  await article.update({ title: 'written with the breaker open' });
  t.is((await read())!.title, 'written with the breaker open', 'the reader does not serve its entry from before the write');
});
