import anyTest, { type TestFn } from 'ava';
import { ManualClock } from '../../source/clock';
import { MemoryStore } from '../../source/store/memory-store';
import { type ContractContext, storeContract } from '../helpers/store-contract';

const test = anyTest as TestFn<ContractContext & { clock: ManualClock }>;

test.beforeEach((t) => {
  const clock = new ManualClock();
  t.context = {
    clock,
    store: new MemoryStore({ clock }),
    pass: async (seconds) => clock.advance(seconds * 1000),
  };
});

storeContract(test as unknown as TestFn<ContractContext>, 'MemoryStore');

test('MemoryStore evicts the least recently used item beyond maxItems', async (t) => {
  const store = new MemoryStore({ maxItems: 2 });
  await store.set('a', '1', 0);
  await store.set('b', '2', 0);
  await store.get('a');
  await store.set('c', '3', 0);
  t.is(await store.get('b'), undefined);
  t.is(await store.get('a'), '1');
  t.is(await store.get('c'), '3');
});

test('MemoryStore bounds its memory by maxBytes', async (t) => {
  const store = new MemoryStore({ maxBytes: 1000 });
  for (let i = 0; i < 50; i++) await store.set(`k${i}`, 'x'.repeat(40), 0);
  t.true(store.size < 50);
  t.is(await store.get('k49'), 'x'.repeat(40));
});

test('MemoryStore rejects options that are not positive integers, naming them', (t) => {
  const error = t.throws(() => new MemoryStore({ maxItems: 0 }));
  t.regex(error.message, /`maxItems`/);
});

test('a closed MemoryStore rejects with ECLOSED', async (t) => {
  const store = new MemoryStore();
  await store.close();
  const error = await t.throwsAsync(store.get('x'));
  t.is((error as { code?: string }).code, 'ECLOSED');
});
