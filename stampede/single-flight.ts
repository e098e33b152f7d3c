/**
 * In-process single-flight: concurrent identical reads in one process share
 * one cache lookup, one lock attempt and at most one database read, hits and
 * misses alike. A hot key read by hundreds of requests at once then costs the
 * store a handful of operations instead of hundreds (which would queue behind
 * each other in the client, pass their deadlines and open the breaker).
 *
 * Per key, at most one flight runs and at most one boards. A read that finds
 * no flight starts one at once (no delay on an idle key); a read that finds a
 * flight running boards the next one, which starts when the running one lands.
 * A flight takes no passengers once it has started, so every read it shares
 * began after every passenger began, and a passenger can never receive data
 * from before a write that had returned when it started (docs/architecture.md,
 * invariant 1). The price is latency under contention: a passenger waits for
 * the running flight and then its own, about two lookups.
 *
 * What is shared is the answer's raw material, encoded once; each passenger
 * decodes its own copy and builds its own instances, so mutating one
 * caller's result never changes another's.
 */
import { decodeAny, encodeAny } from '../source/codec';
import type { ReadCounter } from '../source/metrics/snapshot';

/** A flight's outcome: the encoded material and the counters it earned, or "read yourself". */
export type FlightResult = { material: string; counters: readonly ReadCounter[] } | 'retry';

/** The first reader of a flight: it reads for everyone aboard. */
export interface Leader {
  role: 'leader';
  /** Resolves when the flight may start (the previous flight of the key has landed). */
  ready: Promise<void>;
  /** Hand the material (and the per-read counters it earned) to the passengers. Idempotent. */
  share(material: unknown, counters: readonly ReadCounter[]): void;
  /** The flight is over: passengers not yet served read themselves; the next flight may start. */
  land(): void;
}

/** A read aboard someone else's flight. */
export interface Passenger {
  role: 'passenger';
  result: Promise<FlightResult>;
}

interface Flight {
  passengers: number;
  result: Promise<FlightResult>;
  resolve(result: FlightResult): void;
  start(): void;
  ready: Promise<void>;
}

interface Slot {
  boarding?: Flight;
}

function flight(): Flight {
  let resolve!: (result: FlightResult) => void;
  let start!: () => void;
  const result = new Promise<FlightResult>((r) => (resolve = r));
  const ready = new Promise<void>((r) => (start = r));
  return { passengers: 0, result, resolve, start, ready };
}

export class SingleFlight {
  /** Keys with a running flight, and the flight boarding behind it, if any. */
  readonly #slots = new Map<string, Slot>();

  /** Lead a new flight for `key`, or board the one waiting to start. */
  board(key: string): Leader | Passenger {
    const slot = this.#slots.get(key);
    if (slot?.boarding) {
      slot.boarding.passengers += 1;
      return { role: 'passenger', result: slot.boarding.result };
    }
    const next = flight();
    if (slot) slot.boarding = next;
    else {
      this.#slots.set(key, {});
      next.start();
    }
    let shared = false;
    let landed = false;
    return {
      role: 'leader',
      ready: next.ready,
      share: (material, counters) => {
        if (shared) return;
        shared = true;
        // Nobody boards a started flight: with no passengers, skip the encoding.
        if (next.passengers === 0) return next.resolve('retry');
        const encoded = encodeAny(material);
        next.resolve(encoded === undefined ? 'retry' : { material: encoded, counters: [...counters] });
      },
      land: () => {
        if (landed) return;
        landed = true;
        if (!shared) {
          shared = true;
          next.resolve('retry');
        }
        const current = this.#slots.get(key);
        const waiting = current?.boarding;
        if (!current || !waiting) {
          this.#slots.delete(key);
          return;
        }
        // The boarding flight starts now and stops taking passengers.
        current.boarding = undefined;
        waiting.start();
      },
    };
  }

  /** A passenger's own copy of the shared material. */
  static copy(result: FlightResult): { value: unknown } | undefined {
    return result === 'retry' ? undefined : decodeAny(result.material);
  }
}
