/**
 * Soft expiry: list and count entries carry a
 * `softExpiresAt` earlier than their hard TTL. A reader that finds a
 * soft-expired (still valid) entry tries a refresh lock with memcached `add`;
 * the winner refreshes — in the background by default, its own caller and
 * everyone else being served the stale copy at hit speed — and the losers are
 * served the stale copy. A refresh that fails releases the lock and keeps the
 * stale entry; one that succeeds keeps the lock until it expires, so at most
 * one refresh per entry runs per `lockTtl`. Entries invalidated by a write are never served stale: their
 * tokens no longer match, which makes them misses, not soft hits.
 *
 * Optional probabilistic early refresh (XFetch, Vattani, Chierichetti and
 * Lowenstein, "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015):
 * a reader refreshes before the soft expiry with a probability that rises as
 * it nears, scaled by how long the query took (`delta`) and β.
 */
import pLimit from 'p-limit';
import type { Clock } from '../source/clock';
import type { SoftExpiry } from '../source/lists/entry-format';
import type { ReadCounters } from '../source/metrics/snapshot';
import type { FillLock } from './fill-lock';

export interface SoftExpiryOptions {
  /** 'background': serve stale to everyone; 'wait': the refresher's own caller waits for fresh data. */
  refreshMode: 'background' | 'wait';
  /** XFetch β; 0 turns early refresh off. */
  earlyRefreshBeta: number;
  /** Most background refreshes running at once in this process. */
  refreshConcurrency: number;
}

export class SoftExpiryGuard {
  readonly #limit: pLimit.Limit;
  readonly #pending = new Set<Promise<unknown>>();

  constructor(
    readonly locks: FillLock,
    readonly clock: Clock,
    readonly options: SoftExpiryOptions,
    readonly random: () => number = Math.random,
  ) {
    this.#limit = pLimit(options.refreshConcurrency);
  }

  /** Whether an entry with this soft expiry should be refreshed now. */
  due(soft: SoftExpiry): boolean {
    const now = this.clock.now();
    if (now >= soft.softExpiresAt) return true;
    const beta = this.options.earlyRefreshBeta;
    // XFetch: now − δ·β·ln(U) ≥ expiry, U uniform in (0, 1].
    return beta > 0 && now - soft.delta * beta * Math.log(1 - this.random()) >= soft.softExpiresAt;
  }

  /**
   * Refresh `key` with `fill` if this reader wins the refresh lock. In
   * 'wait' mode the winner's answer is the fresh one; otherwise (and for
   * losers) `refreshed` is false and the caller serves what it has, which is
   * stale (`stale`, for the caller to count) unless the refresh is an early
   * (XFetch) one. `counters` are the read's.
   */
  async refresh<T>(
    key: string,
    soft: SoftExpiry,
    fill: () => Promise<T>,
    counters: ReadCounters,
  ): Promise<{ refreshed: true; answer: T } | { refreshed: false; stale: boolean }> {
    const stale = this.clock.now() >= soft.softExpiresAt;
    const release = await this.locks.acquire(`${key}:refresh`, counters);
    if (typeof release !== 'function') return { refreshed: false, stale };
    counters.refreshes++;
    const run = this.#limit(async (): Promise<{ refreshed: true; answer: T } | { refreshed: false; stale: boolean }> => {
      try {
        // On success the lock is left to expire (lockTtl): a reader that saw
        // the stale copy just before the refresh landed would otherwise win a
        // freshly released lock and refresh a second time.
        return { refreshed: true, answer: await fill() };
      } catch {
        counters.refreshFailures++;
        await release();
        return { refreshed: false, stale };
      }
    });
    if (this.options.refreshMode === 'wait') return run;
    this.#pending.add(run);
    void run.finally(() => this.#pending.delete(run));
    return { refreshed: false, stale };
  }

  /** Resolves when every background refresh started so far has finished. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}
