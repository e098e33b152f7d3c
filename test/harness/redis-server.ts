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
  /** redis-cli's credentials, for a server whose default user is off (`--user NAME --pass PASSWORD`). */
  cliAuth: string[] = [];

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
    const auth = this.cliAuth.length > 0 ? [...this.cliAuth, '--no-auth-warning'] : [];
    const { stdout } = await run(bin, ['-h', '127.0.0.1', '-p', String(this.port), ...auth, ...args], { timeout: 10_000 });
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

/** A Redis Cluster on loopback: `masters` masters with one replica each, made by `redis-cli --cluster create`. */
export class RedisCluster {
  private constructor(readonly nodes: RedisServer[]) {}

  /** Seed URLs of every node. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  static async launch(dir: string, masters = 3): Promise<RedisCluster> {
    const ports = await Promise.all(Array.from({ length: masters * 2 }, () => freePort()));
    const nodes = await Promise.all(
      ports.map((port) =>
        new RedisServer(port, join(dir, `cluster-${port}`), true, [
          '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '1500',
          // A replica may take over however long it was cut off (the tests cut them off on purpose).
          '--cluster-replica-validity-factor', '0',
        ]).start(),
      ),
    );
    const cluster = new RedisCluster(nodes);
    const bin = findBinary('redis-cli');
    if (!bin) throw new Error('redis-cli not found');
    await run(bin, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 60_000 });
    await cluster.settled();
    return cluster;
  }

  /** Wait until every running node says the cluster is ok and every master has a replica in sync. */
  async settled(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = this.nodes.filter((n) => n.process?.running);
      const states = await Promise.all(running.map((n) => n.cli('CLUSTER', 'INFO').catch(() => '')));
      const ok = states.every((s) => /cluster_state:ok/.test(s));
      const masters = await this.masters();
      const synced = ok && masters.length > 0 && (await Promise.all(masters.map((m) => m.cli('INFO', 'replication').catch(() => '')))).every((info) => /slave0:.*state=online/.test(info));
      // Every node's own view lists each master's replica (gossip takes a moment).
      const views = synced ? await Promise.all(running.map((n) => n.cli('--json', 'CLUSTER', 'SLOTS').catch(() => '[]'))) : [];
      const complete = views.every((view) => {
        const ranges = JSON.parse(view || '[]') as unknown[][];
        // A master may serve several ranges (after resharding): count masters by port.
        const ports = new Set(ranges.map((range) => (range[2] as unknown[] | undefined)?.[1]));
        return ports.size === masters.length && ranges.every((range) => range.length >= 4);
      });
      if (synced && complete) return;
      if (Date.now() > deadline) throw new Error(`the cluster did not settle: ${states.join(' | ').replace(/\s+/g, ' ').slice(0, 400)}`);
      await sleep(100);
    }
  }

  /** The running nodes that are masters now. */
  async masters(): Promise<RedisServer[]> {
    const running = this.nodes.filter((n) => n.process?.running);
    const roles = await Promise.all(running.map((n) => n.cli('ROLE').catch(() => '')));
    return running.filter((_, i) => (roles[i] ?? '').startsWith('master'));
  }

  /** The replica of `master` (by its replication info). */
  async replicaOf(master: RedisServer): Promise<RedisServer | undefined> {
    const info = await master.cli('INFO', 'replication');
    const port = /slave0:ip=[^,]+,port=(\d+)/.exec(info)?.[1];
    return this.nodes.find((n) => String(n.port) === port);
  }

  /** The node serving `key`'s slot now. */
  async masterFor(key: string): Promise<RedisServer> {
    const any = this.nodes.find((n) => n.process?.running) as RedisServer;
    const slot = Number(await any.cli('CLUSTER', 'KEYSLOT', key));
    const masters = await this.masters();
    // CLUSTER NODES: "<id> <ip:port@bus> <flags> <master> ... <slot ranges>"
    const table = await any.cli('CLUSTER', 'NODES');
    for (const line of table.split('\n')) {
      const fields = line.trim().split(' ');
      if (!fields[2]?.includes('master') || fields[2]?.includes('fail')) continue;
      const port = Number(fields[1]?.split(':')[1]?.split('@')[0]);
      for (const range of fields.slice(8)) {
        const [from, to] = range.split('-').map(Number);
        if (from !== undefined && slot >= from && slot <= (to ?? from)) {
          const node = masters.find((m) => m.port === port);
          if (node) return node;
        }
      }
    }
    throw new Error(`no master serves slot ${slot}`);
  }

  /** Move `count` slots, keys and all, from one master to another (`redis-cli --cluster reshard`). */
  async reshard(from: RedisServer, to: RedisServer, count: number): Promise<void> {
    const [source, target] = await Promise.all([from.cli('CLUSTER', 'MYID'), to.cli('CLUSTER', 'MYID')]);
    const bin = findBinary('redis-cli');
    if (!bin) throw new Error('redis-cli not found');
    const args = ['--cluster', 'reshard', `127.0.0.1:${from.port}`, '--cluster-from', source, '--cluster-to', target, '--cluster-slots', String(count), '--cluster-yes'];
    await run(bin, args, { timeout: 180_000, maxBuffer: 64 * 1024 * 1024 });
  }

  /** How many slots `node` serves, by its own view (CLUSTER NODES). */
  async slotsOf(node: RedisServer): Promise<number> {
    const line = (await node.cli('CLUSTER', 'NODES')).split('\n').find((l) => l.includes('myself')) ?? '';
    return line
      .trim()
      .split(' ')
      .slice(8)
      .filter((range) => !range.startsWith('['))
      .reduce((n, range) => {
        const [from, to] = range.split('-').map(Number) as [number, number | undefined];
        return n + (to ?? from) - from + 1;
      }, 0);
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.nodes.map((n) => n.stop()));
  }
}
