/**
 * A few memcached text-protocol commands on a raw socket, for the soak's
 * fault injectors: list a server's keys (`lru_crawler metadump`), overwrite
 * one with arbitrary bytes, fill the server with junk. A raw socket, because
 * the injector must send what no well-behaved client would (binary bytes,
 * CR/LF inside values).
 */
import { connect, type Socket } from 'node:net';

export class Wire {
  readonly #socket: Socket;
  #buffer = Buffer.alloc(0);
  #waiting: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#waiting?.();
    });
    socket.on('error', () => undefined);
  }

  static open(address: string): Promise<Wire> {
    const [host, port] = address.split(':');
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port: Number(port) }, () => resolve(new Wire(socket)));
      socket.once('error', reject);
    });
  }

  /** Send a command and read until the response ends with one of `endings`. */
  async #call(command: Buffer, endings: string[], timeoutMs = 2000): Promise<string> {
    this.#buffer = Buffer.alloc(0);
    this.#socket.write(command);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.#buffer.toString('latin1');
      if (endings.some((end) => text.endsWith(end))) return text;
      if (Date.now() > deadline) throw new Error(`memcached did not answer ${command.subarray(0, 40).toString('latin1')}`);
      await new Promise<void>((resolve) => {
        this.#waiting = resolve;
        setTimeout(resolve, 50).unref();
      });
    }
  }

  /** Every key on the server. */
  async keys(): Promise<string[]> {
    // A dump walks every item on the server; a shared test server holds tens
    // of thousands, which take seconds to list on a loaded machine.
    const text = await this.#call(Buffer.from('lru_crawler metadump all\r\n'), ['END\r\n', 'BUSY currently processing crawler request\r\n'], 30_000);
    const keys: string[] = [];
    // metadump ends its lines with a bare LF, and the whole with END CR LF.
    for (const line of text.split(/\r?\n/)) {
      const match = /^key=(\S+)/.exec(line);
      if (match) keys.push(decodeURIComponent(match[1] as string));
    }
    return keys;
  }

  /** One number from `stats` (e.g. `evictions`). */
  async stat(name: string): Promise<number | undefined> {
    const text = await this.#call(Buffer.from('stats\r\n'), ['END\r\n']);
    const match = new RegExp(`STAT ${name} (\\d+)`).exec(text);
    return match ? Number(match[1]) : undefined;
  }

  /** The value under `key`, as bytes. */
  async get(key: string): Promise<Buffer | undefined> {
    await this.#call(Buffer.from(`get ${key}\r\n`), ['END\r\n']);
    const raw = this.#buffer;
    const header = /^VALUE \S+ \d+ (\d+)\r\n/.exec(raw.toString('latin1'));
    if (!header) return undefined;
    const start = header[0].length;
    return raw.subarray(start, start + Number(header[1]));
  }

  /** `set` arbitrary bytes under `key`. */
  async set(key: string, value: Buffer, ttl = 60): Promise<boolean> {
    const head = Buffer.from(`set ${key} 0 ${ttl} ${value.length}\r\n`, 'latin1');
    const answer = await this.#call(Buffer.concat([head, value, Buffer.from('\r\n')]), ['STORED\r\n', 'ERROR\r\n', 'SERVER_ERROR out of memory storing object\r\n']);
    return answer.startsWith('STORED');
  }

  close(): void {
    this.#socket.destroy();
  }
}
