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
import { outage, OUTAGE_TIMEOUT_MS, writeInGracePeriod, writeWithBreakerOpen } from '../helpers/outage';
import { createTestDatabase, uniqueNamespace } from '../helpers/test-database';
import { setTimeout as sleep } from 'node:timers/promises';

const exercise = (t: import('ava').ExecutionContext, address: string, label: string) =>
  outage(t, new MemcachedStore(address, { timeoutMs: OUTAGE_TIMEOUT_MS, breakerCooldownMs: 200 }), label);

test('with memcached killed, queries return database results', async (t) => {
  const server = await MemcachedServer.launch(16);
  await server.process?.kill();
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
  await writeWithBreakerOpen(
    t,
    'outage_open_breaker',
    { kill: async () => server.process?.kill(), start: () => server.start() },
    new MemcachedStore(server.address, { timeoutMs: 100, breakerThreshold: 3, breakerCooldownMs: 5000, returnGraceMs: 0 }),
    new MemcachedStore(server.address, { timeoutMs: 500 }),
  );
});

test('a write in its store\'s grace period still invalidates the lists of schemes it has not seen (the registry read says "cannot tell", never "absent")', async (t) => {
  const server = await MemcachedServer.launch(16);
  t.teardown(() => server.stop());
  const options = { timeoutMs: 100, breakerThreshold: 3, breakerCooldownMs: 200, returnGraceMs: 4000 };
  const [writerStore, readerStore] = [new MemcachedStore(server.address, options), new MemcachedStore(server.address, options)];
  await writeInGracePeriod(t, 'outage_grace_write', writerStore, readerStore, async () => {
    // Stopped, with its items: both stores fail until their breakers open.
    server.process?.signal('SIGSTOP');
    for (const store of [writerStore, readerStore]) for (let i = 0; i < 3; i++) await store.get('grace:probe').catch(() => undefined);
    server.process?.signal('SIGCONT');
    // Back: each breaker's probe after its cooldown succeeds, and the grace period begins.
    for (const store of [writerStore, readerStore]) {
      for (let i = 0; store.health?.()[0]?.breaker !== 'closed'; i++) {
        if (i > 200) throw new Error('the breaker did not close');
        await store.get('grace:probe').catch(() => undefined);
        await sleep(20);
      }
    }
  });
});
