/**
 * `npm run bench`: every system on every workload, interleaved round by round
 * in one process run, against the harness's MariaDB and memcached. Prints a
 * markdown table and writes the raw figures to bench/results/.
 *
 *   npm run bench -- [--articles 100000] [--rounds 5] [--ops 1000] [--hot 1000] [--quick] [--only W1,W1c,W2,W2c,W3,W4,W5,W6,drivers,redis-trips,cluster-layout]
 *
 * Phases run one after another (W1–W3 interleaved, then W4, then W6, then
 * W5), each in rounds that interleave the systems; the first round of each
 * phase warms caches and the JIT and is not reported.
 *
 * W1–W3 and W6 issue operations one after another (per-operation cost); W1c
 * and W2c keep 32 of W1's and W2's operations in flight (throughput); W4
 * runs 8 workers at once; W5 sends 400 identical requests at once. Every
 * row has this process's CPU time per operation (user + system; MariaDB's
 * and memcached's own CPU is not in it) and its heap growth over the
 * workload (heapUsed after a full GC, last round's end minus the first
 * measured round's start).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import type { Model } from 'sequelize';
import { Sequelize } from 'sequelize-typescript';
import { addBlogModels } from '../fixtures/blog';
import { prng, seedBlog } from '../fixtures/seed';
import { MemcachedStore, MemoryStore, RedisStore } from '../source';
import { decodeEntry } from '../source/codec';
import type { ModelLike } from '../source/model-schema';
import { modelSchema } from '../source/model-schema';
import { CountingStore } from './counting-store';
import { compareDrivers } from './drivers';
import { compareRedisTrips } from './redis-trips';
import { compareClusterLayouts } from './cluster-layout';
import { list50Options, noCache, type Open, ormCacheSystem, simpleCache, type System, transparentCache, transparentCacheRedis } from './systems';
import { inFlight, percentile, timed } from './timing';
import { zipf } from './zipf';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const quick = process.argv.includes('--quick');
const ARTICLES = flag('articles', quick ? 5000 : 100_000);
const ROUNDS = flag('rounds', quick ? 3 : 5);
const OPS = flag('ops', quick ? 300 : 1000);
const W4_WORKERS = 8;
/** Operations in flight in the throughput variants of W1 and W2. */
const IN_FLIGHT = 32;
/** A full GC, to compare heaps (the harness runs the bench with --expose-gc). */
const collect = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const heapNow = () => {
  collect();
  return process.memoryUsage().heapUsed;
};
/** W1–W3 draw their keys (Zipf) from this many hottest articles, and a tenth as many authors. */
const HOT = flag('hot', 1000);
const onlyAt = process.argv.indexOf('--only');
const ONLY = onlyAt >= 0 ? new Set((process.argv[onlyAt + 1] ?? '').split(',')) : undefined;
const runs = (workload: string) => !ONLY || ONLY.has(workload);
const FLOOR = 'floor (get + decode + build)' as const;

