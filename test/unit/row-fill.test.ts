import test from 'ava';
import type { FillTicket, WarmTicket } from '../../source/rows/row-cache';
import { type RowRead, rowCycle } from '../../stampede/row-read';
import { depthStore, gate, kit, type Kit } from './kit';

const row = (id: number, title: string) => ({ id, authorId: 1, title });

/** One read of row `id` through the row read protocol; `database` answers its misses. */
function rowRead(k: Kit, id: number, database: () => Promise<Record<string, unknown> | undefined>): Promise<unknown> {
  const pkText = String(id);
  const read: RowRead = {
    schema: k.schema,
    pkText,
    key: k.keys.row(k.schema, pkText),
    refresh: false,
    lookupOnly: false,
    ttl: 60,
    matches: () => true,
    direct: async () => 'direct',
    read: database,
  };
  return rowCycle(k, k.metrics.meter('Article', 'row'), read, () => undefined).then((o) => ('material' in o ? o.material.row : o.answer));
}

test('a fill stores the row it read; the next read is served from the cache', async (t) => {
  const k = kit();
  let reads = 0;
  const database = async () => {
    reads++;
    return row(1, 'a');
  };
  t.deepEqual(await rowRead(k, 1, database), row(1, 'a'));
  t.deepEqual(await rowRead(k, 1, database), row(1, 'a'));
  t.is(reads, 1);
});

test('a write that tombstones the row during a fill makes the store refuse the old row', async (t) => {
  const k = kit();
  // The reader reads the old row; the write commits and tombstones the row
  // before the reader stores: the fill must lose.
  const old = await rowRead(k, 1, async () => {
    await k.rows.tombstone(k.schema, ['1']);
    return row(1, 'old');
  });
  t.deepEqual(old, row(1, 'old'), 'the reader itself gets what it read');
  const lookup = await k.rows.lookup(k.schema, ['1']);
  t.false(lookup.rows.has('1'), 'the old row was not stored');
  t.deepEqual(await rowRead(k, 1, async () => row(1, 'new')), row(1, 'new'));
});

test('a fill begun before a tombstone cannot land after it, even when the row was absent', async (t) => {
  const k = kit();
  const ticket = await k.rows.beginFill(k.schema, '5');
  t.truthy(ticket);
  await k.rows.tombstone(k.schema, ['5']);
  t.false(await k.rows.completeFill(ticket!, row(5, 'stale'), 60));
  t.false((await k.rows.lookup(k.schema, ['5'])).rows.has('5'));
});

/** What a store under memory pressure does to a key: it is gone, as if never written. */
const evict = (k: Kit, id: number) => k.store.delete(k.keys.row(k.schema, String(id)));

test('a write during a fill makes the store refuse the old row even when its tombstone is evicted before the fill lands', async (t) => {
  const k = kit();
  const old = await rowRead(k, 1, async () => {
    await k.rows.tombstone(k.schema, ['1']);
    await evict(k, 1);
    return row(1, 'old');
  });
  t.deepEqual(old, row(1, 'old'));
  await k.settled();
  t.false((await k.rows.lookup(k.schema, ['1'])).rows.has('1'), 'the old row was not stored');
  t.is(k.metrics.snapshot().models.Article?.row.fillsRejected, 1);
});

test('a fill, a no-such-row fill too, begun where the key was absent loses to a tombstone the store then evicted', async (t) => {
  const k = kit();
  const absent = new Map<string, string>();
  for (const [id, complete] of [
    [5, (ticket: FillTicket) => k.rows.completeFill(ticket, row(5, 'stale'), 60)],
    [6, (ticket: FillTicket) => k.rows.completeAbsence(ticket, 60)],
  ] as const) {
    const ticket = await k.rows.beginFill(k.schema, String(id), absent, id === 6);
    t.truthy(ticket?.lease, 'a key found absent gets a lease');
    await k.rows.tombstone(k.schema, [String(id)]);
    await evict(k, id);
    t.false(await complete(ticket!));
    t.is(await k.guarded.get(k.keys.row(k.schema, String(id))), undefined, 'nothing was stored');
  }
});

