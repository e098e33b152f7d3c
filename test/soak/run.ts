/**
 * `npm run soak`: several OS processes read and write the same articles
 * through the cache while faults are injected into memcached and MariaDB;
 * the history checker then compares every read with the committed writes.
 * Prints one line per scenario and exits non-zero on any stale-after-return
 * read, impossible read or cache-caused application error.
 *
 *   npm run soak -- [--minutes 2 | --seconds S] [--processes 4] [--loops 4] [--only a,b] [--json file] [--sabotage] [--keep]
 *
 * `--minutes` is the whole run, shared by the scenarios; `--seconds` sets
 * each scenario's length instead (`npm test` runs every scenario briefly).
 *
 * The soak starts its own MariaDB and memcached servers (it kills and stops
 * them), on loopback ports in a temp directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { Sequelize } from 'sequelize-typescript';
import { addBlogModels } from '../../fixtures/blog';
import { RedisStore } from '../../source';
import { RedisCluster, RedisServer } from '../harness/redis-server';
import { ensureBinaries, freePort, MariadbServer, MemcachedServer } from '../harness/servers';
import { type CheckResult, checkHistory, initialState, type Op, percentile, type RowState } from './history';
import { Wire } from './memcached-wire';
import { now, type WorkerConfig } from './worker-config';

const root = join(__dirname, '..', '..');
const WORKER = join(__dirname, 'worker.ts');

/** Everything a fault needs to act on. */
interface FaultContext {
  mariadb: MariadbServer;
  memcached: MemcachedServer[];
  durationMs: number;
  /** Resolves at `ms` after the workers started. */
  at(ms: number): Promise<void>;
  /** Record when the fault began and ended (monotonic µs), for the fault-window p99. */
  window: { start?: number; end?: number };
  /** Set when the workers are done. */
  done: { value: boolean };
  /** Lock-holder processes, started (and READY) with the workers, waiting for `go()`. */
  holders: SoakProcess[];
  /** The scenario's Redis server, for the Redis scenarios. */
  redis?: RedisServer;
  /** The scenario's Redis Cluster, for the cluster scenario. */
  cluster?: RedisCluster;
  notes: string[];
}

interface Scenario {
  name: string;
  fault: string;
  memcachedCount?: number;
  memoryMb?: number;
  /** Start memcached with memory files (`-e`), so a server can come back with its items. */
  memoryFiles?: boolean;
  /** Run on a Redis server of the scenario's own instead of memcached: with an append-only file, and more arguments. */
  redis?: { persist?: boolean; extra?: string[] };
  /** Run on a Redis Cluster of the scenario's own (3 masters, 3 replicas). */
  redisCluster?: boolean;
  /** The scenario runs at least this long, in ms, however short the others (a failover takes seconds). */
  minMs?: number;
  /** Lock holders to start with the workers (readers whose every SELECT is slow). */
  holders?: number;
  /** `sign` secret for the workers. */
  sign?: string;
  inject?(ctx: FaultContext): Promise<void>;
}

/** How long a fault lasts: a few seconds, less in short runs. */
const faultMs = (ctx: FaultContext) => Math.min(3000, Math.max(800, ctx.durationMs * 0.25));
const faultStart = (ctx: FaultContext) => ctx.durationMs * 0.3;

/**
 * From 20% to 80% of the run, overwrite random keys of the (first) memcached:
 * with random bytes (binary, CR/LF, protocol text), or, with `forge`, with
 * the key's own value altered by one character, as someone who can reach
 * memcached but lacks the `sign` secret would.
 */