function progress(done: number, total: number, label: string): void {
  const width = 30;
  const filled = Math.round((Math.min(done, total) / total) * width);
  process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round((done / total) * 100)).padStart(3)}% ${label.slice(0, 60).padEnd(60)}`);
}

/** Figures of one system on one workload, summed over the measured rounds. */
interface Sample {
  latencies: number[];
  /** CPU time of this process (user + system), µs. */
  cpu: number;
  /** heapUsed after a full GC at the end of the last round minus at the start of the first measured one, bytes. */
  heapGrowth: number;
  sql: number;
  storeOps: number;
  elapsed: number;
  ops: number;
  stale: number;
  checked: number;
}

const emptySample = (): Sample => ({ latencies: [], cpu: 0, heapGrowth: 0, sql: 0, storeOps: 0, elapsed: 0, ops: 0, stale: 0, checked: 0 });

/** What a run of one system returns besides its latencies. */
interface RunFigures {
  latencies: number[];
  elapsed: number;
  stale?: number;
  checked?: number;
}

/**
 * W4: 95 % reads and 5 % title updates of Zipf-chosen articles, by several
 * workers at once. A read is checked when no write of its article overlapped
 * it: it must return the title of the last write that returned before it
 * began (reads of articles not written yet are not checked).
 */
async function mixed(system: System, ids: number[], writes: boolean[], tag: string): Promise<RunFigures> {
  const versions = new Map<number, { committed?: string; version: number; writing: number }>();
  const state = (id: number) => versions.get(id) ?? versions.set(id, { version: 0, writing: 0 }).get(id)!;
  const latencies: number[] = [];
  let stale = 0;
  let checked = 0;
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < ids.length; i = next++) {
      const id = ids[i] as number;
      const s = state(id);
      const t0 = performance.now();
      if (writes[i]) {
        const title = `${tag}-${i}`;
        s.version++;
        s.writing++;
        const startVersion = s.version;
        await system.update!(id, title);
        s.writing--;
        // Two writes of one article that overlapped commit in an order the
        // checker cannot see: the value is unknown until a lone write.
        const alone = s.version === startVersion && s.writing === 0;
        s.version++;
        s.committed = alone ? title : undefined;
      } else {
        const expected = s.writing === 0 ? s.committed : undefined;
        const version = s.version;
        const row = await system.byPk(id);
        if (expected !== undefined && s.version === version && s.writing === 0) {
          checked++;
          if (row?.title !== expected) stale++;
        }
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: W4_WORKERS }, worker));
  return { latencies, elapsed: performance.now() - started, stale, checked };
}

async function main(): Promise<void> {
  const mysqlUrl = process.env.ORM_CACHE_MYSQL_URL;
  const memcached = process.env.ORM_CACHE_MEMCACHED;
  if (!mysqlUrl || !memcached) throw new Error('run the benchmark with `npm run bench`: it starts MariaDB and memcached');
  const database = `orm_cache_bench_${randomBytes(3).toString('hex')}`;
  const admin = await mysql.createConnection(mysqlUrl);
  await admin.query(`CREATE DATABASE \`${database}\``);
  const url = new URL(mysqlUrl);
  url.pathname = `/${database}`;
  const namespace = `bench${randomBytes(3).toString('hex')}`;
  const open: Open = (logging) => new Sequelize(url.toString(), { dialect: 'mysql', logging, pool: { max: 10 } });
  const servers = memcached.split(',');

  const systems: System[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const seeder = open(() => undefined);
    closers.push(() => seeder.close());
    const seedModels = addBlogModels(seeder);
    await seeder.sync();
    const authors = Math.max(10, Math.round(ARTICLES / 100));
    process.stderr.write(`seeding ${ARTICLES} articles, ${authors} authors, ${ARTICLES * 2} comments…\n`);
    await seedBlog(seedModels, { articles: ARTICLES, authors, commentsPerArticle: 2, tags: 50, batchSize: 2000 });

    const plain = noCache(open);
    const onMemcached = ormCacheSystem('orm-cache (memcached)', open, new MemcachedStore(servers, { timeoutMs: 200 }), `${namespace}a`);
    const onMemory = ormCacheSystem('orm-cache (MemoryStore)', open, new MemoryStore({ maxItems: 1_000_000, maxBytes: 1024 * 1024 * 1024 }), `${namespace}b`);
    const transparent = transparentCache(open, memcached, `${namespace}c`);
    const simple = simpleCache(open);
    // Redis, when the harness started one: orm-cache on it beside sequelize-transparent-cache's ioredis adaptor.
    const redis = process.env.ORM_CACHE_REDIS;
    const onRedis = redis ? [ormCacheSystem('orm-cache (Redis)', open, new RedisStore(redis, { timeoutMs: 200 }), `${namespace}d`), transparentCacheRedis(open, redis, `${namespace}e`)] : [];
    const compared = [plain, onMemcached, onMemory, transparent, simple, ...onRedis];
    systems.push(...compared);
    const floorStore = new CountingStore(new MemcachedStore(servers, { timeoutMs: 200 }));
    closers.push(() => floorStore.close());

    const random = prng(42);
    const permutation = (ids: number[]) => {
      for (let i = ids.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [ids[i], ids[j]] = [ids[j] as number, ids[i] as number];
      }
      return ids;
    };
    const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
    // W1–W3 draw from all articles; W4 and W6 give each system its own slice
    // of articles to write, so no system's writes go behind another's cache.
    const readIds = permutation(range(1, ARTICLES));
    const authorIds = permutation(range(1, authors));
    const articleRank = zipf(Math.min(HOT, ARTICLES), 1.0, random);
    const authorRank = zipf(Math.min(Math.max(10, Math.round(HOT / 10)), authors), 1.0, random);
    const nextArticle = () => readIds[articleRank()] as number;
    const nextAuthor = () => authorIds[authorRank()] as number;
    const sliceSize = Math.floor(ARTICLES / compared.length);
    const slices = new Map(compared.map((s, i) => [s, permutation(range(1 + i * sliceSize, sliceSize))]));
    // W4 reads and writes hot keys too: Zipf over the first HOT of the slice.
    const sliceRank = zipf(Math.min(HOT, sliceSize), 1.0, random);

    const articleSchema = modelSchema(onMemcached.models.Article as unknown as ModelLike);
    const floor = async (id: number) => {
      // The least a hit can cost with this client: fetch the same bytes, decode, build.
      const text = await floorStore.get(onMemcached.cache!.keys.row(articleSchema, String(id)));
      const entry = decodeEntry(articleSchema, text);
      if (entry?.type !== 'row') throw new Error(`floor: row ${id} not cached`);
      return onMemcached.models.Article.build(entry.values, { isNewRecord: false, raw: true });
    };

    type Runner = (system: System | undefined, round: number) => Promise<RunFigures>;
    interface Workload {
      id: string;
      name: string;
      systems: (System | typeof FLOOR)[];
      prepare(round: number): void;
      run: Runner;
    }
    let args: number[] = [];
    let writes: boolean[] = [];
    const all: Workload[] = [
      {
        id: 'W1',
        name: 'W1 findByPk (Zipf)',
        systems: [...compared, FLOOR],
        prepare: () => (args = Array.from({ length: OPS }, nextArticle)),
        run: (s) => timed(args, s ? (id) => s.byPk(id) : floor),
      },
      {
        id: 'W1c',
        name: `W1 findByPk (Zipf), ${IN_FLIGHT} in flight`,
        systems: [...compared, FLOOR],
        prepare: () => (args = Array.from({ length: OPS * 4 }, nextArticle)),
        run: (s) => inFlight(args.length, IN_FLIGHT, (i) => (s ? s.byPk(args[i] as number) : floor(args[i] as number))),
      },
      {
        id: 'W2',
        name: 'W2 findAll 50 rows with a where',
        systems: compared,
        prepare: () => (args = Array.from({ length: OPS }, nextAuthor)),
        run: (s) => timed(args, (a) => s!.list50!(a)),
      },
      {
        id: 'W2c',
        name: `W2 findAll 50 rows with a where, ${IN_FLIGHT} in flight`,
        systems: compared,
        prepare: () => (args = Array.from({ length: OPS * 2 }, nextAuthor)),
        run: (s) => inFlight(args.length, IN_FLIGHT, (i) => s!.list50!(args[i] as number)),
      },
      {
        id: 'W3',
        name: 'W3 findAll 20 with author and comments',
        systems: compared,
        prepare: () => (args = Array.from({ length: OPS }, nextAuthor)),
        run: (s) => timed(args, (a) => s!.list20!(a)),
      },
      {
        id: 'W4',
        name: `W4 95% findByPk / 5% update, ${W4_WORKERS} workers`,
        systems: compared,
        prepare: () => {
          args = Array.from({ length: OPS }, sliceRank);
          writes = args.map(() => random() < 0.05);
        },
        run: (s, round) => {
          const slice = slices.get(s!) as number[];
          return mixed(s!, args.map((rank) => slice[rank] as number), writes, `w4r${round}`);
        },
      },
      {
        id: 'W6',
        name: 'W6 save() of a loaded article',
        systems: [plain, onMemcached, onMemory, transparent, ...onRedis],
        prepare: () => (args = Array.from({ length: Math.min(OPS, 300) }, (_, i) => i)),
        run: async (s, round) => {
          // Loaded outside the timing, from the database, from the system's slice.
          const slice = slices.get(s!) as number[];
          const ids = args.map((i) => slice[sliceSize - 1 - ((round * args.length + i) % Math.floor(sliceSize / 2))] as number);
          const loaded = (await s!.models.Article.findAll({ where: { id: ids }, cache: false })) as Model[];
          const byId = new Map(loaded.map((a) => [a.get('id') as number, a]));
          return timed(ids, (id) => s!.save!(byId.get(id) as Model, `w6-${round}-${id}`));
        },
      },
    ];
    const workloads = all.filter((w) => runs(w.id));

    const results = new Map<string, Sample>();
    const heapAtStart = new Map<string, number>();
    const total = ROUNDS * workloads.reduce((n, w) => n + w.systems.length, 0);
    let done = 0;
    // Writes invalidate what reads cached: each phase runs on its own.
    const phases = [['W1', 'W1c', 'W2', 'W2c', 'W3'], ['W4'], ['W6']].map((ids) => workloads.filter((w) => ids.includes(w.id)));
    for (const phase of phases) {
      for (let round = 0; round < ROUNDS; round++) {
        for (const workload of phase) {
          // The same arguments for every system of this block.
          workload.prepare(round);
          for (const entry of workload.systems) {
            const system = entry === FLOOR ? undefined : entry;
            const name = system ? system.name : FLOOR;
            progress(done++, total, `${workload.id} · ${name} · round ${round + 1}/${ROUNDS}`);
            const key = `${workload.name}\u0000${name}`;
            if (round === 1) heapAtStart.set(key, heapNow());
            const sql0 = system?.sql.count ?? 0;
            const ops0 = system ? system.storeOps() : floorStore.total;
            const cpu0 = process.cpuUsage();
            const figures = await workload.run(system, round);
            const cpu = process.cpuUsage(cpu0);
            // Round 1 of a phase warms every cache (and the JIT); it is not reported.
            if (round === 0) continue;
            const sample = results.get(key) ?? emptySample();
            sample.cpu += cpu.user + cpu.system;
            if (round === ROUNDS - 1) sample.heapGrowth = heapNow() - (heapAtStart.get(key) ?? 0);
            sample.latencies.push(...figures.latencies);
            sample.ops += figures.latencies.length;
            sample.sql += (system?.sql.count ?? 0) - sql0;
            sample.storeOps += (system ? system.storeOps() : floorStore.total) - ops0;
            sample.elapsed += figures.elapsed;
            sample.stale += figures.stale ?? 0;
            sample.checked += figures.checked ?? 0;
            results.set(key, sample);
          }
        }
      }
    }

    const rows: Record<string, unknown>[] = [];
    const lines = [
      `sequelize-orm-cache benchmark — ${ARTICLES} articles (W1–W3 keys: Zipf over the ${Math.min(HOT, ARTICLES)} hottest articles and ${Math.min(Math.max(10, Math.round(HOT / 10)), authors)} authors; W4: Zipf over ${Math.min(HOT, sliceSize)} articles of a slice of ${sliceSize} per system; W6: other articles of that slice), ${ROUNDS - 1} measured rounds × ${OPS} ops per system and workload; node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
      '',
      '| workload | system | median µs | p99 µs | ops/s | CPU µs/op | heap growth KiB | SQL/op | store requests/op | × no cache (median) | × no cache (ops/s) | × the floor (median) | stale reads / checked |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ];
    for (const workload of workloads) {
      const stats = (name: string) => {
        const s = results.get(`${workload.name}\u0000${name}`);
        if (!s) return undefined;
        const sorted = [...s.latencies].sort((a, b) => a - b);
        return {
          median: percentile(sorted, 50),
          p99: percentile(sorted, 99),
          opsPerSecond: s.ops / (s.elapsed / 1000),
          cpuPerOp: s.cpu / s.ops,
          heapGrowthKiB: s.heapGrowth / 1024,
          sqlPerOp: s.sql / s.ops,
          storeOpsPerOp: s.storeOps / s.ops,
          stale: s.stale,
          checked: s.checked,
        };
      };
      const base = stats('no cache');
      const floorStats = stats(FLOOR);
      for (const entry of workload.systems) {
        const name = entry === FLOOR ? FLOOR : entry.name;
        const s = stats(name);
        if (!s) continue;
        rows.push({ workload: workload.name, system: name, ...s });
        const memoryOnly = entry !== FLOOR && (entry === onMemory || entry === simple);
        lines.push(
          `| ${workload.name} | ${name} | ${(s.median * 1000).toFixed(0)} | ${(s.p99 * 1000).toFixed(0)} | ${s.opsPerSecond.toFixed(0)} | ${s.cpuPerOp.toFixed(0)} | ${s.heapGrowthKiB.toFixed(0)} | ${s.sqlPerOp.toFixed(3)} | ${
            memoryOnly || entry === plain ? '–' : s.storeOpsPerOp.toFixed(2)
          } | ${base ? (base.median / s.median).toFixed(2) : ''} | ${base ? (s.opsPerSecond / base.opsPerSecond).toFixed(2) : ''} | ${
            floorStats && name !== FLOOR ? (s.median / floorStats.median).toFixed(2) : ''
          } | ${workload.id === 'W4' ? `${s.stale} / ${s.checked}` : ''} |`,
        );
      }
    }

    if (runs('W5')) {
      // W5: stampedes. 400 concurrent identical requests, in one process, on a
      // cold key and on a soft-expired key, with and without protection.
      const unprotected = ormCacheSystem('orm-cache (memcached, no protection)', open, new MemcachedStore(servers, { timeoutMs: 200 }), `${namespace}d`, false);
      systems.push(unprotected);
      const burst = async (system: System, where: Record<string, unknown>, softTtl?: number) => {
        const query = () => system.models.Article.findAll({ ...list50Options(0), where, ...(softTtl ? { cache: { softTtl } } : {}) });
        const sql0 = system.sql.count;
        const latencies = await Promise.all(
          Array.from({ length: 400 }, async () => {
            const t0 = performance.now();
            await query();
            return performance.now() - t0;
          }),
        );
        await system.cache?.settled();
        return { latencies, queries: system.sql.count - sql0 };
      };
      lines.push('', '| W5 stampede: 400 concurrent identical findAll | system | DB queries per burst | p50 µs | p99 µs |', '|---|---|---:|---:|---:|');
      const bursts = Math.max(2, ROUNDS - 1);
      let step = 0;
      for (const [scenario, soft] of [['cold key', false], ['warm key (all hits)', false], ['soft-expired key', true]] as const) {
        for (const system of [plain, onMemcached, unprotected]) {
          const queries: number[] = [];
          const all: number[] = [];
          for (let round = 0; round < bursts; round++) {
            progress(step++, bursts * 9, `W5 ${scenario} · ${system.name}`);
            const where = { authorId: nextAuthor(), title: { [Symbol.for('ne')]: `w5-${randomBytes(4).toString('hex')}` } };
            if (scenario === 'warm key (all hits)') await system.models.Article.findAll({ ...list50Options(0), where });
            if (soft) {
              await system.models.Article.findAll({ ...list50Options(0), where, cache: { softTtl: 1 } });
              await new Promise((r) => setTimeout(r, 1100));
            }
            const result = await burst(system, where, soft ? 300 : undefined);
            queries.push(result.queries);
            all.push(...result.latencies);
          }
          all.sort((a, b) => a - b);
          const row = { workload: 'W5', scenario, system: system.name, queriesPerBurst: queries.reduce((a, b) => a + b, 0) / queries.length, p50: percentile(all, 50), p99: percentile(all, 99) };
          rows.push(row);
          lines.push(`| ${scenario} | ${system.name} | ${row.queriesPerBurst.toFixed(1)} | ${(row.p50 * 1000).toFixed(0)} | ${(row.p99 * 1000).toFixed(0)} |`);
        }
      }
    }
    if (runs('drivers')) {
      progress(0, 1, 'memcached drivers');
      const drivers = await compareDrivers(servers[0] as string, `${namespace}drv`, Math.max(2, ROUNDS), OPS);
      lines.push(
        '',
        '| memcached request shape | driver | median µs | p99 µs | CPU µs/op | 32 in flight: ops/s | 32 in flight: CPU µs/op |',
        '|---|---|---:|---:|---:|---:|---:|',
      );
      for (const d of drivers) {
        lines.push(
          `| ${d.shape} | ${d.driver} | ${(d.median * 1000).toFixed(0)} | ${(d.p99 * 1000).toFixed(0)} | ${d.cpuPerOp.toFixed(0)} | ${d.concurrentOpsPerSecond.toFixed(0)} | ${d.concurrentCpuPerOp.toFixed(0)} |`,
        );
      }
      rows.push(...drivers.map((d) => ({ workload: 'drivers', ...d })));
    }
    if (runs('redis-trips') && process.env.ORM_CACHE_REDIS) {
      progress(0, 1, 'a list hit in one Redis round trip');
      const trips = await compareRedisTrips(process.env.ORM_CACHE_REDIS, `${namespace}trip`, Math.max(2, ROUNDS), OPS);
      lines.push(
        '',
        '| Redis request shape | how | median µs | p99 µs | CPU µs/op | 32 in flight: ops/s | 32 in flight: CPU µs/op | Redis CPU µs/op |',
        '|---|---|---:|---:|---:|---:|---:|---:|',
      );
      for (const d of trips) {
        lines.push(
          `| ${d.shape} | ${d.driver} | ${(d.median * 1000).toFixed(0)} | ${(d.p99 * 1000).toFixed(0)} | ${d.cpuPerOp.toFixed(0)} | ${d.concurrentOpsPerSecond.toFixed(0)} | ${d.concurrentCpuPerOp.toFixed(0)} | ${(d.serverCpuPerOp ?? NaN).toFixed(0)} |`,
        );
      }
      rows.push(...trips.map((d) => ({ workload: 'redis-trips', ...d })));
    }
    if (runs('cluster-layout') && process.env.ORM_CACHE_REDIS) {
      progress(0, 1, 'key layouts on a Redis Cluster');
      const layouts = await compareClusterLayouts(`${namespace}lay`, Math.max(2, ROUNDS), OPS);
      lines.push(
        '',
        '| Redis Cluster read | key layout | median µs | p99 µs | CPU µs/op | 32 in flight: ops/s | 32 in flight: CPU µs/op | masters\' CPU µs/op | busiest master\'s share |',
        '|---|---|---:|---:|---:|---:|---:|---:|---:|',
      );
      for (const d of layouts) {
        lines.push(
          `| ${d.shape} | ${d.driver} | ${(d.median * 1000).toFixed(0)} | ${(d.p99 * 1000).toFixed(0)} | ${d.cpuPerOp.toFixed(0)} | ${d.concurrentOpsPerSecond.toFixed(0)} | ${d.concurrentCpuPerOp.toFixed(0)} | ${(d.serverCpuPerOp ?? NaN).toFixed(0)} | ${(d.busiestShare * 100).toFixed(0)} % |`,
        );
      }
      rows.push(...layouts.map((d) => ({ workload: 'cluster-layout', ...d })));
    }
    progress(1, 1, 'done');
    process.stderr.write('\n');
    process.stdout.write(`${lines.join('\n')}\n`);
    const dir = join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ articles: ARTICLES, rounds: ROUNDS, ops: OPS, node: process.version, cpus: cpus().length, results: rows }, null, 2));
    process.stderr.write(`raw figures: ${file}\n`);
  } finally {
    for (const s of systems) await s.close().catch(() => undefined);
    for (const close of closers) await close().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
