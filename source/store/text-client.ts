/**
 * The store's own memcached client: the text protocol on one pipelined
 * connection per server. Every command of one tick goes out in one socket
 * write (the writes of an invalidation, the multi-gets of concurrent reads);
 * replies are matched to requests in order and read by their declared
 * lengths (text-replies.ts). The `memcached` package scans its whole
 * response buffer for line breaks on every data event, which is where the
 * CPU of a list hit went (docs/benchmarks.md, the drivers table).
 *
 * One connection, not a pool: memcached applies one connection's commands in
 * the order they arrive, so everything this process sends a server is
 * applied in the order it was sent (a pool would let a later read overtake
 * an earlier write on another connection). The write path counts on it to
 * lower a write mark without waiting (source/tokens/write-marks.ts).
 */
import { connect, type Socket } from 'node:net';
import { monotonic } from '../clock';
import type { CasValue } from './contract';
import type { Done, DriverSettings, MemcachedDriver, Sent } from './memcached-driver';
import { type Reply, type ReplyKind, ReplyReader } from './text-replies';

interface Request extends Sent {
  readonly kind: ReplyKind;
  /** When it was queued (monotonic ms). */
  readonly at: number;
  /** When it was written (monotonic ms), NaN until then. */
  sentAt: number;
  answer(reply: Reply | Error): void;
}

/**
 * A connection whose oldest request has waited this many times the connect
 * timeout with no byte received since it was written is dropped: the peer is
 * gone without a reset (a host that vanished), and every request on it fails.
 * A server that is only slow keeps sending bytes.
 */
const STALL_FACTOR = 2;

class TextConnection {
  #socket: Socket | undefined;
  /** Requests sent (or about to be), oldest first, from `#head` on. */
  #queue: Request[] = [];
  #head = 0;
  /** Requests from this index on are queued but not written yet. */
  #unsent = 0;
  #out: string[] = [];
  #lastData = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly address: string,
    private readonly settings: DriverSettings,
  ) {}

  /** Queue `command`; it goes out with the rest of the tick's at `flush()`. */
  enqueue(command: string, request: Request): void {
    const oldest = this.#queue[this.#head];
    const since = oldest?.sentAt ?? NaN;
    if (request.at - since > this.settings.connectTimeoutMs * STALL_FACTOR && this.#lastData < since) {
      this.#drop(`no answer for ${Math.round(request.at - since)} ms`);
    }
    if (!this.#socket) this.#open();
    this.#queue.push(request);
    this.#out.push(command);
  }

  flush(): void {
    if (this.#out.length === 0 || !this.#socket) return;
    const text = this.#out.length === 1 ? (this.#out[0] as string) : this.#out.join('');
    this.#out = [];
    const now = monotonic();
    for (let i = this.#unsent; i < this.#queue.length; i++) (this.#queue[i] as Request).sentAt = now;
    this.#unsent = this.#queue.length;
    this.#socket.write(text, 'utf8');
  }

  end(): void {
    this.#drop('the store was closed');
  }

  /** A reply that does not fit its command: later replies may be shifted, so drop the connection. */
  lose(why: string): void {
    this.#drop(why);
  }

  #open(): void {
    const socket = connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    socket.setTimeout(this.settings.connectTimeoutMs, () => socket.destroy(new Error(`connect timeout after ${this.settings.connectTimeoutMs} ms`)));
    socket.once('connect', () => socket.setTimeout(0));
    const reader = new ReplyReader(
      () => this.#queue[this.#head]?.kind,
      (reply) => this.#answer(reply),
      (why) => this.#drop(`the reply stream lost its framing: ${why}`),
    );
    socket.on('data', (chunk: Buffer) => {
      this.#lastData = monotonic();
      reader.feed(chunk);
    });
    let failure: Error | undefined;
    socket.on('error', (error) => (failure = error));
    socket.once('close', () => {
      if (this.#socket === socket) this.#drop(failure ? `connection closed: ${failure.message}` : 'connection closed by the server');
    });
    this.#socket = socket;
  }

  #answer(reply: Reply): void {
    const request = this.#queue[this.#head];
    if (!request) return;
    this.#queue[this.#head++] = undefined as unknown as Request;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#unsent -= this.#head;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#unsent -= this.#head;
      this.#head = 0;
    }
    request.answer(reply);
  }

  /** Close the socket and fail every request on it; the next command reconnects. */
  #drop(why: string): void {
    const socket = this.#socket;
    const failed = this.#queue.slice(this.#head);
    this.#socket = undefined;
    this.#queue = [];
    this.#head = 0;
    this.#unsent = 0;
    this.#out = [];
    socket?.destroy();
    const error = new Error(`memcached ${this.address}: ${why}`);
    for (const request of failed) request.answer(error);
  }
}

