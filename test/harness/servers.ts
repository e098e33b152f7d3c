/**
 * Throwaway MariaDB and memcached servers on free loopback ports, in a temp
 * directory, for the tests, the demo and the benchmarks. Nothing here touches
 * a server it did not start: no `flush_all`, no shared data directory.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';

/** The MariaDB account the harness creates for tests (loopback only). */
export const TEST_USER = 'orm_cache';
export const TEST_PASSWORD = 'orm_cache';

const SEARCH_PATH = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/sbin', '/bin'];

/** Full path of an executable, or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...SEARCH_PATH];
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * Install the Debian packages that provide the named binaries when they are
 * missing. A fresh CI machine has Node and nothing else, so the suite must be
 * able to bring its own servers.
 */
export function ensureBinaries(needs: { mariadb?: boolean; memcached?: boolean; chromium?: boolean; redis?: boolean }): void {
  const packages: string[] = [];
  // Chromium only recommends a font; without one, page text renders as nothing.
  if (needs.chromium && !findBinary('chromium')) packages.push('chromium', 'fonts-liberation');
  if (needs.mariadb && !(findBinary('mariadbd') && findBinary('mariadb-install-db'))) packages.push('mariadb-server');
  if (needs.memcached && !findBinary('memcached')) packages.push('memcached');
  if (needs.redis && !(findBinary('redis-server') && findBinary('redis-cli'))) packages.push('redis-server');
  // The TLS test makes its own certificates.
  if (needs.redis && !findBinary('openssl')) packages.push('openssl');
  if (packages.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `missing ${packages.join(' and ')}: install the Debian package(s) ${packages.join(' ')} ` +
        `or point ORM_CACHE_MYSQL_URL / ORM_CACHE_MEMCACHED at running servers`,
    );
  }
  process.stderr.write(`[harness] installing Debian packages: ${packages.join(' ')} (binaries not found)\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { stdio: 'inherit', env });
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A process the harness started; `stop()` ends it (SIGTERM, then SIGKILL). */
export class ManagedProcess {
  readonly #exited: Promise<void>;
  #output = '';

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-8000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last few KB the process printed, for error messages. */
  get output(): string {
    return this.#output;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** `kill -9`, and wait until the process is gone. */
  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.#exited;
  }

  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    const killed = await Promise.race([this.#exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!killed) {
      this.child.kill('SIGKILL');
      await this.#exited;
    }
  }

  exited(): Promise<void> {
    return this.#exited;
  }
}

function rootUserFlag(): string[] {
  return process.getuid?.() === 0 ? ['-u', 'root'] : [];
}

/** A memcached server on a loopback port. */
export class MemcachedServer {
  process: ManagedProcess | undefined;

  /**
   * @param memoryFile - memcached's restartable cache (`-e`): stopped with
   *   {@link MemcachedServer.stopKeepingContents}, the server starts again
   *   with the items it held.
   */
  constructor(
    readonly port: number,
    readonly memoryMb = 64,
    readonly memoryFile: string | undefined = undefined,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Start (or restart, empty) the server and wait until it accepts connections. */
  async start(): Promise<this> {
    const bin = findBinary('memcached');
    if (!bin) throw new Error('memcached not found');
    const child = spawn(
      bin,
      [
        '-l', '127.0.0.1', '-p', String(this.port), '-U', '0', '-m', String(this.memoryMb), '-t', '2', '-c', '4096',
        ...(this.memoryFile ? ['-e', this.memoryFile] : []),
        ...rootUserFlag(),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.process = new ManagedProcess(`memcached:${this.port}`, child);
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(this.port))) {
      if (!this.process.running) throw new Error(`memcached exited: ${this.process.output}`);
      if (Date.now() > deadline) throw new Error(`memcached did not listen on ${this.port}`);
      await sleep(20);
    }
    return this;
  }

  async stop(): Promise<void> {
    await this.process?.stop();
  }

  /**
   * Stop so that the next `start()` comes back with the same items (needs a
   * `memoryFile`; memcached saves on SIGUSR1). memcached refuses to restore
   * within the second it stopped, so this returns a second later.
   */
  async stopKeepingContents(): Promise<void> {
    if (!this.memoryFile) throw new Error('stopKeepingContents needs a memoryFile');
    this.process?.signal('SIGUSR1');
    await this.process?.exited();
    await sleep(1100);
  }

  static async launch(memoryMb = 64, memoryFile?: string): Promise<MemcachedServer> {
    return new MemcachedServer(await freePort(), memoryMb, memoryFile).start();
  }
}

/** A throwaway MariaDB server: its own data directory, socket and loopback port. */
export class MariadbServer {
  process: ManagedProcess | undefined;
  readonly socket: string;
  readonly dataDir: string;

  /**
   * @param replication - `serverId` (1 and up) turns on the binary log with
   *   GTIDs, so the server can be a primary or a replica.
   */
  constructor(
    readonly dir: string,
    readonly port: number,
    readonly replication: { serverId: number } | undefined = undefined,
  ) {
    this.socket = join(dir, 'mariadb.sock');
    this.dataDir = join(dir, 'data');
  }

  /** `mysql://` URL of the test account, optionally for one database. */
  url(database = ''): string {
    return `mysql://${TEST_USER}:${TEST_PASSWORD}@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<this> {
    const installDb = findBinary('mariadb-install-db');
    const mariadbd = findBinary('mariadbd');
    if (!installDb || !mariadbd) throw new Error('mariadb-install-db / mariadbd not found');
    if (!existsSync(this.dataDir)) {
      mkdirSync(this.dataDir, { recursive: true });
      execFileSync(
        installDb,
        [
          '--no-defaults',
          `--datadir=${this.dataDir}`,
          '--auth-root-authentication-method=normal',
          '--skip-test-db',
          ...(process.getuid?.() === 0 ? ['--user=root'] : []),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
    }
    const config = join(this.dir, 'my.cnf');
    // Durability is traded for speed: the data is thrown away after the run.
    writeFileSync(
      config,
      [
        '[mariadbd]',
        `datadir=${this.dataDir}`,
        `socket=${this.socket}`,
        `port=${this.port}`,
        'bind-address=127.0.0.1',
        'skip-name-resolve',
        'innodb-buffer-pool-size=256M',
        'innodb-flush-log-at-trx-commit=0',
        'innodb-doublewrite=0',
        'sync-binlog=0',
        'max-connections=1000',
        'character-set-server=utf8mb4',
        'collation-server=utf8mb4_general_ci',
        `pid-file=${join(this.dir, 'mariadb.pid')}`,
        `log-error=${join(this.dir, 'mariadb.err')}`,
        ...(this.replication
          ? [`server-id=${this.replication.serverId}`, 'log-bin=mariadb-bin', 'binlog-format=ROW', 'log-slave-updates=1', `relay-log=${join(this.dir, 'relay')}`]
          : []),
        '',
      ].join('\n'),
    );
    const child = spawn(mariadbd, [`--defaults-file=${config}`, ...(process.getuid?.() === 0 ? ['--user=root'] : [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process = new ManagedProcess(`mariadb:${this.port}`, child);
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const admin = await mysql.createConnection({ socketPath: this.socket, user: 'root' });
        await admin.query(`CREATE USER IF NOT EXISTS '${TEST_USER}'@'127.0.0.1' IDENTIFIED BY '${TEST_PASSWORD}'`);
        await admin.query(`GRANT ALL PRIVILEGES ON *.* TO '${TEST_USER}'@'127.0.0.1' WITH GRANT OPTION`);
        await admin.end();
        return this;
      } catch (error) {
        if (!this.process.running) throw new Error(`mariadbd exited: ${this.process.output}`);
        if (Date.now() > deadline) throw new Error(`mariadbd did not start: ${String(error)}`);
        await sleep(100);
      }
    }
  }

  async stop(): Promise<void> {
    await this.process?.stop(20_000);
  }

  static async launch(dir: string): Promise<MariadbServer> {
    return new MariadbServer(dir, await freePort()).start();
  }

  /**
   * Replicate `primary` (GTID, from its first transaction), `delaySeconds`
   * behind it (MASTER_DELAY) to force lag. Both need a `replication` server id.
   */
  async replicate(primary: MariadbServer, delaySeconds = 0): Promise<void> {
    const admin = await mysql.createConnection({ socketPath: this.socket, user: 'root' });
    try {
      await admin.query('STOP SLAVE');
      await admin.query("SET GLOBAL gtid_slave_pos = ''");
      await admin.query(
        `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='${TEST_USER}', ` +
          `MASTER_PASSWORD='${TEST_PASSWORD}', MASTER_USE_GTID=slave_pos, MASTER_DELAY=${Math.floor(delaySeconds)}`,
      );
      await admin.query('START SLAVE');
    } finally {
      await admin.end();
    }
  }

  /** Resolves when this replica has applied everything `primary` had committed when called. */
  async caughtUp(primary: MariadbServer, timeoutMs = 30_000): Promise<void> {
    const [source, replica] = await Promise.all([
      mysql.createConnection({ socketPath: primary.socket, user: 'root' }),
      mysql.createConnection({ socketPath: this.socket, user: 'root' }),
    ]);
    try {
      const [rows] = await source.query('SELECT @@gtid_binlog_pos AS pos');
      const pos = String((rows as { pos: string }[])[0]?.pos ?? '');
      const [waited] = await replica.query('SELECT MASTER_GTID_WAIT(?, ?) AS ok', [pos, timeoutMs / 1000]);
      if ((waited as { ok: number }[])[0]?.ok !== 0) throw new Error(`replica did not reach ${pos} within ${timeoutMs} ms`);
    } finally {
      await Promise.all([source.end(), replica.end()]);
    }
  }
}

/** A primary and a replica of it (optionally lagging), in subfolders of `dir`. */
export async function startReplicaPair(dir: string, options: { delaySeconds?: number } = {}): Promise<{ primary: MariadbServer; replica: MariadbServer }> {
  ensureBinaries({ mariadb: true });
  mkdirSync(join(dir, 'primary'), { recursive: true });
  mkdirSync(join(dir, 'replica'), { recursive: true });
  const [primary, replica] = await Promise.all([
    new MariadbServer(join(dir, 'primary'), await freePort(), { serverId: 1 }).start(),
    new MariadbServer(join(dir, 'replica'), await freePort(), { serverId: 2 }).start(),
  ]);
  try {
    await replica.replicate(primary, options.delaySeconds ?? 0);
  } catch (error) {
    await Promise.allSettled([primary.stop(), replica.stop()]);
    throw error;
  }
  return { primary, replica };
}

/** Everything a run needs, started together. */
export interface TestServers {
  mysqlUrl: string;
  memcached: string[];
  /** Servers this harness started (empty where the environment supplied them). */
  owned: { mariadb?: MariadbServer; memcached: MemcachedServer[] };
  dir: string;
  stop(): Promise<void>;
}

/**
 * Start MariaDB and `memcachedCount` memcached servers, unless
 * `ORM_CACHE_MYSQL_URL` / `ORM_CACHE_MEMCACHED` (comma-separated host:port)
 * point at servers to use instead.
 */
export async function startServers(options: { memcachedCount?: number; memcachedOptional?: boolean } = {}): Promise<TestServers> {
  const envMysql = process.env.ORM_CACHE_MYSQL_URL;
  const envMemcached = process.env.ORM_CACHE_MEMCACHED;
  ensureBinaries({ mariadb: !envMysql });
  let memcachedCount = envMemcached ? 0 : (options.memcachedCount ?? 1);
  try {
    ensureBinaries({ memcached: memcachedCount > 0 });
  } catch (error) {
    // The demo runs on the embedded MemoryStore where memcached cannot be had.
    if (!options.memcachedOptional) throw error;
    memcachedCount = 0;
  }
  const dir = mkdtempSync(join(tmpdir(), 'orm-cache-'));
  const owned: TestServers['owned'] = { memcached: [] };
  const stop = async () => {
    await Promise.allSettled([owned.mariadb?.stop(), ...owned.memcached.map((m) => m.stop())]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // allSettled, so a server that did start is recorded (and stopped) even
    // when its sibling fails.
    const [mariadb, ...memcached] = await Promise.allSettled([
      envMysql ? Promise.resolve(undefined) : MariadbServer.launch(dir),
      ...Array.from({ length: memcachedCount }, () =>
        options.memcachedOptional ? MemcachedServer.launch().catch(() => undefined) : MemcachedServer.launch(),
      ),
    ]);
    if (mariadb?.status === 'fulfilled') owned.mariadb = mariadb.value;
    for (const m of memcached) if (m.status === 'fulfilled' && m.value) owned.memcached.push(m.value as MemcachedServer);
    const failed = [mariadb, ...memcached].find((r) => r?.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
    return {
      mysqlUrl: envMysql ?? (owned.mariadb as MariadbServer).url(),
      memcached: envMemcached ? envMemcached.split(',').map((s) => s.trim()) : owned.memcached.map((m) => m.address),
      owned,
      dir,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
