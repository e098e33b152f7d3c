/**
 * memcached's text protocol replies, read by their declared lengths
 * (protocol.txt: `VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n` … `END`,
 * one status line for storage, delete, touch and arithmetic commands). A
 * value's bytes are taken by count, never by searching for CR LF, so no
 * value can end early and hand its remainder to the next request on the
 * connection, the failure mode of the `memcached` package's line splitter
 * (see docs/reliability.md).
 */
import { isUtf8 } from 'node:buffer';

/** What a request expects back: a values reply ending in END, or one line. */
export type ReplyKind = 'values' | 'line';

/** A complete reply for the request at the head of the connection's queue. */
export type Reply =
  | { type: 'values'; values: Map<string, string>; cas: string | undefined }
  | { type: 'line'; line: string }
  /** CLIENT_ERROR … or SERVER_ERROR …: the request failed, the connection is in step. */
  | { type: 'error'; line: string };

/** A status line longer than this without CR LF is not memcached talking. */
const MAX_LINE = 8 * 1024;
const CRLF = '\r\n';

/**
 * Reads one connection's byte stream into replies. The connection says what
 * its oldest unanswered request expects (`expect`); each complete reply goes
 * to `reply` in order; anything that cannot be a reply to that request goes
 * to `lost`, after which the reader is dead and the connection must be
 * dropped (every request on it fails; a failed read is a miss).
 */
export class ReplyReader {
  #chunks: Buffer[] = [];
  #length = 0;
  /** Unconsumed bytes needed before parsing can go on. */
  #need = 0;
  /** A values reply in progress: the values read so far. */
  #values: Map<string, string> | undefined;
  #cas: string | undefined;
  #dead = false;

  constructor(
    private readonly expect: () => ReplyKind | undefined,
    private readonly reply: (reply: Reply) => void,
    private readonly lost: (why: string) => void,
  ) {}

  /** Bytes received and not yet part of a complete reply (bounded by one value). */
  get buffered(): number {
    return this.#length;
  }

  feed(chunk: Buffer): void {
    if (this.#dead) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    if (this.#length < this.#need) return;
    const buffer = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#length);
    const pos = this.#parse(buffer);
    if (this.#dead) return;
    if (pos >= buffer.length) {
      this.#chunks = [];
      this.#length = 0;
      this.#need = 0;
    } else {
      const rest = buffer.subarray(pos);
      this.#chunks = [rest];
      this.#length = rest.length;
    }
  }

  #die(why: string): number {
    this.#dead = true;
    this.#chunks = [];
    this.#length = 0;
    this.lost(why);
    return 0;
  }

  /** Parse complete replies from `buffer`; the offset of the first byte not consumed. */
  #parse(buffer: Buffer): number {
    let pos = 0;
    while (pos < buffer.length) {
      const kind = this.expect();
      if (kind === undefined) return this.#die('data arrived with no request waiting');
      const eol = buffer.indexOf(CRLF, pos, 'latin1');
      if (eol < 0) {
        if (buffer.length - pos > MAX_LINE) return this.#die('a reply line without CR LF');
        this.#need = buffer.length - pos + 1;
        return pos;
      }
      const line = buffer.toString('latin1', pos, eol);
      // ERROR answers a command name the server does not know: it read
      // something other than what was sent, and later replies may be shifted.
      if (line === 'ERROR') return this.#die('the server did not recognise a command');
      if (kind === 'line') {
        if (line === 'END' || line.startsWith('VALUE ')) return this.#die(`"${line.slice(0, 40)}" in answer to a command that stores, deletes or counts`);
        pos = eol + 2;
        this.reply(errorLine(line) ? { type: 'error', line } : { type: 'line', line });
        continue;
      }
      if (line === 'END') {
        pos = eol + 2;
        const values = this.#values ?? new Map<string, string>();
        const cas = this.#cas;
        this.#values = undefined;
        this.#cas = undefined;
        this.reply({ type: 'values', values, cas });
        continue;
      }
      if (errorLine(line)) {
        pos = eol + 2;
        this.#values = undefined;
        this.#cas = undefined;
        this.reply({ type: 'error', line });
        continue;
      }
      if (!line.startsWith('VALUE ')) return this.#die(`"${line.slice(0, 40)}" in answer to a get`);
      const parts = line.split(' ');
      const bytes = Number(parts[3]);
      if (parts.length < 4 || parts.length > 5 || !Number.isSafeInteger(bytes) || bytes < 0) {
        return this.#die(`a malformed VALUE line "${line.slice(0, 60)}"`);
      }
      const start = eol + 2;
      const end = start + bytes;
      if (end + 2 > buffer.length) {
        // Wait for the whole value; its header is read again then.
        this.#need = end + 2 - pos;
        return pos;
      }
      if (buffer[end] !== 13 || buffer[end + 1] !== 10) return this.#die('a value not followed by CR LF');
      const data = buffer.subarray(start, end);
      // Values are UTF-8 text the codec wrote; other bytes (a foreign
      // writer's) are not ours to decode: the key reads as absent.
      if (isUtf8(data)) {
        (this.#values ??= new Map()).set(parts[1] as string, data.toString('utf8'));
        if (parts[4] !== undefined) this.#cas = parts[4];
      }
      pos = end + 2;
    }
    this.#need = 0;
    return pos;
  }
}

function errorLine(line: string): boolean {
  return line.startsWith('SERVER_ERROR') || line.startsWith('CLIENT_ERROR');
}
