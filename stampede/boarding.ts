/**
 * Boarding: how one read joins the in-process single-flight of its key
 * (stampede/single-flight.ts). The first read of a key leads the flight and
 * runs its cycle; reads of the same key that arrive meanwhile board the next
 * flight and build their answers from copies of what it shares; a passenger
 * whose flight shared nothing runs its own cycle.
 */
import type { ReadMeter } from '../source/metrics/metrics';
import type { ReadCounter } from '../source/metrics/snapshot';
import { SingleFlight } from './single-flight';

/**
 * How a cycle reports to its flight: each per-read counter it adds, and the
 * material as soon as it has it (before storing it: passengers need not wait
 * for the store).
 */
export type Report = (counter: ReadCounter | undefined, material?: { value: unknown }) => void;

/** The end of one cycle: material to build from (and share), or a finished answer (not shareable). */
export type Outcome<M> = { material: M } | { answer: unknown };

/** Count a per-read metric here and report it to the read's flight. */
export function counter(meter: ReadMeter, report: Report): (name: ReadCounter) => void {
  return (name) => {
    meter.count(name);
    report(name);
  };
}

/** The flight registry and whether reads share flights at all. */
export interface Boarding {
  readonly flights: SingleFlight;
  /** False without stampede protection or for `cache: { refresh: true }`: every read runs its own cycle. */
  readonly shared: boolean;
}

/** Reads share flights only with stampede protection on, and never for `cache: { refresh: true }`. */
export function boardingFor(flights: SingleFlight, stampedeProtection: boolean, refresh: boolean): Boarding {
  return { flights, shared: stampedeProtection && !refresh };
}

/**
 * Run `own` as the leader of a flight for `key`, or board the flight waiting
 * to start and build the answer from a copy of its material; a passenger
 * whose flight shared nothing runs `own` alone.
 */
export async function aboard<M>(
  boarding: Boarding,
  meter: ReadMeter,
  key: string,
  own: (report: Report) => Promise<Outcome<M>>,
  build: (material: M) => unknown,
): Promise<unknown> {
  const answer = (outcome: Outcome<M>) => ('material' in outcome ? build(outcome.material) : outcome.answer);
  if (!boarding.shared) return answer(await own(() => undefined));
  const seat = boarding.flights.board(key);
  if (seat.role === 'passenger') {
    const result = await seat.result;
    const copy = SingleFlight.copy(result);
    if (result === 'retry' || !copy) return answer(await own(() => undefined));
    meter.count('coalesced');
    for (const name of result.counters) meter.count(name);
    return build(copy.value as M);
  }
  await seat.ready;
  try {
    const counters: ReadCounter[] = [];
    return answer(
      await own((name, material) => {
        if (name) counters.push(name);
        if (material) seat.share(material.value, counters);
      }),
    );
  } finally {
    seat.land();
  }
}
