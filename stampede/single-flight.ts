/**
 * In-process single-flight for cold keys: concurrent identical reads that
 * miss in one process share one lock attempt and one database read.
 *
 * A flight stays open for joiners only until it has read nothing yet: the
 * leader waits one turn of the event loop (setImmediate) before taking the
 * lock, the tokens and the database read, so every read it shares began after
 * every joiner began, and a joiner can never receive data from before a write
 * that had returned when it started (DESIGN.md invariant 1). The cost is that
 * one turn, on misses only.
 *
 * What is shared is the read's raw material, encoded once; each joiner
 * decodes its own copy and builds its own instances, so mutating one caller's
 * result never changes another's.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { decodeAny, encodeAny } from '../source/codec';

/** A flight's outcome: the read's encoded material, or "look again yourself". */
export type FlightResult = { material: string } | 'retry';

export interface OpenFlight {
  /** Resolves once joiners can no longer join; the leader reads only after it. */
  sealed: Promise<void>;
  /** Hand the read (or 'retry') to the joiners. Idempotent. */
  settle(result: unknown | 'retry'): void;
}

export class SingleFlight {
  readonly #open = new Map<string, Promise<FlightResult>>();

  /** The open flight for `key`, if one is still joinable. */
  join(key: string): Promise<FlightResult> | undefined {
    return this.#open.get(key);
  }

  /** Open a flight for `key` (the caller becomes its leader). */
  open(key: string): OpenFlight {
    let resolve!: (result: FlightResult) => void;
    const promise = new Promise<FlightResult>((r) => (resolve = r));
    this.#open.set(key, promise);
    let settled = false;
    return {
      sealed: nextTurn().then(() => {
        if (this.#open.get(key) === promise) this.#open.delete(key);
      }),
      settle: (result) => {
        if (settled) return;
        settled = true;
        if (result === 'retry') return resolve('retry');
        const material = encodeAny(result);
        resolve(material === undefined ? 'retry' : { material });
      },
    };
  }

  /** A joiner's own copy of the shared material. */
  static copy(result: FlightResult): { value: unknown } | undefined {
    return result === 'retry' ? undefined : decodeAny(result.material);
  }
}