/** The store's own client for one memcached server. */
export class TextClient implements MemcachedDriver {
  readonly #connection: TextConnection;
  /** Whether this tick's commands wait for a flush already scheduled. */
  #scheduled = false;
  /**
   * Flush one tick hop later than the first command: the read batches of the
   * same tick (read-batches.ts) are sent from a `process.nextTick` scheduled
   * before ours ran, and join this write instead of making their own.
   */
  readonly #flushSoon = () => process.nextTick(this.#flush);
  readonly #flush = () => {
    this.#scheduled = false;
    this.#connection.flush();
  };

  constructor(address: string, settings: DriverSettings) {
    const colon = address.lastIndexOf(':');
    this.#connection = new TextConnection(address.slice(0, colon), Number(address.slice(colon + 1)), address, settings);
  }

  get(keys: readonly string[], done: Done<Map<string, string>>): Sent {
    return this.#send(`get ${keys.join(' ')}\r\n`, 'values', (reply) => {
      if (!(reply instanceof Error) && reply.type === 'values') done(undefined, reply.values);
      else done(failure(reply));
    });
  }

  gets(key: string, done: Done<CasValue | undefined>): Sent {
    return this.#send(`gets ${key}\r\n`, 'values', (reply) => {
      if (reply instanceof Error || reply.type !== 'values') return done(failure(reply));
      const value = reply.values.get(key);
      done(undefined, value !== undefined && reply.cas !== undefined ? { value, cas: reply.cas } : undefined);
    });
  }

  store(command: 'set' | 'add' | 'cas', key: string, value: string, ttl: number, cas: string | undefined, done: Done<boolean>): Sent {
    const header = `${command} ${key} 0 ${ttl} ${Buffer.byteLength(value)}${cas === undefined ? '' : ` ${cas}`}\r\n`;
    return this.#send(`${header}${value}\r\n`, 'line', (reply) => {
      if (reply instanceof Error || reply.type !== 'line') return done(failure(reply));
      if (reply.line === 'STORED') done(undefined, true);
      else if (reply.line === 'NOT_STORED' || reply.line === 'EXISTS' || reply.line === 'NOT_FOUND') done(undefined, false);
      else this.#unexpected(reply.line, done);
    });
  }

  delete(key: string, done: Done<boolean>): Sent {
    return this.#send(`delete ${key}\r\n`, 'line', (reply) => {
      if (reply instanceof Error || reply.type !== 'line') return done(failure(reply));
      if (reply.line === 'DELETED' || reply.line === 'NOT_FOUND') done(undefined, reply.line === 'DELETED');
      else this.#unexpected(reply.line, done);
    });
  }

  counter(key: string, delta: number, done: Done<number | undefined>): Sent {
    return this.#send(`${delta >= 0 ? 'incr' : 'decr'} ${key} ${Math.abs(delta)}\r\n`, 'line', (reply) => {
      if (reply instanceof Error || reply.type !== 'line') return done(failure(reply));
      if (reply.line === 'NOT_FOUND') done(undefined, undefined);
      else if (/^\d+$/.test(reply.line)) done(undefined, Number(reply.line));
      else this.#unexpected(reply.line, done);
    });
  }

  touch(key: string, ttl: number, done: Done<boolean>): Sent {
    return this.#send(`touch ${key} ${ttl}\r\n`, 'line', (reply) => {
      if (reply instanceof Error || reply.type !== 'line') return done(failure(reply));
      if (reply.line === 'TOUCHED' || reply.line === 'NOT_FOUND') done(undefined, reply.line === 'TOUCHED');
      else this.#unexpected(reply.line, done);
    });
  }

  end(): void {
    this.#connection.end();
  }

  /** Fail the command with a reply it cannot have, and the connection with it. */
  #unexpected(line: string, done: Done<never>): void {
    const why = `unexpected reply "${line.slice(0, 40)}"`;
    done(new Error(why));
    this.#connection.lose(why);
  }

  #send(command: string, kind: ReplyKind, answer: (reply: Reply | Error) => void): Sent {
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(this.#flushSoon);
    }
    const request: Request = { kind, at: monotonic(), sentAt: NaN, answer };
    this.#connection.enqueue(command, request);
    return request;
  }
}

/** A reply that is not the command's success: the error to fail it with. */
function failure(reply: Reply | Error): Error {
  if (reply instanceof Error) return reply;
  return new Error(reply.type === 'error' ? reply.line : `unexpected reply ${reply.type}`);
}


