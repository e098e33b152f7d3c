/**
 * Whether a standalone Redis is still a master (docs/stores.md, "Replicas and
 * failover"). After a failover (Sentinel, a managed service, `REPLICAOF` by
 * hand) the old master becomes a replica of the new one and keeps answering
 * reads, while every write to it fails with `READONLY`: the invalidations
 * of writes made from then on are lost, yet the entries they should have
 * replaced are still read. So a RedisStore reads nothing from a server it
 * knows to be a replica, and for a grace period after it turns master again.
 * It learns the role from every `READONLY` reply, at every connection
 * (`ROLE`), and once per interval: a process that only reads may serve an
 * entry from a demoted server for at most that interval after the demotion.
 */
import type { Redis } from 'ioredis';
import { clearInterval, setInterval } from 'node:timers';
import { systemClock } from '../clock';
import { Listeners } from './redis-connection';

/** How often a standalone server's role is asked, in milliseconds. */
export const ROLE_CHECK_MS = 1000;

/** A `READONLY` error reply: the server is a replica. */
export function isReadOnly(error: unknown): boolean {
  return error instanceof Error && /^READONLY\b/.test(error.message);
}

export class RoleWatch {
  /** Since when the server is known to be a replica (0: it is not). */
  replicaSince = 0;
  /** When the server last turned master again after being a replica (0: never). */
  promotedAt = 0;
  #asking = false;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #listeners: Listeners;

  constructor(readonly client: Redis) {
    this.#listeners = new Listeners(client);
    this.#listeners.on('ready', () => this.check());
    this.#timer = setInterval(() => this.check(), ROLE_CHECK_MS).unref();
  }

  /** Ask the server's role (one question at a time; a server that does not answer changes nothing). */
  check(): void {
    if (this.#asking || this.client.status !== 'ready') return;
    this.#asking = true;
    this.client.call('ROLE').then(
      (reply) => {
        this.#asking = false;
        // A server that does not allow ROLE (an ACL) is taken for what the writes say.
        if (Array.isArray(reply)) this.saw(reply[0] === 'master' ? 'master' : 'replica');
      },
      () => (this.#asking = false),
    );
  }

  saw(role: 'master' | 'replica'): void {
    if (role === 'replica') {
      if (this.replicaSince === 0) this.replicaSince = systemClock.now();
    } else if (this.replicaSince !== 0) {
      this.replicaSince = 0;
      this.promotedAt = systemClock.now();
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#listeners.close();
  }
}
