import test from 'ava';
import { conjunctionOf } from '../../source/tokens/conjunctions';
import type { PkValues } from '../../source/lists/entry-format';
import { type EntryCycle, throughEntry } from '../../stampede/entry-cycle';
import { MARK_BEGIN } from '../../source/tokens/write-marks';
import { depthStore, gate, kit, type Kit } from './kit';

/** A pointer-list cycle over the kit: `read` yields `pks` after `during` (a write racing the read, say). */
function listCycle(k: Kit, ref: ReturnType<Kit['entries']['ref']>, pks: PkValues[], during?: () => Promise<void>) {
  const reads = { count: 0 };
  const cycle: EntryCycle<PkValues[], PkValues[]> = {
    hit: (lookup) => (lookup.pks ? { material: lookup.pks } : undefined),
    direct: async () => 'direct',
    read: async () => {
      reads.count++;
      await during?.();
      return pks;
    },
    save: (tokens, read, soft) => k.entries.save(ref, tokens, read, 60, soft),
    material: (read) => read,
    answer: (material) => material,
  };
  return { cycle, reads };
}

const read = (k: Kit, ref: ReturnType<Kit['entries']['ref']>, cycle: EntryCycle<PkValues[], PkValues[]>) =>
  throughEntry(k, k.metrics.meter('Article', 'list'), { ref, refresh: false, softTtl: 30, lookupOnly: false }, cycle);

test('a miss stores the list under the tokens it took before its read, and the next read is a hit', async (t) => {
  const k = kit();
  const ref = k.entries.ref(k.schema, 'by-author-3', conjunctionOf(k.schema, { authorId: 3 }));
  const { cycle, reads } = listCycle(k, ref, [[1], [2]]);
  t.deepEqual(await read(k, ref, cycle), [[1], [2]]);
  t.deepEqual(await read(k, ref, cycle), [[1], [2]]);
  t.is(reads.count, 1);
});

test('a write between the tokens and the database read leaves an entry that never validates', async (t) => {
  const k = kit();
  const ref = k.entries.ref(k.schema, 'by-author-3', conjunctionOf(k.schema, { authorId: 3 }));
  // The write lands while the miss is reading the database: the row joins
  // author 3's lists, so it rotates that conjunction's token.
  const racing = listCycle(k, ref, [[1]], () => k.entries.rowsChanged(k.schema, [{ id: 2, authorId: 3, title: 'new' }]));
  t.deepEqual(await read(k, ref, racing.cycle), [[1]]);
  const lookup = await k.entries.lookup(ref);
  t.is(lookup.pks, undefined, 'the list read before the write is not served');
  const after = listCycle(k, ref, [[1], [2]]);
  t.deepEqual(await read(k, ref, after.cycle), [[1], [2]]);
  t.is(after.reads.count, 1);
});

test('a write of another author leaves the list valid (only the tokens of its values rotate)', async (t) => {
  const k = kit();
  const ref = k.entries.ref(k.schema, 'by-author-3', conjunctionOf(k.schema, { authorId: 3 }));
  const { cycle, reads } = listCycle(k, ref, [[1]]);
  await read(k, ref, cycle);
  await k.entries.rowsChanged(k.schema, [{ id: 9, authorId: 4, title: 'other' }]);
  await read(k, ref, cycle);
  t.is(reads.count, 1);
});

test('identical concurrent misses run one database read; the others board its flight', async (t) => {
  const k = kit();
  const ref = k.entries.ref(k.schema, 'all', conjunctionOf(k.schema, undefined));
  const hold = gate();
  const { cycle, reads } = listCycle(k, ref, [[7]], () => hold.promise);
  const answers = Promise.all(Array.from({ length: 5 }, () => read(k, ref, cycle)));
  await new Promise((resolve) => setImmediate(resolve));
  hold.open();
  t.deepEqual(await answers, Array.from({ length: 5 }, () => [[7]]));
  t.is(reads.count, 1);
  t.true(k.metrics.snapshot().coalesced >= 1);
});

test('a soft-expired entry is served stale while one reader refreshes it in the background', async (t) => {
  const k = kit();
  const ref = k.entries.ref(k.schema, 'all', conjunctionOf(k.schema, undefined));
  const first = listCycle(k, ref, [[1]]);
  await read(k, ref, first.cycle);
  k.clock.advance(31_000);
  const second = listCycle(k, ref, [[1], [2]]);
  t.deepEqual(await read(k, ref, second.cycle), [[1]], 'the stale copy, at once');
  await k.stampede.settled();
  t.is(second.reads.count, 1, 'one refresh');
  t.deepEqual((await k.entries.lookup(ref)).pks, [[1], [2]]);
  t.is(k.metrics.snapshot().staleServed, 1);
});

