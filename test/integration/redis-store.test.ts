/**
 * RedisStore against a real Redis: the shared CacheStore contract, and what
 * Redis adds to it (scripts reloaded after the server forgot them, TTLs
 * relative, option errors).
 */
import anyTest, { type TestFn } from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { RedisStore } from '../../source';
import { redisUrl } from '../helpers/test-database';
import { type ContractContext, storeContract } from '../helpers/store-contract';

const test = anyTest as TestFn<ContractContext>;

test.beforeEach((t) => {
  // Redis expires on its own clock, so time really passes here.
  t.context = { store: new RedisStore(redisUrl(), { timeoutMs: 500 }), pass: (seconds) => sleep(seconds * 1000) };
});

test.afterEach.always(async (t) => {
  await t.context.store.close();
});

storeContract(test, 'RedisStore');

test('RedisStore: scripts still work after the server forgot them (SCRIPT FLUSH, as after a restart)', async (t) => {
  const { store } = t.context;
  const admin = new Redis(redisUrl());
  t.teardown(() => admin.disconnect());
  const key = `redis:script:${Date.now()}`;
  t.is(await store.incr!(key, 1, 60), 1);
  await admin.script('FLUSH');
  t.is(await store.incr!(key, 1, 60), 2, 'the step script was sent again whole');
  await store.set(key + ':cas', 'v', 60);
  const seen = await store.gets(key + ':cas');
  await admin.script('FLUSH');
  t.true(await store.cas(key + ':cas', 'w', seen!.cas, 60));
  t.is(await store.get(key + ':cas'), 'w');
});

test('RedisStore: TTLs are relative, and an item without one has none', async (t) => {
  const { store } = t.context;
  const admin = new Redis(redisUrl());
  t.teardown(() => admin.disconnect());
  const key = `redis:ttl:${Date.now()}`;
  await store.set(key, 'x', 60 * 60 * 24 * 40);
  const ttl = await admin.ttl(key);
  t.true(ttl > 60 * 60 * 24 * 39 && ttl <= 60 * 60 * 24 * 40, `ttl ${ttl}`);
  await store.set(key, 'y', 0);
  t.is(await admin.ttl(key), -1);
});

test('RedisStore: invalid options and connections fail with an error naming them', (t) => {
  t.throws(() => new RedisStore(redisUrl(), { timeoutMs: -1 }), { message: /`timeoutMs`/ });
  t.throws(() => new RedisStore(redisUrl(), { tiemout: 5 } as never), { message: /tiemout/ });
  t.throws(() => new RedisStore([] as never), { message: /`connection`/ });
  t.throws(() => new RedisStore(42 as never), { message: /`connection`/ });
});

test('RedisStore: an ioredis client the app made is used as it is and left open by close()', async (t) => {
  const client = new Redis(redisUrl(), { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  t.teardown(() => client.disconnect());
  await new Promise((resolve) => client.once('ready', resolve));
  const listening = () => client.eventNames().map((event) => `${String(event)}:${client.listenerCount(event)}`);
  const before = listening();
  const store = new RedisStore(client, { timeoutMs: 500 });
  t.notDeepEqual(listening(), before, 'the store follows the connection');
  const key = `redis:handed:${Date.now()}`;
  t.true(await store.set(key, 'v', 60));
  t.is(await store.get(key), 'v');
  await store.close();
  t.is(await client.get(key), 'v', 'the client still works after the store closed');
  t.deepEqual(listening(), before, 'and keeps none of its listeners');
});
