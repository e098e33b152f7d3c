/**
 * The value format of row entries and tombstones. The plugin owns it (rather
 * than the memcached client's flags) so that values are plain JSON text: no raw
 * CR/LF ever reaches the protocol, Buffers are not inflated, and every type
 * comes back as what the driver returned.
 *
 * A row entry is `["r", [tokens…], v1, v2, …]` with one value per stored
 * attribute of the schema, in schema order. Per value:
 * - `date` attributes: a valid Date is its epoch milliseconds (a DATE column
 *   never yields a bare number, so a number decodes to a Date);
 * - `json` attributes: the value as is;
 * - other attributes: strings, finite numbers, booleans and null as is; the
 *   only objects are tags, `{"b": base64}` for a Buffer, `{"n": "…"}` for a
 *   bigint and `{"f": "NaN"}` for a non-finite number.
 * A tombstone is `["x", random]`: a write replaced the row; fills must `cas`
 * against it. `["n", [tokens…]]` records that no such row exists.
 */
import type { ModelSchema } from './model-schema';

/** A decoded entry. */
export type Entry =
  | { type: 'row'; tokens: string[]; values: Record<string, unknown> }
  | { type: 'absent'; tokens: string[] }
  | { type: 'tombstone'; generation: number | undefined };

/** Returned by the encoder for values it cannot represent faithfully. */
const UNENCODABLE = Symbol('unencodable');

function encodePlain(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : { f: String(value) };
  if (typeof value === 'bigint') return { n: value.toString() };
  if (Buffer.isBuffer(value)) return { b: value.toString('base64') };
  return UNENCODABLE;
}

function decodePlain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  const tag = value as { b?: unknown; n?: unknown; f?: unknown };
  if (typeof tag.b === 'string') return Buffer.from(tag.b, 'base64');
  if (typeof tag.n === 'string') return BigInt(tag.n);
  if (typeof tag.f === 'string') return Number(tag.f);
  throw new TypeError('unknown tag');
}

/** One plain value (a primary key, say) in the entry format; `undefined` when unencodable. */
export function encodeValue(value: unknown): unknown {
  const encoded = encodePlain(value);
  return encoded === UNENCODABLE ? undefined : encoded;
}

/** The inverse of {@link encodeValue}; throws on a malformed tag. */
export function decodeValue(value: unknown): unknown {
  return decodePlain(value);
}

/**
 * Encode a full row (keyed by attribute name). `undefined` when any value is
 * missing or unencodable: such rows are simply not cached.
 */
export function encodeRow(schema: ModelSchema, row: Record<string, unknown>, tokens: readonly string[]): string | undefined {
  const out: unknown[] = ['r', tokens];
  for (const attribute of schema.attributes) {
    if (!Object.prototype.hasOwnProperty.call(row, attribute.name)) return undefined;
    const value = row[attribute.name];
    let encoded: unknown;
    if (value === null) encoded = null;
    else if (attribute.kind === 'date' && value instanceof Date) {
      const ms = value.getTime();
      if (Number.isNaN(ms)) return undefined;
      encoded = ms;
    } else if (attribute.kind === 'date' && typeof value === 'string') encoded = value;
    else if (attribute.kind === 'json') {
      if (value === undefined || typeof value === 'bigint' || typeof value === 'function') return undefined;
      encoded = value;
    } else encoded = encodePlain(value);
    if (encoded === UNENCODABLE || encoded === undefined) return undefined;
    out.push(encoded);
  }
  try {
    return JSON.stringify(out);
  } catch {
    return undefined;
  }
}

/** "No such row", valid while `tokens` (which every insert rotates) are current. */
export function encodeAbsence(tokens: readonly string[]): string {
  return JSON.stringify(['n', tokens]);
}

/**
 * A tombstone value; `marker` makes each one distinct for `cas`.
 * `generation` is the write's number in its model's write mark (see
 * source/tokens/write-marks.ts), when it has one.
 */
export function encodeTombstone(marker: string, generation?: number): string {
  return JSON.stringify(generation === undefined ? ['x', marker] : ['x', marker, generation]);
}

/**
 * Decode an entry. Anything malformed (garbage bytes, another program's value,
 * an entry of a different shape) decodes to `undefined`, which callers treat
 * as a miss and overwrite.
 */
export function decodeEntry(schema: ModelSchema, text: string | undefined): Entry | undefined {
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  if (parsed[0] === 'x' && parsed.length === 2) return { type: 'tombstone', generation: undefined };
  if (parsed[0] === 'x' && parsed.length === 3 && Number.isSafeInteger(parsed[2])) return { type: 'tombstone', generation: parsed[2] as number };
  if (parsed[0] === 'n' && parsed.length === 2 && Array.isArray(parsed[1]) && parsed[1].every((t) => typeof t === 'string')) {
    return { type: 'absent', tokens: parsed[1] as string[] };
  }
  if (parsed[0] !== 'r' || parsed.length !== schema.attributes.length + 2) return undefined;
  const tokens = parsed[1];
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string')) return undefined;
  const values: Record<string, unknown> = {};
  try {
    schema.attributes.forEach((attribute, i) => {
      const value: unknown = parsed[i + 2];
      if (value === null) values[attribute.name] = null;
      else if (attribute.kind === 'date') values[attribute.name] = typeof value === 'number' ? new Date(value) : value;
      else if (attribute.kind === 'json') values[attribute.name] = value;
      else values[attribute.name] = decodePlain(value);
    });
  } catch {
    return undefined;
  }
  return { type: 'row', tokens: tokens as string[], values };
}

/**
 * Whole values (rows of joins, aggregates, counts) have no schema to type
 * them, so every non-primitive is tagged: `{"d": ms}` Date, `{"b": base64}`
 * Buffer, `{"n": "…"}` bigint, `{"f": "NaN"}` non-finite number, `{"a": […]}`
 * array, `{"o": …}` plain object. A primitive is itself. `undefined` when
 * something cannot be represented (a class instance, an invalid Date).
 */
export function encodeAny(value: unknown): string | undefined {
  try {
    return JSON.stringify(tagAny(value));
  } catch {
    return undefined;
  }
}

function tagAny(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : { f: String(value) };
  if (typeof value === 'bigint') return { n: value.toString() };
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError('invalid date');
    return { d: value.getTime() };
  }
  if (Buffer.isBuffer(value)) return { b: value.toString('base64') };
  if (Array.isArray(value)) return { a: value.map(tagAny) };
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new TypeError('not a plain object');
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = tagAny(v);
    return { o: out };
  }
  throw new TypeError(`cannot encode ${typeof value}`);
}

/** The inverse of {@link encodeAny}; `undefined` for malformed text. */
export function decodeAny(text: string): { value: unknown } | undefined {
  try {
    return { value: untagAny(JSON.parse(text)) };
  } catch {
    return undefined;
  }
}

/** {@link decodeAny} on already-parsed JSON; throws on a malformed tag. */
export function untagAny(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  const tag = value as { d?: unknown; b?: unknown; n?: unknown; f?: unknown; a?: unknown; o?: unknown };
  if (typeof tag.d === 'number') return new Date(tag.d);
  if (typeof tag.b === 'string') return Buffer.from(tag.b, 'base64');
  if (typeof tag.n === 'string') return BigInt(tag.n);
  if (typeof tag.f === 'string') return Number(tag.f);
  if (Array.isArray(tag.a)) return tag.a.map(untagAny);
  if (tag.o && typeof tag.o === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(tag.o as Record<string, unknown>)) out[k] = untagAny(v);
    return out;
  }
  throw new TypeError('unknown tag');
}
