/**
 * The store contract on MemcachedStore's other client, the `memcached`
 * package (`client: 'memcached'`); memcached-store.test.ts runs it on the
 * built-in one.
 */
import anyTest, { type TestFn } from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemcachedStore } from '../../source/store/memcached-store';
import { memcachedServers } from '../helpers/test-database';
import { type ContractContext, storeContract } from '../helpers/store-contract';

const test = anyTest as TestFn<ContractContext>;

test.beforeEach((t) => {
  t.context = {
    store: new MemcachedStore(memcachedServers(), { timeoutMs: 500, client: 'memcached' }),
    pass: (seconds) => sleep(seconds * 1000),
  };
});

test.afterEach.always(async (t) => {
  await t.context.store.close();
});

storeContract(test, 'MemcachedStore on the memcached package');
