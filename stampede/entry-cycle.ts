/**
 * The cache-aside cycle of one query entry (a list, tree, whole value or
 * count), in the order its correctness needs (docs/architecture.md, A hit, a
 * miss, a write): look the entry up with its tokens; serve it when valid
 * (refreshing it early, once, when it is soft-expired); otherwise one reader
 * fills it under the fill lock while the others wait for that fill; a fill
 * takes its tokens and write marks before the database read and stores the
 * entry under them. Nothing here knows Sequelize: what a hit is, how the
 * database is read and how an answer is built come from the {@link EntryCycle}.
 */
import type { Clock } from '../source/clock';
import type { EntryCache, EntryLookup, EntryRef, Prepared } from '../source/lists/entry-cache';
import type { SoftExpiry } from '../source/lists/entry-format';
import type { ReadMeter } from '../source/metrics/metrics';
import { aboard, type Boarding, boardingFor, counter, type Outcome, type Report } from './boarding';
import type { FillLock } from './fill-lock';
import type { SoftExpiryGuard } from './soft-expiry';

/**
 * What a valid entry gives: the material its answer is built from; undefined
 * to read the database; 'rebuild' when the entry points at rows that no
 * longer exist (already reported).
 */
export type Hit<M> = { material: M } | 'rebuild' | undefined;

/** One entry's part of the cycle: how its hits, reads, stores and answers look. */
export interface EntryCycle<R, M> {
  /** The material of a valid entry (see {@link Hit}). */
  hit(lookup: EntryLookup): Promise<Hit<M>> | Hit<M>;
  /** The query as asked, when the store is not answering. */
  direct(): Promise<unknown>;
  /**
   * Requests to send in the same tick as the entry's first lookup, so that
   * they share its multi-get (a list's remembered rows).
   */
  alongside?(): void;
  /** Work that must happen after the tokens are taken and before the database read. */
  beforeRead?(): Promise<void>;
  /**
   * Work that only has to land before the database read: sent with the
   * fill's preparation, in its round trip (a tree's relation registrations).
   */
  prepare?(): Promise<void>;
  /** The database read of a miss. */
  read(): Promise<R>;
  /** Store what was read, under the tokens taken before the read (`prepared.tokens`). */
  save(tokens: string[], read: R, soft: SoftExpiry, prepared: Prepared): Promise<unknown>;
  /** The material of a database read (the same shape a hit gives). */
  material(read: R): M;
  /** The caller's answer, built from material it owns. */
  answer(material: M): unknown;
}

/** The parts of the cache an entry cycle uses. */
export interface EntryStores {
  readonly entries: EntryCache;
  readonly locks: FillLock;
  readonly stampede: SoftExpiryGuard;
  readonly flights: Boarding['flights'];
  readonly options: { readonly stampedeProtection: boolean; readonly clock: Clock };
  /** Store work the answer need not wait for (a fill, a lock's release). */
  later(work: Promise<unknown>): void;
}

/** One read of an entry: its keys, whether it forces a refresh, and its soft TTL. */
export interface EntryRead {
  readonly ref: EntryRef;
  /** `cache: { refresh: true }`: no lookup, no lock, no flight; always the database. */
  readonly refresh: boolean;
  /** Seconds until the stored entry goes soft-stale. */
  readonly softTtl: number;
  /**
   * Serve a valid entry, else read the database and store nothing: no lock,
   * no flight, no refresh (a read inside a transaction, whose database read
   * may not be what others should see).
   */
  readonly lookupOnly: boolean;
}

/**
 * One entry read with in-process single-flight: identical concurrent reads
 * board one flight and build their answers from copies of its material.
 * Without stampede protection, and for `cache: { refresh: true }`, every read
 * runs its own cycle.
 */
export function throughEntry<R, M>(stores: EntryStores, meter: ReadMeter, read: EntryRead, cycle: EntryCycle<R, M>): Promise<unknown> {
  const boarding = boardingFor(stores.flights, stores.options.stampedeProtection, read.refresh || read.lookupOnly);
  const own = read.lookupOnly ? lookupOnly : entryCycle;
  return aboard(boarding, meter, read.ref.entryKey, (report) => own(stores, meter, read, cycle, report), (m) => cycle.answer(m));
}

/** A valid entry's material, or the query as asked: nothing is locked, stored or refreshed. */
async function lookupOnly<R, M>(stores: EntryStores, meter: ReadMeter, read: EntryRead, cycle: EntryCycle<R, M>, report: Report): Promise<Outcome<M>> {
  const count = counter(meter, report);
  const looking = stores.entries.lookup(read.ref);
  cycle.alongside?.();
  const lookup = await looking;
  // Without protection a soft-expired entry is simply expired; with it, a
  // soft-expired entry is still valid (its tokens say no write touched it).
  const expired = !stores.options.stampedeProtection && lookup.soft !== undefined && stores.options.clock.now() >= lookup.soft.softExpiresAt;
  const hit = lookup.ok && !expired ? await cycle.hit(lookup) : undefined;
  if (hit && hit !== 'rebuild') {
    count('hits');
    return { material: hit.material };
  }
  count('misses');
  return { answer: await cycle.direct() };
}

