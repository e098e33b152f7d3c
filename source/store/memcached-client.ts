/**
 * The `memcached` package (2.2.2) as the store uses it: protocol-safe keys,
 * its error shapes read as store errors, and its response parser guarded
 * against values that break the text protocol's framing.
 */
import type Memcached from 'memcached';
import { StoreError } from '../errors';
import { sha256 } from '../util';
import { MAX_KEY_BYTES } from './contract';

/** A key the text protocol carries as it is. */
const SAFE_KEY = /^[\x21-\x22\x24-\x7e][\x21-\x7e]*$/;

/**
 * memcached keys are at most 250 bytes of printable ASCII without spaces or
 * control characters; anything else would break the text protocol (a space
 * splits the command, CR/LF ends it). Unsafe or long keys are replaced by a
 * digest. Safe keys never start with `#`, and digests always do, so the two
 * can never collide.
 */
export function memcachedKey(key: string): string {
  if (key.length <= MAX_KEY_BYTES && SAFE_KEY.test(key)) return key;
  return `#${sha256(key)}`;
}

/**
 * memcached 2.2.2 reports errors as an Error, an array of them, or a string;
 * NOT_STORED comes back as an error flagged `notStored`, which for `add` is an
 * ordinary "key exists" answer.
 */
/** The first of the client's errors. */
export function firstError(error: unknown): unknown {
  return Array.isArray(error) ? error[0] : error;
}

export function isNotStored(error: unknown): boolean {
  const first = firstError(error);
  return typeof first === 'object' && first !== null && (first as { notStored?: boolean }).notStored === true;
}

export function toStoreError(error: unknown, operation: string, server: string): StoreError {
  const first = firstError(error);
  if (first instanceof StoreError) return first;
  const message = first instanceof Error ? first.message : String(first);
  const code = /connect|ECONN|EPIPE|readyState|not available|closed/i.test(message) ? 'ECONNECTION' : 'ESERVER';
  return new StoreError(code, operation, message, server, { cause: first });
}

/** The parts of a connection of the `memcached` client that its response parser uses. */
interface ClientStream {
  bufferArray: string[];
  responseBuffer: string;
  metaData: { callback?: (...args: unknown[]) => void }[];
  destroy(): void;
}

/** The client's parser methods the guard wraps. */
type ParsingClient = {
  rawDataReceived(stream: ClientStream): unknown;
  delegateCallback(meta: unknown, error: unknown, result: unknown, callback: (...args: unknown[]) => void): void;
};

/**
 * Whether a connection's buffered response lines have lost their framing: a
 * VALUE whose data line is not the declared number of bytes. memcached 2.2.2
 * splits responses on CR LF instead of reading the declared length, so a
 * value holding CR LF (never one of ours: they are refused on write; only a
 * foreign writer's) turns its remainder into "responses" that are handed to
 * the next requests on the connection: an earlier answer for the same key
 * could then be taken for a current one. Invalid UTF-8 shows up the same way
 * (the client decodes as UTF-8).
 */
function unframed(lines: readonly string[]): boolean {
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!line.startsWith('VALUE ')) continue;
    const data = lines[i + 1];
    if (data === undefined) return false;
    if (Buffer.byteLength(data) !== Number(line.split(' ')[3])) return true;
    i++;
  }
  return false;
}

/**
 * Check every batch of response lines before the client parses it, and after:
 * a connection whose framing is lost (see {@link unframed}), or whose parser
 * stopped at a line it does not know (every later answer would wait behind
 * it, or be shifted), is closed and each of its pending requests fails. A
 * failed read is a miss and a failed write is replayed, so a confused
 * connection costs misses, never a wrong answer.
 */
export function guardResponseStream(client: Memcached, address: string): void {
  const parsing = client as unknown as ParsingClient;
  const parse = parsing.rawDataReceived.bind(client);
  const drop = (stream: ClientStream) => {
    const pending = stream.metaData.splice(0);
    stream.bufferArray = [];
    stream.responseBuffer = '';
    stream.destroy();
    const error = new Error(`memcached ${address}: response stream lost its framing (a value with CR/LF or invalid UTF-8); connection closed`);
    for (const meta of pending) if (meta.callback) parsing.delegateCallback(meta, error, false, meta.callback);
  };
  parsing.rawDataReceived = (stream: ClientStream) => {
    if (unframed(stream.bufferArray)) return drop(stream);
    parse(stream);
    const head = stream.bufferArray[0];
    // Normally only a VALUE waiting for its END stays buffered.
    if (head !== undefined && head !== '' && !head.startsWith('VALUE ')) drop(stream);
  };
}
