/**
 * The behaviour every CacheStore must have, as one suite run against each
 * store (keyv's @keyv/test-suite does the same for its adapters).
 */
import type { TestFn } from 'ava';
import { randomBytes } from 'node:crypto';
import type { CacheStore } from '../../source/store/contract';

export interface ContractContext {
  store: CacheStore;
  /** Let `seconds` pass (a fake clock, or a real wait for memcached). */
  pass(seconds: number): Promise<void>;
}

export function storeContract(test: TestFn<ContractContext>, name: string): void {
  const k = (label: string) => `contract:${label}:${randomBytes(6).toString('hex')}`;

  test(`${name}: get returns what set stored, and undefined for an absent key`, async (t) => {
    const { store } = t.context;
    const key = k('get');
    t.is(await store.get(key), undefined);
    t.true(await store.set(key, 'value', 60));
    t.is(await store.get(key), 'value');
  });

  test(`${name}: getMulti returns only present keys`, async (t) => {
    const { store } = t.context;
    const [a, b, c] = [k('a'), k('b'), k('c')];
    await store.set(a, 'A', 60);
    await store.set(c, 'C', 60);
    const found = await store.getMulti([a, b, c]);
    t.deepEqual([...found].sort(), [
      [a, 'A'],
      [c, 'C'],
    ].sort());
    t.deepEqual([...(await store.getMulti([]))], []);
  });

  test(`${name}: add stores only when the key is absent`, async (t) => {
    const { store } = t.context;
    const key = k('add');
    t.true(await store.add(key, 'first', 60));
    t.false(await store.add(key, 'second', 60));
    t.is(await store.get(key), 'first');
  });

  test(`${name}: cas stores only when the item is unchanged since gets`, async (t) => {
    const { store } = t.context;
    const key = k('cas');
    t.is(await store.gets(key), undefined);
    await store.set(key, 'v1', 60);
    const seen = await store.gets(key);
    t.is(seen?.value, 'v1');
    await store.set(key, 'v2', 60);
    t.false(await store.cas(key, 'stale', seen!.cas, 60), 'a changed item rejects the old cas');
    const again = await store.gets(key);
    t.true(await store.cas(key, 'v3', again!.cas, 60));
    t.is(await store.get(key), 'v3');
    t.false(await store.cas(k('absent'), 'x', again!.cas, 60), 'cas on an absent key fails');
  });

  test(`${name}: delete removes the key and says whether it existed`, async (t) => {
    const { store } = t.context;
    const key = k('delete');
    await store.set(key, 'x', 60);
    t.true(await store.delete(key));
    t.false(await store.delete(key));
    t.is(await store.get(key), undefined);
  });

  test(`${name}: items expire after their ttl`, async (t) => {
    const { store, pass } = t.context;
    const key = k('ttl');
    const forever = k('forever');
    await store.set(key, 'x', 1);
    await store.set(forever, 'y', 0);
    await pass(2.1);
    t.is(await store.get(key), undefined);
    t.is(await store.get(forever), 'y', 'ttl 0 never expires');
  });

  test(`${name}: a ttl over 30 days is still relative to now`, async (t) => {
    const { store } = t.context;
    const key = k('long');
    t.true(await store.set(key, 'x', 60 * 60 * 24 * 40));
    t.is(await store.get(key), 'x');
  });

  test(`${name}: incr creates a counter, steps it both ways without going below 0, reads back as decimal text and keeps it alive`, async (t) => {
    const { store, pass } = t.context;
    if (!store.incr) return t.fail('the store keeps no counters');
    const key = k('incr');
    // TTLs of 3 s: memcached counts them in whole seconds of its own clock.
    t.is(await store.incr(key, 1, 3), 1);
    t.is(await store.incr(key, 1, 3), 2);
    t.is(await store.incr(key, -1, 3), 1);
    t.is((await store.get(key))?.trim(), '1');
    t.is(await store.incr(key, -5, 3), 0);
    t.is((await store.getMulti([key])).get(key)?.trim(), '0');
    t.is(await store.incr(k('absent'), -1, 3), 0, 'a decrement of an absent counter creates it at 0');
    await pass(1.5);
    await store.incr(key, 1, 3); // resets the ttl
    await pass(1.5);
    t.is((await store.get(key))?.trim(), '1', 'each step resets the ttl');
    await pass(4.1);
    t.is(await store.get(key), undefined, 'an unused counter expires');
  });

  test(`${name}: keys of any length and characters round-trip without colliding`, async (t) => {
    const { store } = t.context;
    const base = k('odd');
    const keys = [`${base} with space`, `${base}\r\nset x 0 0 1`, `${base}${'é'.repeat(300)}`, `${base}${'x'.repeat(400)}`, `#${base}`];
    for (const [i, key] of keys.entries()) t.true(await store.set(key, `v${i}`, 60));
    for (const [i, key] of keys.entries()) t.is(await store.get(key), `v${i}`);
    const found = await store.getMulti(keys);
    t.is(found.size, keys.length);
  });

  test(`${name}: values keep non-ASCII text and protocol words intact`, async (t) => {
    const { store } = t.context;
    const key = k('text');
    const value = JSON.stringify(['emoji 🚀 ünïcødé', 'END', 'VALUE x 0 1', 'tab\there', 'line\r\nbreak']);
    await store.set(key, value, 60);
    t.is(await store.get(key), value);
    t.is((await store.getMulti([key])).get(key), value);
  });

  test(`${name}: a value over maxValueBytes is refused and the store keeps working`, async (t) => {
    const { store } = t.context;
    const key = k('big');
    const error = await t.throwsAsync(store.set(key, 'x'.repeat(store.maxValueBytes + 1), 60));
    t.is((error as { code?: string }).code, 'ETOOLARGE');
    t.true(await store.set(key, 'x'.repeat(store.maxValueBytes - 200), 60));
    t.is((await store.get(key))?.length, store.maxValueBytes - 200);
  });
}