/**
 * Look up (unless refreshing), serve a valid entry; else register and read
 * the tokens, then read the database, then store. Tokens must be taken
 * before the database read: a write between the two rotates one of them, so
 * the stored entry can never validate.
 */
async function entryCycle<R, M>(
  stores: EntryStores,
  meter: ReadMeter,
  read: EntryRead,
  cycle: EntryCycle<R, M>,
  report: Report,
): Promise<Outcome<M>> {
  const { ref } = read;
  const count = counter(meter, report);
  const served = (material: M) => {
    report(undefined, { value: material });
    return { material };
  };
  let storeValues = new Map<string, string>();
  let release: (() => Promise<void>) | undefined;
  let early: Promise<Prepared | undefined> | undefined;
  if (!read.refresh) {
    const looking = stores.entries.lookup(ref);
    cycle.alongside?.();
    const lookup = await looking;
    if (!lookup.ok) {
      count('misses');
      return { answer: await cycle.direct() };
    }
    const protection = stores.options.stampedeProtection;
    // Without protection a soft-expired entry is simply expired: a miss.
    const expired = !protection && lookup.soft !== undefined && stores.options.clock.now() >= lookup.soft.softExpiresAt;
    const hit = expired ? undefined : await cycle.hit(lookup);
    if (hit && hit !== 'rebuild') {
      count('hits');
      if (protection && lookup.soft && stores.stampede.due(lookup.soft)) {
        const refill = async () => {
          // A refresh ends once its entry is stored: the soft-expiry lock is held until then.
          const refreshed = await fill(stores, read, cycle, lookup.storeValues, () => undefined);
          await refreshed.stored;
          return refreshed.material;
        };
        const fresh = await stores.stampede.refresh(ref.entryKey, lookup.soft, refill, meter.counters);
        if (fresh.refreshed) return served(fresh.answer);
        if (fresh.stale) count('staleServed');
      }
      return served(hit.material);
    }
    storeValues = lookup.storeValues;
    if (hit !== 'rebuild' && protection) {
      // A cold or invalidated entry: one reader fills it, the others wait for
      // that fill (stampede protection). Stale data is never served here.
      const locking = stores.locks.acquire(ref.entryKey, meter.counters);
      const checked = async (again: EntryLookup): Promise<Hit<M>> => {
        if (!again.ok) return undefined;
        const found = await cycle.hit(again);
        if (!found) storeValues = again.storeValues;
        return found;
      };
      const poll = async () => checked(await stores.entries.lookup(ref));
      // Sent with the lock's `add`, so neither costs a round trip of its own:
      // a second look (the previous holder may have filled the entry between
      // this reader's lookup and its lock), and the fill's preparation from
      // the first lookup's tokens, which a reader that does not win the lock
      // throws away (it only registers, creates tokens and reads).
      const looking = stores.entries.lookup(ref);
      early = preparation(stores, read, cycle, storeValues);
      early.catch(() => undefined);
      const lock = await locking;
      release = typeof lock === 'function' ? lock : undefined;
      let filled: Hit<M> = undefined;
      if (lock !== 'unavailable') {
        filled = await checked(await looking);
        if (filled === undefined && !release) filled = await stores.locks.wait(ref.entryKey, poll, meter.counters);
        // A reader that waited fills with tokens read after its wait.
        if (!release) early = undefined;
      }
      if (filled && filled !== 'rebuild') {
        if (release) stores.later(release());
        count('hits');
        return served(filled.material);
      }
    }
  }
  count('misses');
  let handedOver = false;
  try {
    const filled = await fill(stores, read, cycle, storeValues, report, early);
    // The answer does not wait for the entry to be stored: the store is sent
    // now and the lock released once it has landed, so a waiter that finds
    // the lock gone finds the entry (the row fill's rule, row-read.ts).
    const done = release;
    stores.later(done ? filled.stored.finally(done) : filled.stored);
    handedOver = true;
    return { material: filled.material };
  } finally {
    if (!handedOver && release) stores.later(release());
  }
}

/** The entry's tokens and write marks (entry-cache.ts prepare), with the cycle's own preparation. */
async function preparation<R, M>(stores: EntryStores, read: EntryRead, cycle: EntryCycle<R, M>, storeValues: Map<string, string>): Promise<Prepared | undefined> {
  const [prepared] = await Promise.all([stores.entries.prepare(read.ref, storeValues), cycle.prepare?.()]);
  return prepared;
}

/**
 * Take the tokens, read the database, report the material, store the entry
 * with its soft expiry.
 */
async function fill<R, M>(
  stores: EntryStores,
  read: EntryRead,
  cycle: EntryCycle<R, M>,
  storeValues: Map<string, string>,
  report: Report,
  early?: Promise<Prepared | undefined>,
): Promise<{ material: M; stored: Promise<unknown> }> {
  const prepared = await (early ?? preparation(stores, read, cycle, storeValues));
  await cycle.beforeRead?.();
  const clock = stores.options.clock;
  const started = clock.now();
  const result = await cycle.read();
  const material = cycle.material(result);
  report(undefined, { value: material });
  const now = clock.now();
  const soft = { softExpiresAt: now + read.softTtl * 1000, delta: now - started };
  const stored = prepared ? cycle.save(prepared.tokens, result, soft, prepared) : Promise.resolve();
  return { material, stored };
}
