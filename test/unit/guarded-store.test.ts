import test from 'ava';
import { chunkHead, decodeQueryEntry, encodeList, encodeWhole, MAX_CHUNKS, splitChunks } from '../../source/lists/entry-format';
import { MemoryStore } from '../../source/store/memory-store';
import { kit } from './kit';

test('guarded store: a failing store answers "not ok", counts and reports the error, and never throws', async (t) => {
  const k = kit();
  await k.store.close();
  const { values, ok } = await k.guarded.getMulti(['a', 'b']);
  t.false(ok);
  t.is(values.size, 0);
  t.false(await k.guarded.set('a', 'x', 60));
  t.is(k.metrics.storeErrors, 2);
  t.is(k.errors.length, 2);
});

test('guarded store: with `sign`, a value altered in the store reads as absent', async (t) => {
  const inner = new MemoryStore();
  const k = kit({ store: inner, sign: 'secret' });
  t.true(await k.guarded.set('key', 'value', 60));
  t.is(await k.guarded.get('key'), 'value');
  const stored = (await inner.get('key')) as string;
  await inner.set('key', stored.replace('value', 'valuf'), 60);
  t.is(await k.guarded.get('key'), undefined);
  await inner.set('other', 'planted', 60);
  t.is(await k.guarded.get('other'), undefined, 'an unsigned value planted by someone else');
});

test('entry format: pointer lists and whole values decode to what was encoded, with their tokens and soft expiry', (t) => {
  const soft = { softExpiresAt: 1000, delta: 5 };
  const list = encodeList(['t1', 't2'], soft, [[1], [2n], [3]], 1) as string;
  t.deepEqual(decodeQueryEntry(list, 1), { tokens: ['t1', 't2'], soft, pks: [[1], [2n], [3]] });
  const composite = encodeList(['t'], soft, [[1, 'a']], 2) as string;
  t.deepEqual(decodeQueryEntry(composite, 2)?.pks, [[1, 'a']]);
  const whole = encodeWhole(['t'], soft, { n: 3, at: new Date(5) }) as string;
  t.deepEqual(decodeQueryEntry(whole, 1)?.whole, { value: { n: 3, at: new Date(5) } });
});

test('entry format: garbage, truncation and the wrong key width decode as a miss', (t) => {
  const list = encodeList(['t'], { softExpiresAt: 1, delta: 1 }, [[1]], 1) as string;
  for (const text of [undefined, '', 'garbage', list.slice(0, -3), '["x",[],[1,1]]', '["l","t",[1,1]]']) {
    t.is(decodeQueryEntry(text, 1), undefined, String(text));
  }
  t.is(decodeQueryEntry(list, 2), undefined, 'a one-column key where two are expected');
});

test('entry format: chunks fit the item size, keep surrogate pairs whole, and are bounded', (t) => {
  const text = '😀'.repeat(3000);
  const chunks = splitChunks(text, 1024) as string[];
  t.true(chunks.length > 1);
  t.is(chunks.join(''), text);
  t.true(chunks.every((c) => Buffer.byteLength(c) <= 1024 && !/[\ud800-\udbff]$/.test(c)));
  t.is(splitChunks('x'.repeat(400 * (MAX_CHUNKS + 1)), 1264), undefined);
  t.is(chunkHead('["c",["t"],"id",99]'), undefined, 'a head naming more chunks than allowed');
  t.deepEqual(chunkHead('["c",["t"],"id",2]'), { tokens: ['t'], id: 'id', count: 2 });
});
