/**
 * The read of one row by primary key (docs/architecture.md, invariants 1 and
 * 3): look it up; on a miss one reader fills it under the fill lock while the
 * others wait for that fill (sent after the answer, released after the fill); the filler begins the fill (a CAS baseline, or
 * a lease where the key was absent) before its database read, so a write in
 * between, whose tombstone replaces it, makes the store refuse the old row. Nothing
 * here knows Sequelize: the database read and what counts as this read's row
 * come from the {@link RowRead}.
 */
import type { ReadMeter } from '../source/metrics/metrics';
import type { ModelSchema } from '../source/model-schema';
import type { RowCache } from '../source/rows/row-cache';
import { counter, type Outcome, type Report } from './boarding';
import type { FillLock } from './fill-lock';

/** A row read's material: the full raw row, or null for "no such row". */
export type RowMaterial = { row: Record<string, unknown> | null };

/** The parts of the cache a row read uses. */
export interface RowStores {
  readonly rows: RowCache;
  readonly locks: FillLock;
  readonly options: { readonly stampedeProtection: boolean };
  /** Store work the answer need not wait for (a fill, a lock's release). */
  later(work: Promise<unknown>): void;
}

/** One read of one row. */
export interface RowRead {
  readonly schema: ModelSchema;
  /** The row's key text (source/keys.ts). */
  readonly pkText: string;
  /** The row entry's key, which the fill lock is taken on. */
  readonly key: string;
  /** `cache: { refresh: true }`: no lookup and no lock; the database, then the fill protocol. */
  readonly refresh: boolean;
  /** Serve a cached row, else read the database and store nothing (a read inside a transaction). */
  readonly lookupOnly: boolean;
  /** Hard TTL of the entry, in seconds. */
  readonly ttl: number;
  /** Whether a cached row answers this read (a string key must match exactly, see keys.ts). */
  matches(row: Record<string, unknown>): boolean;
  /** The query as asked (another spelling of the key, or a failing store). */
  direct(): Promise<unknown>;
  /** The full raw row from the database, by primary key. */
  read(): Promise<Record<string, unknown> | undefined>;
}

/** Look the row up; on a miss, one reader fills it and the others wait for that fill. */
export async function rowCycle(stores: RowStores, meter: ReadMeter, read: RowRead, report: Report): Promise<Outcome<RowMaterial>> {
  const { schema, pkText } = read;
  const count = counter(meter, report);
  const served = (row: Record<string, unknown> | undefined) => {
    const material = { row: row ?? null };
    report(undefined, { value: material });
    return { material };
  };
  // "No such row" is recorded only for integer keys: a string key is looked
  // up case-folded, and under a binary collation an absent spelling says
  // nothing about another one.
  const absences = schema.primaryKeys.every((a) => a.keyKind === 'integer');
  let known: Map<string, string> | undefined;
  if (!read.refresh) {
    const lookup = await stores.rows.lookup(schema, [pkText], absences);
    const row = lookup.rows.get(pkText);
    if (row) {
      if (!read.matches(row)) {
        // Another spelling of a string key: not this read's entry.
        count('misses');
        return { answer: await read.direct() };
      }
      count('hits');
      return served(row);
    }
    if (lookup.absent.has(pkText)) {
      count('hits');
      return served(undefined);
    }
    if (!lookup.ok || read.lookupOnly) {
      // The store is failing: skip the fill's extra round trips entirely.
      // Or the read may not fill: what a transaction reads is its own.
      count('misses');
      return { answer: await read.direct() };
    }
    known = lookup.storeValues;
  }
  // A cold row: one reader fills it, the others wait for that fill.
  const locking = !read.refresh && stores.options.stampedeProtection;
  // The fill's write-mark read (row-cache.ts beginFill) must come after the
  // tokens, which the lookup read, and before the database read: sent with
  // the lock's `add`, it costs no round trip of its own. Used only by a
  // reader that takes the lock at once (one that waited has newer tokens).
  const earlyMark = locking && known ? stores.rows.unmarked(schema).catch(() => false) : undefined;
  // Likewise the fill's baseline: the CAS of what the lookup found at the
  // key (a tombstone, an entry another spelling owns), or the lease it puts
  // where the lookup found nothing. It only has to come before the database
  // read, and a write after it replaces it, so the `cas` fails. Without it a
  // miss cost a third round trip. A reader that then waits for another's
  // fill leaves its lease, a tombstone, for that fill's `cas`.
  const earlyBaseline = locking && known ? stores.rows.fillBaseline(schema, pkText, !known.has(read.key)).catch(() => null) : undefined;
  const lock = locking ? await stores.locks.acquire(read.key, meter.counters) : 'unavailable';
  const release = typeof lock === 'function' ? lock : undefined;
  // Releasing is not part of the answer: waiters find the filled row first.
  const releaseLater = () => {
    if (release) stores.later(release());
  };
  if (lock !== 'unavailable') {
    const poll = async (): Promise<{ row: Record<string, unknown> | undefined } | undefined> => {
      const again = await stores.rows.lookup(schema, [pkText], absences);
      const row = again.rows.get(pkText);
      if (row && read.matches(row)) return { row };
      if (again.absent.has(pkText)) return { row: undefined };
      if (again.ok) known = again.storeValues;
      return undefined;
    };
    // Unlike a list, a row's holder does not look again before its query: a
    // primary-key read costs less than the extra round trip, and a fill that
    // landed meanwhile only makes this one's `add` fail.
    const filled = release ? undefined : await stores.locks.wait(read.key, poll, meter.counters);
    if (filled) {
      releaseLater();
      count('hits');
      return served(filled.row);
    }
  }
  count('misses');
  let handedOver = false;
  try {
    const ticket = await stores.rows.beginFill(schema, pkText, known, absences, release ? earlyMark : undefined, release ? earlyBaseline : undefined);
    const row = await read.read();
    // The database matched this row to the query (a case-insensitive collation
    // may return another spelling of the key), so it is the right answer here.
    const outcome = served(row);
    if (ticket) {
      // The lease's CAS was read alongside the database read; waiting for it
      // (rarely more than the read took) lets the fill's `cas` go out before
      // the answer, so this process's next read of the row comes after it.
      await ticket.lease;
      // The fill is not part of the answer either: it is sent now, and the
      // lock is released once it has landed, so a waiter that finds the lock
      // gone finds the row. The store protects the fill (its baseline), not
      // the caller's waiting; and the built-in memcached client applies this
      // process's commands to a server in order, so its next read of the row
      // comes after the fill.
      const fill = row ? stores.rows.completeFill(ticket, row, read.ttl) : stores.rows.completeAbsence(ticket, read.ttl);
      stores.later(fill.finally(releaseLater));
      handedOver = true;
    }
    return outcome;
  } finally {
    if (!handedOver) releaseLater();
  }
}