async function corrupt(ctx: FaultContext, forge = false): Promise<void> {
  const wire = await Wire.open((ctx.memcached[0] as MemcachedServer).address);
  await ctx.at(ctx.durationMs * 0.2);
  ctx.window.start = now();
  let corrupted = 0;
  try {
    while (!ctx.done.value && now() < (ctx.window.start as number) + ctx.durationMs * 600) {
      const keys = await wire.keys();
      for (let i = 0; i < 20 && keys.length > 0; i++) {
        const key = keys[Math.floor(Math.random() * keys.length)] as string;
        let value: Buffer | undefined;
        if (forge) {
          const genuine = (await wire.get(key))?.toString('utf8');
          if (!genuine || genuine.length < 30) continue;
          // Change one character of the content, after the signature.
          const at = 23 + Math.floor(Math.random() * (genuine.length - 23));
          const swapped = genuine[at] === '1' ? '2' : '1';
          value = Buffer.from(genuine.slice(0, at) + swapped + genuine.slice(at + 1));
        } else {
          const garbage = randomBytes(1 + Math.floor(Math.random() * 200));
          // Now and then something that looks like protocol text.
          value = Math.random() < 0.3 ? Buffer.concat([Buffer.from('["r",[]]\r\nEND\r\nVALUE x 0 1\r\n'), garbage]) : garbage;
        }
        if (await wire.set(key, value)) corrupted++;
        await sleep(5);
      }
    }
  } finally {
    ctx.window.end = now();
    wire.close();
    ctx.notes.push(`${corrupted} keys overwritten ${forge ? 'with altered copies of their values' : 'with garbage'}`);
  }
}

/** Begin a fault at 30% of the run and end it `faultMs` later, recording its window. */
async function timedFault(ctx: FaultContext, begin: () => unknown, end: () => unknown): Promise<void> {
  await ctx.at(faultStart(ctx));
  ctx.window.start = now();
  await begin();
  await sleep(faultMs(ctx));
  await end();
  ctx.window.end = now();
}

/** A memcached or Redis server of the scenario's. */
type Server = Pick<MemcachedServer | RedisServer, 'process' | 'start'>;

/** `kill -9` a server, and start it again (empty) on its port. */
function killAndRestart(ctx: FaultContext, server: Server): Promise<void> {
  return timedFault(
    ctx,
    async () => {
      await server.process?.kill();
    },
    () => server.start(),
  );
}

/** SIGSTOP a server, and SIGCONT it when the fault ends. */
function pause(ctx: FaultContext, server: Server): Promise<void> {
  return timedFault(
    ctx,
    () => server.process?.signal('SIGSTOP'),
    () => server.process?.signal('SIGCONT'),
  );
}

