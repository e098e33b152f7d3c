/**
 * Write marks: one memcached counter per model (`…:w`, see keys.ts) that
 * tells readers whether a write of the model is between its first and last
 * invalidation, and numbers the writes. Both live in one counter so that one
 * read sees them together (two keys could sit on two servers of a ring and
 * be read in either order):
 *
 *   value = writes begun × MARK_UNIT + writes in flight
 *
 * A write adds MARK_UNIT + 1 when it begins (the counter's new value gives
 * its number, its generation) and subtracts 1 when it ends. A reader that
 * sees no write in flight, and generation g, knows that every write numbered
 * g or less had made its last invalidation, and so had committed, before
 * that read: the tombstone such a write left may be replaced by a row read
 * from the database after it (hooks/read-path.ts warms rows that way).
 */

/** Writes in flight one counter can hold (more would carry into the count of writes begun). */
export const MARK_UNIT = 65_536;

/** What a write adds when it begins; it subtracts 1 when it ends. */
export const MARK_BEGIN = MARK_UNIT + 1;

/** What one counter value says. */
export interface MarkReading {
  /** Writes between their first and last invalidation. */
  inFlight: number;
  /** How many writes have begun (the generation of the last one). */
  generation: number;
}

/** Read a counter value (absent reads as 0). */
export function readMark(value: number): MarkReading {
  return { inFlight: value % MARK_UNIT, generation: Math.floor(value / MARK_UNIT) };
}
