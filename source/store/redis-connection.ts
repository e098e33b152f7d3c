/**
 * What a RedisStore knows of its connection (docs/stores.md): whether it is
 * ready, when it last came back after a drop (the server may have lost
 * writes, a restart, or missed invalidations meanwhile: reads are misses for
 * the grace period, as after the breaker closes), and the client's last
 * error, so "not connected" says why (a refused password, an untrusted
 * certificate, a refused connection).
 */
import type { EventEmitter } from 'node:events';
import type { Cluster, Redis } from 'ioredis';
import { clearTimeout, setTimeout } from 'node:timers';
import { systemClock } from '../clock';

/**
 * The listeners a watcher adds to a client, removed together by `close()`:
 * a client the app handed in outlives the store, and every store made on it
 * would otherwise leave its listeners behind.
 */
export class Listeners {
  readonly #added: [string, (...args: unknown[]) => void][] = [];

  constructor(readonly client: EventEmitter) {}

  on(event: string, listener: (...args: unknown[]) => void): void {
    this.client.on(event, listener);
    this.#added.push([event, listener]);
  }

  close(): void {
    for (const [event, listener] of this.#added.splice(0)) this.client.off(event, listener);
  }
}

export class ConnectionWatch {
  /** When the connection last came back after a drop (0: never). */
  reconnectedAt = 0;
  /** The client's last error message, for "not connected" errors. */
  lastError = '';
  /** When a wait for the connection last ran out (0: never). */
  #waitFailedAt = 0;
  readonly #listeners: Listeners;

  constructor(
    readonly client: Redis | Cluster,
    readonly timeoutMs: number,
  ) {
    this.#listeners = new Listeners(client);
    // A close before the first ready (a Cluster's start-up) is no drop.
    let wasReady = false;
    let dropped = false;
    this.#listeners.on('close', () => (dropped = wasReady));
    this.#listeners.on('ready', () => {
      if (dropped) this.reconnectedAt = systemClock.now();
      wasReady = true;
      dropped = false;
      this.lastError = '';
    });
    // Also: a failing server must never surface as an unhandled 'error' event.
    this.#listeners.on('error', (error: unknown) => (this.lastError = error instanceof Error ? error.message : String(error)));
  }

  /** Remove this watch's listeners from the client. */
  close(): void {
    this.#listeners.close();
  }

  /**
   * Whether the client is connected, waiting for a connection in progress up
   * to the deadline, unless such a wait has just failed: the commands after
   * it (the several writes of one save while Redis is down) then fail at
   * once instead of each waiting the deadline in turn; a lost invalidation is
   * replayed. A connection that is back is used at once either way.
   */
  async ready(): Promise<boolean> {
    if (this.client.status === 'ready') return true;
    if (systemClock.now() - this.#waitFailedAt < this.timeoutMs) return false;
    const ready = await connected(this.client, this.timeoutMs);
    if (!ready) this.#waitFailedAt = systemClock.now();
    return ready;
  }

  /** Why the client is not connected, for errors: its state and last error. */
  describe(): string {
    return this.lastError ? `${this.client.status}: ${this.lastError}` : this.client.status;
  }
}

/**
 * Whether the client is connected, waiting up to `ms` for a connection in
 * progress. Commands are sent only on a ready connection: the client's
 * offline queue would send them whenever it reconnects, long after the
 * query gave up on them (a fill landing after a later invalidation).
 */
function connected(client: Redis | Cluster, ms: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  if (client.status === 'end' || client.status === 'wait') return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    client.once('ready', onReady);
  });
}
