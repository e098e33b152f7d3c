/**
 * Throwaway Redis servers on free loopback ports, in the harness's temp
 * directory: standalone, and (for the Redis Cluster tests) a cluster of
 * masters and replicas made with `redis-cli --cluster create`.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { canConnect, findBinary, freePort, ManagedProcess } from './servers';

const run = promisify(execFile);

/** One redis-server process. */
export class RedisServer {
  process: ManagedProcess | undefined;

  /**
   * @param persist - keep an append-only file, so a restart comes back with the data
   * @param extra - more `redis-server` arguments (`--maxmemory 2mb`, `--cluster-enabled yes`, …)
   */
  constructor(
    readonly port: number,
    readonly dir: string,
    readonly persist = false,
    readonly extra: string[] = [],
  ) {
    mkdirSync(dir, { recursive: true });
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Start (or restart) the server and wait until it answers. */
  async start(): Promise<this> {
    const bin = findBinary('redis-server');
    if (!bin) throw new Error('redis-server not found');
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--daemonize', 'no', '--protected-mode', 'no',
      '--save', '', '--appendonly', this.persist ? 'yes' : 'no', '--appendfsync', 'always', '--logfile', '',
      ...this.extra,
    ];
    this.process = new ManagedProcess(`redis:${this.port}`, spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (!this.process.running) throw new Error(`redis-server exited: ${this.process.output}`);
      if ((await canConnect(this.port)) && (await this.cli('PING').catch(() => '')) === 'PONG') return this;
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${this.port}`);
      await sleep(20);
    }
  }

  /** One redis-cli command against this server; its output, trimmed. */
  async cli(...args: string[]): Promise<string> {
    const bin = findBinary('redis-cli');
    if (!bin) throw new Error('redis-cli not found');
    const { stdout } = await run(bin, ['-h', '127.0.0.1', '-p', String(this.port), ...args], { timeout: 10_000 });
    return stdout.trim();
  }

  async stop(): Promise<void> {
    await this.process?.stop();
  }

  static async launch(dir: string, persist = false, extra: string[] = []): Promise<RedisServer> {
    const port = await freePort();
    return new RedisServer(port, join(dir, `redis-${port}`), persist, extra).start();
  }
}
