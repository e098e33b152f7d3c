/**
 * Time and randomness are injected (lru-cache's `perf` option does the same)
 * so that TTL, tombstone and soft-expiry tests run on a fake clock instead of
 * sleeping.
 */
import { randomBytes } from 'node:crypto';

/** Source of time for TTLs and deadlines. */
export interface Clock {
  /** Milliseconds since the Unix epoch (used for TTL arithmetic). */
  now(): number;
}

/**
 * `Date.now` and `performance.now` as they were when the plugin loaded: an
 * app's tests that install fake timers (sinon, Jest) freeze the globals, and
 * the cache's deadlines, lock waits and fill ages must keep real time, or a
 * query could wait forever on a store answer that came.
 */
const wallNow = Date.now;
const monotonicNow = performance.now.bind(performance);

/** Milliseconds of a monotonic clock, immune to fake timers. */
export const monotonic = (): number => monotonicNow();

/** The real wall clock. */
export const systemClock: Clock = { now: () => wallNow() };

/** A clock a test moves by hand. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  /** Move time forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.#now += ms;
  }
}

/**
 * A fresh random token for dependency keys and tombstones. Random, never a
 * counter: a counter that restarts after an eviction could repeat a value an
 * old entry recorded and make it valid again.
 */
export function randomToken(): string {
  if (poolOffset + TOKEN_BYTES > pool.length) {
    pool = randomBytes(TOKEN_BYTES * 512);
    poolOffset = 0;
  }
  const token = pool.toString('base64url', poolOffset, poolOffset + TOKEN_BYTES);
  poolOffset += TOKEN_BYTES;
  return token;
}

/**
 * Tokens are cut from a pool of random bytes drawn 512 at a time: one
 * `randomBytes` call per token was 7 % of a save()'s CPU (bench:profile W6).
 * The bytes are the same CSPRNG's; Node has no fork(), so no two processes
 * ever share a pool.
 */
const TOKEN_BYTES = 9;
let pool = Buffer.alloc(0);
let poolOffset = 0;
