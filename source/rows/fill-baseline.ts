/**
 * What a row fill publishes against (docs/architecture.md, invariant 1): the
 * CAS of the value it saw before its database read, or, where the key was
 * absent, a lease it put there (Facebook memcache's leases, in a tombstone):
 *
 *   add(row, lease) ──► database read ──► cas(row, casOfLease)
 *
 * Publishing with `add` where the key was absent would be wrong on a store
 * that evicts: a write's tombstone, evicted before the fill lands, leaves the
 * key absent again, and the `add` stores the old row. A lease is unique to
 * its fill; a write replaces it, and eviction removes it, so either way the
 * `cas` fails. Nothing but the lease's own `add` ever writes its value.
 */
import { randomToken } from '../clock';
import { encodeTombstone } from '../codec';
import type { GuardedStore } from '../store/guarded-store';

/**
 * The CAS of the lease a fill placed, read while the database read runs;
 * undefined when the key no longer holds the lease.
 */
export type Lease = Promise<string | undefined>;

/** The CAS of the value seen, or the lease placed; null when nothing may be stored. */
export type FillBaseline = { cas: string } | { lease: Lease } | null;

/**
 * Read or place what a fill of `key` publishes against; it must be done
 * before the fill's database read. Where the key was absent (`absent`: a
 * lookup found nothing there), a lease: a tombstone no one else writes, put
 * with `add`. Otherwise the CAS of what is there, and a lease after all when
 * `gets` finds the key absent; when the lease's `add` finds that something
 * landed meanwhile (a fill, a write's tombstone, another reader's lease), the
 * CAS of that. One round trip where the lookup told right.
 */
export async function fillBaseline(store: GuardedStore, key: string, absent: boolean, tombstoneTtl: number): Promise<FillBaseline> {
  if (!absent) {
    const seen = await store.gets(key);
    if (seen === null) return null;
    if (seen) return { cas: seen.cas };
  }
  const marker = encodeTombstone(randomToken());
  const added = await store.tryAdd(key, marker, tombstoneTtl);
  if (added === null) return null;
  if (added) return { lease: store.gets(key).then((seen) => (seen && seen.value === marker ? seen.cas : undefined)) };
  const seen = await store.gets(key);
  return seen ? { cas: seen.cas } : null;
}

/**
 * Store `value` at the fill's key: `cas` against what was seen before the
 * read, or against the fill's own lease, which stores only while the lease
 * is in place (that proves no write's tombstone came after it).
 */
export async function publishFill(
  store: GuardedStore,
  ticket: { readonly key: string; readonly cas: string | undefined; readonly lease: Lease | undefined },
  value: string,
  ttl: number,
): Promise<boolean> {
  const cas = ticket.lease ? await ticket.lease : ticket.cas;
  return cas !== undefined && store.cas(ticket.key, value, cas, ttl);
}