const SCENARIOS: Scenario[] = [
  { name: 'baseline', fault: 'none' },
  {
    name: 'memcached-kill',
    fault: 'memcached kill -9, restarted empty',
    inject: (ctx) => killAndRestart(ctx, ctx.memcached[0] as MemcachedServer),
  },
  {
    name: 'memcached-hang',
    fault: 'memcached SIGSTOP, then SIGCONT',
    inject: (ctx) => pause(ctx, ctx.memcached[0] as MemcachedServer),
  },
  {
    name: 'ring-node-kill',
    fault: '3-node ring, one node kill -9, restarted',
    memcachedCount: 3,
    inject: (ctx) => killAndRestart(ctx, ctx.memcached[1] as MemcachedServer),
  },
  {
    name: 'ring-node-returns-with-items',
    fault: '3-node ring, one node stopped keeping its items (restartable cache) and started again with them',
    memcachedCount: 3,
    memoryFiles: true,
    inject: (ctx) => {
      const server = ctx.memcached[1] as MemcachedServer;
      return timedFault(
        ctx,
        () => server.stopKeepingContents(),
        () => server.start(),
      );
    },
  },
  {
    name: 'memory-pressure',
    fault: 'memcached -m 2 plus a junk writer: entries, tokens, tombstones evicted',
    memoryMb: 2,
    async inject(ctx) {
      const wire = await Wire.open((ctx.memcached[0] as MemcachedServer).address);
      ctx.window.start = now();
      let written = 0;
      const junk = randomBytes(24 * 1024);
      try {
        while (!ctx.done.value) {
          await wire.set(`junk:${written++}`, junk, 300);
          if (written % 20 === 0) await sleep(5);
        }
      } finally {
        ctx.window.end = now();
        const evictions = await wire.stat('evictions').catch(() => undefined);
        wire.close();
        ctx.notes.push(`${written} junk items of 24 KB written, ${evictions ?? '?'} evictions`);
      }
    },
  },
  {
    name: 'mariadb-restart',
    fault: 'MariaDB stopped and restarted',
    inject: (ctx) => timedFault(ctx, () => ctx.mariadb.stop(), async () => void (await ctx.mariadb.start())),
  },
  {
    name: 'corrupt-bytes',
    fault: 'random bytes (binary, CR/LF) written over cache keys',
    inject: (ctx) => corrupt(ctx),
  },
  {
    name: 'lock-holder-killed',
    fault: 'processes holding fill locks killed -9 mid-refresh',
    holders: 3,
    async inject(ctx) {
      await ctx.at(faultStart(ctx));
      ctx.window.start = now();
      let kills = 0;
      for (const holder of ctx.holders) {
        if (ctx.done.value) break;
        holder.go();
        await holder.holding;
        await sleep(200);
        holder.child.kill('SIGKILL');
        kills++;
      }
      ctx.window.end = now();
      ctx.notes.push(`${kills} lock-holding processes killed`);
    },
  },
  {
    name: 'redis-kill',
    fault: 'Redis kill -9, restarted empty',
    redis: {},
    inject: (ctx) => killAndRestart(ctx, ctx.redis as RedisServer),
  },
  {
    name: 'redis-pause',
    fault: 'Redis SIGSTOP, then SIGCONT',
    redis: {},
    inject: (ctx) => pause(ctx, ctx.redis as RedisServer),
  },
  {
    name: 'redis-returns-with-data',
    fault: 'Redis stopped with an append-only file and started again with its data',
    redis: { persist: true },
    inject: (ctx) => {
      const server = ctx.redis as RedisServer;
      return timedFault(
        ctx,
        () => server.stop(),
        () => server.start(),
      );
    },
  },
  {
    name: 'redis-memory-pressure',
    fault: 'Redis maxmemory 2 MB, allkeys-lru, plus a junk writer: entries, tokens, tombstones evicted',
    redis: { extra: ['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru'] },
    inject: (ctx) => junkWriter(ctx),
  },
  {
    name: 'redis-full-noeviction',
    fault: 'Redis maxmemory 2 MB, noeviction, plus a junk writer: writes refused (OOM)',
    redis: { extra: ['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction'] },
    inject: (ctx) => junkWriter(ctx),
  },
  {
    name: 'redis-cluster-failover',
    fault: 'Redis Cluster: a master cut off from its replica, then killed; the replica promoted without the writes it missed',
    redisCluster: true,
    minMs: 12_000,
    inject: (ctx) => clusterFailover(ctx),
  },
  {
    name: 'forged-values-signed',
    fault: 'values altered in place by one character, with `sign` set: forged values read as absent',
    sign: 'soak-secret-0123456789',
    inject: (ctx) => corrupt(ctx, true),
  },
];

/**
 * The failover that loses acknowledged writes: a master's replica is frozen
 * and its replication link cut, the master takes writes for a while, then
 * dies; the replica is resumed and promoted with the entries those writes
 * replaced. The old master comes back as a replica when the run ends.
 */
async function clusterFailover(ctx: FaultContext): Promise<void> {
  const cluster = ctx.cluster as RedisCluster;
  await ctx.at(faultStart(ctx));
  ctx.window.start = now();
  const master = (await cluster.masters())[0] as RedisServer;
  const replica = await cluster.replicaOf(master);
  if (!replica) throw new Error('the master has no replica');
  replica.process?.signal('SIGSTOP');
  await master.cli('CLIENT', 'KILL', 'TYPE', 'replica');
  await sleep(faultMs(ctx) / 2);
  await master.process?.kill();
  replica.process?.signal('SIGCONT');
  const killed = Date.now();
  for (let i = 0; !(await replica.cli('ROLE').catch(() => '')).startsWith('master'); i++) {
    if (i > 200) throw new Error('the replica was not promoted');
    await sleep(50);
  }
  ctx.window.end = now();
  ctx.notes.push(`master :${master.port} killed, its replica :${replica.port} promoted ${Date.now() - killed} ms later`);
  await master.start();
}

/** Write junk into the scenario's Redis until the run ends (evicting, or filling it). */
async function junkWriter(ctx: FaultContext): Promise<void> {
  const junk = new RedisStore((ctx.redis as RedisServer).url, { timeoutMs: 1000 });
  ctx.window.start = now();
  let written = 0;
  let refused = 0;
  const value = randomBytes(12 * 1024).toString('base64');
  try {
    while (!ctx.done.value) {
      if (await junk.set(`junk:${written++}`, value, 300).catch(() => false)) continue;
      refused++;
      await sleep(20);
    }
  } finally {
    ctx.window.end = now();
    await junk.close();
    ctx.notes.push(`${written} junk items of 16 KB sent, ${refused} refused`);
  }
}

