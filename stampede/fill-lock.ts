/**
 * One database query per cold key (docs/architecture.md, invariant 3): a reader that
 * misses takes a short lock with memcached `add` (atomic across processes,
 * the lease idea of "Scaling Memcache at Facebook", NSDI 2013); the winner
 * queries and fills, the others poll the entry with backoff and take the
 * winner's fill, and fall back to the database themselves only when the
 * holder is too slow or died (its lock expires with its TTL).
 *
 * Waiters validate what they poll exactly as any reader does (every token the
 * entry recorded must still be current), so a fill built before a write that
 * lands while they wait is never accepted (identity_cache's fill-lock
 * fallback has the same rule).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { monotonic } from '../source/clock';
import { randomToken } from '../source/clock';
import type { GuardedStore } from '../source/store/guarded-store';
import type { ReadCounters } from '../source/metrics/snapshot';

/** Settings of the fill lock, from `install()` options. */
export interface FillLockOptions {
  /** Lock lifetime in seconds: how long a dead holder can delay the others. */
  lockTtl: number;
  /** How long a reader waits for another's fill before querying itself, in ms. */
  lockWaitMs: number;
}

export class FillLock {
  constructor(
    readonly store: GuardedStore,
    readonly options: FillLockOptions,
  ) {}

  /**
   * Try to become the filler of `key`: the release function when won,
   * `'busy'` when another reader holds the lock, `'unavailable'` when the
   * store cannot tell (then nobody waits: the cache must never make a query
   * slower by more than its store deadlines). `counters` are the read's.
   */
  async acquire(key: string, counters: ReadCounters): Promise<(() => Promise<void>) | 'busy' | 'unavailable'> {
    const lockKey = `${key}:lock`;
    const won = await this.store.tryAdd(lockKey, randomToken(), this.options.lockTtl);
    if (won === null) return 'unavailable';
    if (!won) return 'busy';
    counters.lockAcquired++;
    // The release is sent, not awaited: the caller's answer never waits for
    // it, and a lost release costs waiters at most the lock TTL.
    return async () => {
      void this.store.delete(lockKey);
    };
  }

  /**
   * Poll `check` with backoff (5 ms doubling to 100 ms) until it yields a
   * value (any value other than undefined ends the wait), the holder releases
   * the lock without a fill (a query with nothing to store, such as a missing
   * row), or `lockWaitMs` has passed; `undefined` unless a value was found.
   */
  async wait<T>(key: string, check: () => Promise<T | undefined>, counters: ReadCounters): Promise<T | undefined> {
    counters.lockWaits++;
    const lockKey = `${key}:lock`;
    const deadline = monotonic() + this.options.lockWaitMs;
    let delay = 5;
    while (monotonic() < deadline) {
      await sleep(Math.min(delay, Math.max(1, deadline - monotonic())));
      const [found, held] = await Promise.all([check(), this.store.get(lockKey)]);
      if (found !== undefined) return found;
      // Released (or unreadable): look once more, in case the fill landed
      // between the two reads, then stop waiting.
      if (held === undefined) return check();
      delay = Math.min(delay * 2, 100);
    }
    counters.lockTimeouts++;
    return undefined;
  }
}
