/** The instance settings that decide how column values are parsed (part of the namespace token's value). */
import type { Sequelize } from 'sequelize';
import { digest } from '../source/util';

/**
 * A digest of the instance settings that decide which JavaScript value a
 * column's content becomes (the connection time zone, the driver's date,
 * number and type-cast options): two instances that differ in them read
 * the same DATETIME as different instants, so neither may serve the
 * other's entries, though both must see the other's invalidations.
 */
export function valueProfile(sequelize: Sequelize): string {
  const options = (sequelize as unknown as { options?: { timezone?: unknown; dialectOptions?: Record<string, unknown> } }).options ?? {};
  const driver = options.dialectOptions ?? {};
  const parsing = ['dateStrings', 'typeCast', 'supportBigNumbers', 'bigNumberStrings', 'decimalNumbers', 'timezone'].map((name) => {
    const value = driver[name];
    return typeof value === 'function' ? String(value) : (value ?? null);
  });
  return digest(JSON.stringify([options.timezone ?? null, parsing])).slice(0, 8);
}