/** A spawned soak process. */
interface SoakProcess {
  child: ChildProcess;
  ready: Promise<void>;
  holding: Promise<void>;
  exited: Promise<number>;
  go(): void;
  output(): string;
}

function spawnWorker(config: WorkerConfig): SoakProcess {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', WORKER, JSON.stringify(config)], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  });
  let ready!: () => void;
  let holding!: () => void;
  const readyPromise = new Promise<void>((resolve) => (ready = resolve));
  const holdingPromise = new Promise<void>((resolve) => (holding = resolve));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (line === 'READY') ready();
    if (line === 'HOLDING') holding();
  });
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  void exited.then(() => {
    ready();
    holding();
  });
  return {
    child,
    ready: readyPromise,
    holding: holdingPromise,
    exited,
    go: () => child.stdin?.write('go\n'),
    output: () => output,
  };
}

interface Options {
  minutes: number;
  seconds?: number;
  processes: number;
  loops: number;
  rows: number;
  authors: number;
  only?: string[];
  json?: string;
  sabotage: boolean;
  sign?: string;
  /** Keep the workers' operation logs when the run fails (their directory is printed). */
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const number = (flag: string, fallback: number) => {
    const raw = value(flag);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number, got ${raw}`);
    return n;
  };
  const only = value('--only')?.split(',');
  for (const name of only ?? []) {
    if (!SCENARIOS.some((s) => s.name === name)) throw new Error(`--only: no scenario "${name}" (known: ${SCENARIOS.map((s) => s.name).join(', ')})`);
  }
  return {
    minutes: number('--minutes', 2),
    seconds: value('--seconds') === undefined ? undefined : number('--seconds', 0),
    processes: number('--processes', 4),
    loops: number('--loops', 4),
    rows: number('--rows', 48),
    authors: number('--authors', 4),
    only,
    json: value('--json'),
    sabotage: argv.includes('--sabotage'),
    sign: value('--sign'),
    keep: argv.includes('--keep'),
  };
}

async function seedDatabase(mariadb: MariadbServer, name: string, options: Options): Promise<Map<number, RowState>> {
  const admin = await mysql.createConnection(mariadb.url());
  await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
  await admin.end();
  const sequelize = new Sequelize(mariadb.url(name), { dialect: 'mysql', logging: false });
  const { Author, Article } = addBlogModels(sequelize);
  await sequelize.sync();
  await Author.bulkCreate(Array.from({ length: options.authors }, (_, i) => ({ id: i + 1, name: `author ${i + 1}`, email: `a${i + 1}@soak.test` })));
  const initial = new Map<number, RowState>();
  const rows = Array.from({ length: options.rows }, (_, i) => {
    const id = i + 1;
    const state = initialState(id, options.authors) as NonNullable<RowState>;
    initial.set(id, state);
    return { id, title: `article ${id}`, body: 'soak '.repeat(40), ...state };
  });
  await Article.bulkCreate(rows);
  await sequelize.close();
  return initial;
}

/** One scenario's line in the report. */
interface Line {
  scenario: string;
  fault: string;
  result: CheckResult;
  p99: number;
  p99Fault: number | undefined;
  storeErrors: number;
  lostInvalidations: number;
  hits: number;
  workerFailures: number;
  notes: string[];
}

async function runScenario(scenario: Scenario, mariadb: MariadbServer, dir: string, options: Options, durationMs: number): Promise<Line> {
  const database = `soak_${scenario.name.replace(/-/g, '_')}`;
  const initial = await seedDatabase(mariadb, database, options);
  const memcached: MemcachedServer[] = [];
  const redis = scenario.redis ? await RedisServer.launch(dir, scenario.redis.persist ?? false, scenario.redis.extra ?? []) : undefined;
  const cluster = scenario.redisCluster ? await RedisCluster.launch(mkdtempSync(join(dir, `${scenario.name}-`))) : undefined;
  durationMs = Math.max(durationMs, scenario.minMs ?? 0);
  for (let i = 0; i < (scenario.redis || cluster ? 0 : (scenario.memcachedCount ?? 1)); i++) {
    const file = scenario.memoryFiles ? join(dir, `${scenario.name}-memory-${i}`) : undefined;
    memcached.push(await MemcachedServer.launch(scenario.memoryMb ?? 64, file));
  }
  const namespace = `soak${randomBytes(3).toString('hex')}`;
  const base: Omit<WorkerConfig, 'index' | 'log'> = {
    role: 'worker',
    processes: options.processes,
    loops: options.loops,
    rows: options.rows,
    authors: options.authors,
    mysqlUrl: mariadb.url(database),
    memcached: memcached.map((m) => m.address),
    redis: cluster ? cluster.urls : redis?.url,
    namespace,
    durationMs,
    seed: 1 + SCENARIOS.indexOf(scenario),
    timeoutMs: 50,
    softTtl: 2,
    sabotage: options.sabotage,
    sign: scenario.sign ?? options.sign,
  };
  const logs = Array.from({ length: options.processes }, (_, i) => join(dir, `${scenario.name}-${i}.jsonl`));
  const workers = logs.map((log, index) => spawnWorker({ ...base, index, log }));
  const holders = Array.from({ length: scenario.holders ?? 0 }, (_, i) =>
    spawnWorker({ ...base, index: options.processes + i, log: join(dir, 'holder.jsonl'), role: 'lock-holder', slowSelectMs: 3000, loops: 6 }),
  );
  const notes: string[] = [];
  try {
    await Promise.all([...workers, ...holders].map((w) => w.ready));
    const started = Date.now();
    for (const w of workers) w.go();
    const done = { value: false };
    const window: FaultContext['window'] = {};
    const ctx: FaultContext = {
      mariadb,
      memcached,
      durationMs,
      at: (ms) => sleep(Math.max(0, started + ms - Date.now())),
      window,
      done,
      notes,
      holders,
      redis,
      cluster,
    };
    const injecting = scenario.inject?.(ctx).catch((error: unknown) => {
      notes.push(`fault injection failed: ${String(error)}`);
    });
    const codes = await Promise.all(workers.map((w) => w.exited));
    done.value = true;
    if (process.env.SOAK_DEBUG) process.stderr.write(`[soak] workers exited ${codes.join(',')}\n`);
    await injecting;
    if (process.env.SOAK_DEBUG) process.stderr.write('[soak] fault injection done\n');
    const ops: Op[] = [];
    let storeErrors = 0;
    let lostInvalidations = 0;
    let hits = 0;
    let workerFailures = 0;
    let forged = 0;
    codes.forEach((code, i) => {
      if (code !== 0) {
        workerFailures++;
        notes.push(`worker ${i} exited ${code}: ${workers[i]?.output().trim().split('\n').slice(-3).join(' | ')}`);
      }
    });
    for (const log of logs) {
      try {
        for (const line of readFileSync(log, 'utf8').split('\n')) if (line) ops.push(JSON.parse(line) as Op);
        const meta = JSON.parse(readFileSync(`${log}.meta.json`, 'utf8')) as {
          storeErrors: number;
          lostInvalidations: number;
          hits: number;
          forgedEntries: number;
        };
        forged += meta.forgedEntries;
        storeErrors += meta.storeErrors;
        lostInvalidations += meta.lostInvalidations;
        hits += meta.hits;
      } catch (error) {
        workerFailures++;
        notes.push(`no log from ${log}: ${String(error)}`);
      }
    }
    const result = checkHistory(initial, ops);
    if (scenario.sign) notes.push(`${forged} forged values read as absent`);
    const inWindow =
      window.start === undefined
        ? undefined
        : result.latencies
            .filter((l) => l.start + l.ms * 1000 >= (window.start as number) && l.start <= (window.end ?? Infinity) + 1_000_000)
            .map((l) => l.ms);
    return {
      scenario: scenario.name,
      fault: scenario.fault,
      result,
      p99: percentile(result.latencies.map((l) => l.ms), 99),
      p99Fault: inWindow && inWindow.length > 0 ? percentile(inWindow, 99) : undefined,
      storeErrors,
      lostInvalidations,
      hits,
      workerFailures,
      notes,
    };
  } finally {
    for (const p of [...workers, ...holders]) p.child.kill('SIGKILL');
    await Promise.allSettled([...memcached.map((m) => m.stop()), redis?.stop(), cluster?.stop()]);
  }
}

function table(lines: Line[]): string {
  const head = [
    'scenario', 'ops', 'reads', 'writes', 'rows checked', 'stale-after-return', 'impossible', 'flip-flops',
    'cache-caused errors', 'DB errors', 'p99 ms', 'p99 in fault ms', 'store errors', 'lost invalidations',
  ];
  const rows = lines.map((l) => [
    l.scenario,
    String(l.result.operations),
    String(l.result.reads),
    String(l.result.writes),
    String(l.result.rowsChecked),
    String(l.result.stale),
    String(l.result.impossible),
    String(l.result.flipFlops),
    String(l.result.cacheErrors),
    String(l.result.dbErrors),
    l.p99.toFixed(1),
    l.p99Fault === undefined ? '–' : l.p99Fault.toFixed(1),
    String(l.storeErrors),
    String(l.lostInvalidations),
  ]);
  const out = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const row of rows) out.push(`| ${row.join(' | ')} |`);
  return out.join('\n');
}

/** A line fails on stale or impossible reads, cache-caused errors, or a worker that did not finish. */
function failed(line: Line): boolean {
  return line.result.stale > 0 || line.result.impossible > 0 || line.result.cacheErrors > 0 || line.workerFailures > 0;
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  ensureBinaries({ mariadb: true, memcached: true, redis: true });
  const scenarios = SCENARIOS.filter((s) => !options.only || options.only.includes(s.name));
  // Each scenario also spends a few seconds starting processes and seeding.
  const durationMs = options.seconds
    ? options.seconds * 1000
    : Math.max(3000, Math.floor((options.minutes * 60_000) / scenarios.length) - 4500);
  const dir = mkdtempSync(join(tmpdir(), 'orm-cache-soak-'));
  const mariadb = new MariadbServer(dir, await freePort());
  let keep = false;
  const stop = async () => {
    await mariadb.stop();
    if (keep) process.stderr.write(`[soak] the operation logs are kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    await mariadb.start();
    process.stderr.write(
      `[soak] ${scenarios.length} scenarios × ${(durationMs / 1000).toFixed(1)} s, ${options.processes} processes × ${options.loops} loops, ${options.rows} articles${options.sabotage ? ', SABOTAGED (writes bypass the cache)' : ''}\n`,
    );
    const lines: Line[] = [];
    for (const scenario of scenarios) {
      const started = Date.now();
      const line = await runScenario(scenario, mariadb, dir, options, durationMs);
      lines.push(line);
      process.stderr.write(
        `[soak] ${scenario.name}: ${line.result.operations} ops, stale ${line.result.stale}, impossible ${line.result.impossible}, cache errors ${line.result.cacheErrors} (${((Date.now() - started) / 1000).toFixed(1)} s)${failed(line) ? '  FAILED' : ''}\n`,
      );
    }
    process.stdout.write(`\n${table(lines)}\n\n`);
    for (const line of lines) {
      process.stdout.write(`- ${line.scenario}: ${line.fault}${line.notes.length ? `; ${line.notes.join('; ')}` : ''}\n`);
      for (const [message, count] of Object.entries(line.result.cacheErrorMessages).slice(0, 5)) {
        process.stdout.write(`    cache-caused error ×${count}: ${message}\n`);
      }
      for (const anomaly of line.result.anomalies.slice(0, 5)) {
        process.stdout.write(`    ${anomaly.kind}: ${anomaly.op} ${anomaly.detail}\n`);
      }
    }
    if (options.json) writeFileSync(options.json, JSON.stringify(lines.map((l) => ({ ...l, result: { ...l.result, latencies: undefined } })), null, 2));
    const bad = lines.filter(failed);
    keep = options.keep && bad.length > 0;
    process.stdout.write(bad.length === 0 ? '\nsoak passed: no stale-after-return, no impossible reads, no cache-caused errors\n' : `\nsoak FAILED in ${bad.map((l) => l.scenario).join(', ')}\n`);
    return bad.length === 0 ? 0 : 1;
  } finally {
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`[soak] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
