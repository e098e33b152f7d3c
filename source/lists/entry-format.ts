/**
 * The wire format of list-like entries (docs/architecture.md, Keys and
 * entries): pointer lists `["l", [tokens…], [softExpiresAt, queryMs], pk…]`,
 * whole values `["v", [tokens…], [softExpiresAt, queryMs], value]`, and the
 * head `["c", [tokens…], id, n]` of an entry split over chunk keys.
 */
import { decodeValue, encodeAny, encodeValue, untagAny } from '../codec';

/** Primary key values of one row, in primary key order. */
export type PkValues = unknown[];

/** When an entry goes soft-stale, and how long its query took (for early refresh). */
export interface SoftExpiry {
  /** Epoch ms after which one reader refreshes it while others get it stale. */
  softExpiresAt: number;
  /** How long the query that built it took, in ms. */
  delta: number;
}

/** A decoded entry: the tokens it was built under, its soft expiry, and its pointers or whole value. */
export interface DecodedEntry {
  tokens: string[];
  soft: SoftExpiry;
  pks?: PkValues[];
  whole?: { value: unknown };
}

/** Most chunks one entry may take (about 20 MB with memcached's default item size). */
export const MAX_CHUNKS = 64;

/** The head of a chunked entry: `["c", [tokens…], id, count]`. */
export function chunkHead(text: string | undefined): { tokens: string[]; id: string; count: number } | undefined {
  if (text === undefined || !text.startsWith('["c",')) return undefined;
  try {
    const [, tokens, id, count] = JSON.parse(text) as [string, unknown, unknown, unknown];
    if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string')) return undefined;
    if (typeof id !== 'string' || typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_CHUNKS) {
      return undefined;
    }
    return { tokens: tokens as string[], id, count };
  } catch {
    return undefined;
  }
}

/**
 * `["l", [tokens…], [softExpiresAt, delta], pk…]`, each pk an encoded value
 * or, for composite keys, an array of them.
 */
export function encodeList(tokens: readonly string[], soft: SoftExpiry, pks: readonly PkValues[], width: number): string | undefined {
  const out: unknown[] = ['l', tokens, [soft.softExpiresAt, soft.delta]];
  for (const pk of pks) {
    const encoded = pk.map(encodeValue);
    if (encoded.some((v) => v === undefined)) return undefined;
    out.push(width === 1 ? encoded[0] : encoded);
  }
  return JSON.stringify(out);
}

function decodeSoft(meta: unknown): SoftExpiry {
  if (!Array.isArray(meta) || typeof meta[0] !== 'number' || typeof meta[1] !== 'number') throw new TypeError('bad meta');
  return { softExpiresAt: meta[0], delta: meta[1] };
}

/** A list or whole-value entry's text, decoded; undefined for anything else (a miss). */
export function decodeQueryEntry(text: string | undefined, width: number): DecodedEntry | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown[];
    if (!Array.isArray(parsed) || !Array.isArray(parsed[1])) return undefined;
    const tokens = parsed[1] as unknown[];
    if (!tokens.every((t) => typeof t === 'string')) return undefined;
    const soft = decodeSoft(parsed[2]);
    if (parsed[0] === 'v' && parsed.length === 4) {
      return { tokens: tokens as string[], soft, whole: { value: untagAny(parsed[3]) } };
    }
    if (parsed[0] !== 'l') return undefined;
    const pks = parsed.slice(3).map((pk) => {
      const parts = width === 1 ? [pk] : (pk as unknown[]);
      if (!Array.isArray(parts) || parts.length !== width) throw new TypeError('bad pk');
      return parts.map(decodeValue);
    });
    return { tokens: tokens as string[], soft, pks };
  } catch {
    return undefined;
  }
}

/** `["v", [tokens…], [softExpiresAt, delta], value]`; undefined when the value cannot be encoded. */
export function encodeWhole(tokens: readonly string[], soft: SoftExpiry, value: unknown): string | undefined {
  const encoded = encodeAny(value);
  if (encoded === undefined) return undefined;
  return `["v",${JSON.stringify(tokens)},${JSON.stringify([soft.softExpiresAt, soft.delta])},${encoded}]`;
}

/** The head naming an entry's chunks. */
export function encodeChunkHead(tokens: readonly string[], id: string, count: number): string {
  return JSON.stringify(['c', tokens, id, count]);
}

/**
 * Split an entry's text into pieces that each fit in `maxBytes` of UTF-8
 * (surrogate pairs kept whole); undefined when it would take more than
 * {@link MAX_CHUNKS}.
 */
export function splitChunks(text: string, maxBytes: number): string[] | undefined {
  // A UTF-16 unit is at most 3 bytes of UTF-8, so this many units always fit.
  const size = Math.floor((maxBytes - 64) / 3);
  const chunks: string[] = [];
  for (let i = 0; i < text.length; ) {
    let end = Math.min(i + size, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    chunks.push(text.slice(i, end));
    i = end;
  }
  return chunks.length > MAX_CHUNKS ? undefined : chunks;
}

/** The key of chunk `i` of an entry. */
export const chunkKey = (key: string, id: string, i: number): string => `${key}:${id}:${i}`;