test('a store that does not answer sends the read to the database as asked, storing nothing', async (t) => {
  const k = kit();
  const ref = k.entries.ref(k.schema, 'all', conjunctionOf(k.schema, undefined));
  await k.store.close();
  const { cycle, reads } = listCycle(k, ref, [[1]]);
  t.is(await read(k, ref, cycle), 'direct');
  t.is(reads.count, 0);
  t.true(k.errors.length > 0);
});

/**
 * Author 4's list, cold: another author's list registered the scheme and made
 * the model's tokens; author 4's conjunction token does not exist yet.
 */
async function coldList(k: Kit): Promise<ReturnType<Kit['entries']['ref']>> {
  await k.entries.prepare(k.entries.ref(k.schema, 'by-author-3', conjunctionOf(k.schema, { authorId: 3 })), new Map());
  return k.entries.ref(k.schema, 'by-author-4', conjunctionOf(k.schema, { authorId: 4 }));
}

/** A kit over a store that counts round trips and holds stores and deletes (the entry and the lock's release) until `held` opens. */
function heldStores() {
  const held = gate();
  const probe = depthStore({ set: held.promise, delete: held.promise });
  return { held, probe, k: kit({ store: probe.store }) };
}

test('a cold list miss makes two store round trips before its database read and none after it, its token created on the way', async (t) => {
  const { held, probe, k } = heldStores();
  const ref = await coldList(k);
  probe.reset();
  let before = -1;
  let atAnswer = -1;
  const { cycle, reads } = listCycle(k, ref, [[5]], async () => {
    before = probe.depth();
  });
  const answered = read(k, ref, { ...cycle, answer: (m) => ((atAnswer = probe.depth()), m) });
  t.deepEqual(await answered, [[5]]);
  t.is(before, 2, 'the lookup, then the lock with a second look, the new token and the write marks');
  t.is(atAnswer, 2, 'the entry is stored and the lock released off the answer path');
  held.open();
  await k.settled();
  t.deepEqual(await read(k, ref, cycle), [[5]]);
  t.is(reads.count, 1, 'the entry stored after the answer serves the next read');
});

test('a write in flight when a cold list is prepared makes it store nothing, though the marks went with its new token', async (t) => {
  const k = kit();
  const ref = await coldList(k);
  await k.guarded.step(k.keys.writes(k.schema), MARK_BEGIN, 60);
  const { cycle, reads } = listCycle(k, ref, [[5]]);
  t.deepEqual(await read(k, ref, cycle), [[5]]);
  await k.settled();
  t.is((await k.entries.lookup(ref)).pks, undefined, 'nothing stored under a raised mark');
  await k.guarded.step(k.keys.writes(k.schema), -1, 60);
  await read(k, ref, cycle);
  t.is(reads.count, 2);
});

test('a token another reader created first is read after the marks, so the marks are read again', async (t) => {
  const k = kit();
  const ref = await coldList(k);
  const tokenKey = ref.dependencyKeys[ref.dependencyKeys.length - 1] as string;
  const marksKey = k.keys.writes(k.schema);
  let markReads = 0;
  const getMulti = k.store.getMulti.bind(k.store);
  k.store.getMulti = (keys) => {
    if (keys.includes(marksKey)) markReads++;
    return getMulti(keys);
  };
  // The other reader's `add` lands between this reader's lookup and its own.
  const add = k.store.add.bind(k.store);
  k.store.add = async (key, value, ttl) => {
    if (key === tokenKey) await add(key, 'theirs', 0);
    return add(key, value, ttl);
  };
  const prepared = await k.entries.prepare(ref, new Map());
  t.is(prepared?.tokens[prepared.tokens.length - 1], 'theirs');
  t.is(markReads, 2, 'once with the add, once after the token was read');
});

test("a cycle's own preparation (a tree's relation registrations) goes out in the fill's round trip, not after it", async (t) => {
  const { held, probe, k } = heldStores();
  const ref = await coldList(k);
  probe.reset();
  let preparedAt = -1;
  let before = -1;
  const { cycle } = listCycle(k, ref, [[5]], async () => {
    before = probe.depth();
  });
  const prepare = async () => {
    await k.guarded.getMulti(['relation-tokens']);
    preparedAt = probe.depth();
  };
  t.deepEqual(await read(k, ref, { ...cycle, prepare }), [[5]]);
  t.is(preparedAt, 2, 'answered with the lock and the marks');
  t.is(before, 2, 'nothing more before the database read');
  held.open();
  await k.settled();
});
