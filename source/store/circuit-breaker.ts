import { type Clock, systemClock } from '../clock';
import type { ServerHealth } from './contract';

/** State of one server's breaker, as shown in metrics. */
export type BreakerState = ServerHealth['breaker'];

/** Options of a {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker. */
  failureThreshold: number;
  /** How long an open breaker rejects before letting one probe through, in ms. */
  cooldownMs: number;
  clock?: Clock;
}

/**
 * Per-server breaker: after `failureThreshold` consecutive failures the server
 * is skipped for `cooldownMs`, so a dead or hung server costs one deadline per
 * cooldown instead of one per request; then a single probe decides whether to
 * close again (the classic closed → open → half-open cycle).
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #clock: Clock;
  #failures = 0;
  #openedAt = 0;
  #state: BreakerState = 'closed';
  #probing = false;
  #recoveredAt = 0;

  constructor(options: CircuitBreakerOptions) {
    this.#threshold = options.failureThreshold;
    this.#cooldownMs = options.cooldownMs;
    this.#clock = options.clock ?? systemClock;
  }

  get state(): BreakerState {
    if (this.#state === 'open' && this.#clock.now() - this.#openedAt >= this.#cooldownMs) {
      return 'half-open';
    }
    return this.#state;
  }

  /** Number of times the breaker has opened. */
  opened = 0;

  /**
   * Whether an operation may go to the server now. In half-open state only one
   * probe is let through at a time; the rest keep failing fast until it settles.
   */
  allow(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.#probing) return false;
    this.#probing = true;
    return true;
  }

  success(): void {
    if (this.#state !== 'closed') this.#recoveredAt = this.#clock.now();
    this.#failures = 0;
    this.#probing = false;
    this.#state = 'closed';
  }

  /** When the breaker last closed after being open (0: never). */
  get recoveredAt(): number {
    return this.#recoveredAt;
  }

  failure(): void {
    this.#failures += 1;
    const wasProbe = this.#probing;
    this.#probing = false;
    if (wasProbe || (this.#state === 'closed' && this.#failures >= this.#threshold)) {
      if (this.#state !== 'open') this.opened += 1;
      this.#state = 'open';
      this.#openedAt = this.#clock.now();
    }
  }
}
