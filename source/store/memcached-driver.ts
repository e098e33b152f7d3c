/**
 * What MemcachedStore needs of a memcached client, per server: the handful
 * of text-protocol commands, callback style (no promise per command on the
 * hot path). Two implementations: the store's own client (text-client.ts,
 * the default) and the `memcached` package (memcached-client.ts). Keys are
 * already protocol-safe and TTLs already in protocol form when they get here.
 */
import type { CasValue } from './contract';

/** Called once with the command's outcome; `error` set means it failed. */
export type Done<T> = (error: unknown, result?: T) => void;

/**
 * What a client that writes commands later (one write per tick) returns for
 * each: when it was written, monotonic ms, NaN until then. The deadline runs
 * from there. A client that writes at once returns nothing.
 */
export interface Sent {
  readonly sentAt: number;
}

export interface MemcachedDriver {
  /** The values of the keys present, by key (one multi-get). */
  get(keys: readonly string[], done: Done<Map<string, string>>): Sent | void;
  /** One key's value with its CAS token. */
  gets(key: string, done: Done<CasValue | undefined>): Sent | void;
  /** `set`, `add` or `cas`: whether the value was stored. */
  store(command: 'set' | 'add' | 'cas', key: string, value: string, ttl: number, cas: string | undefined, done: Done<boolean>): Sent | void;
  /** Whether the key existed. */
  delete(key: string, done: Done<boolean>): Sent | void;
  /** `incr` (delta ≥ 0) or `decr`: the new value, or `undefined` when the key is absent. */
  counter(key: string, delta: number, done: Done<number | undefined>): Sent | void;
  /** Reset a key's TTL; whether it existed. */
  touch(key: string, ttl: number, done: Done<boolean>): Sent | void;
  /** Close the connections. */
  end(): void;
}

/** Settings both drivers take from MemcachedStore's options. */
export interface DriverSettings {
  connectTimeoutMs: number;
  poolSize: number;
}