test('a row warmed from a read that a write raced is not served after the write, even when its tombstone is evicted', async (t) => {
  const k = kit();
  const warmTicket = async (): Promise<WarmTicket> => ({
    schema: k.schema,
    tokens: [...((await k.rows.tokens(k.schema)) as string[]), (await k.guarded.ensureToken(k.keys.warm(k.schema))) as string],
    startedAt: k.clock.now(),
  });
  // The tokens are read before the list query; the query reads the old row;
  // the write commits and tombstones it; the store evicts the tombstone.
  const raced = await warmTicket();
  await k.rows.tombstone(k.schema, ['2']);
  await evict(k, 2);
  await k.rows.warm(raced, [['2', row(2, 'old')]], 60);
  t.false((await k.rows.lookup(k.schema, ['2'])).rows.has('2'), 'the old row is not served');
  // A warming read after the write stores its row, and the next lookup serves it.
  await evict(k, 2);
  await k.rows.warm(await warmTicket(), [['2', row(2, 'new')]], 60);
  t.deepEqual((await k.rows.lookup(k.schema, ['2'])).rows.get('2'), row(2, 'new'));
});

test('concurrent misses of one row: one reader fills under the lock, the other waits for its fill', async (t) => {
  const k = kit();
  const hold = gate();
  let reads = 0;
  const database = async () => {
    reads++;
    await hold.promise;
    return row(3, 'c');
  };
  const first = rowRead(k, 3, database);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const second = rowRead(k, 3, database);
  await new Promise((resolve) => setTimeout(resolve, 5));
  hold.open();
  t.deepEqual(await Promise.all([first, second]), [row(3, 'c'), row(3, 'c')]);
  t.is(reads, 1);
  t.is(k.metrics.snapshot().lockWaits, 1);
});

test('a missing integer key is remembered as "no such row" and served without a read', async (t) => {
  const k = kit();
  let reads = 0;
  const database = async () => {
    reads++;
    return undefined;
  };
  t.is(await rowRead(k, 404, database), null);
  t.is(await rowRead(k, 404, database), null);
  t.is(reads, 1);
});

test('a cold row miss makes two store round trips before its database read and none after it', async (t) => {
  // The read of the lease's CAS waits until the database read has begun, the
  // lock's release for the test: the database read waits for neither.
  const leaseRead = gate();
  const deletes = gate();
  const probe = depthStore({ gets: leaseRead.promise, delete: deletes.promise });
  const k = kit({ store: probe.store });
  // Tokens exist (any earlier read made them); this row was never read.
  await k.rows.tokens(k.schema, undefined, true);
  probe.reset();
  let before = -1;
  const answer = await rowRead(k, 7, async () => {
    before = probe.depth();
    leaseRead.open();
    return row(7, 'g');
  });
  t.deepEqual(answer, row(7, 'g'));
  t.is(before, 2, 'the lookup, then the lock together with the write-mark read and the lease');
  t.is(probe.depth(), 3, "the lease's CAS, read alongside the database read; the fill and the lock's release are off the answer path");
  await k.settled(); // the fill lands; the release waits for the test
  t.is(probe.depth(), 4, "the fill's cas was sent");
  deletes.open();
  await k.settled();
  t.deepEqual(await rowRead(k, 7, async () => row(7, 'never read')), row(7, 'g'));
});

test('a row miss after a write (its tombstone in the entry) also makes two store round trips before its database read, and fills', async (t) => {
  const probe = depthStore({ delete: new Promise(() => undefined) });
  const k = kit({ store: probe.store });
  await k.rows.tokens(k.schema, undefined, true);
  await k.rows.tombstone(k.schema, ['8']);
  probe.reset();
  let before = -1;
  t.deepEqual(await rowRead(k, 8, async () => ((before = probe.depth()), row(8, 'h'))), row(8, 'h'));
  t.is(before, 2, 'the lookup, then the lock with the write mark and the CAS baseline');
  await k.settled();
  t.deepEqual(await rowRead(k, 8, async () => row(8, 'never read')), row(8, 'h'), 'the fill replaced the tombstone');
});

test('a write after the early CAS baseline of a tombstoned row makes its fill lose', async (t) => {
  const k = kit();
  await k.rows.tombstone(k.schema, ['9']);
  const old = await rowRead(k, 9, async () => {
    await k.rows.tombstone(k.schema, ['9']);
    return row(9, 'old');
  });
  t.deepEqual(old, row(9, 'old'));
  await k.settled();
  t.false((await k.rows.lookup(k.schema, ['9'])).rows.has('9'), 'the old row was not stored');
});
