/**
 * `npm run bench`: every system on every workload, interleaved round by round
 * in one process run, against the harness's MariaDB and memcached. Prints a
 * markdown table and writes the raw figures to bench/results/.
 *
 *   npm run bench -- [--articles 100000] [--rounds 5] [--ops 1000] [--quick]
 *
 * Latencies are of single operations issued one after another (no
 * concurrency), so they compare the per-operation cost of each path.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { Sequelize } from 'sequelize-typescript';
import { addBlogModels, type BlogModels } from '../fixtures/blog';
import { prng, seedBlog } from '../fixtures/seed';
import { MemcachedStore, MemoryStore, type OrmCache, ormCache } from '../source';
import { decodeEntry } from '../source/codec';
import type { ModelLike } from '../source/model-schema';
import { modelSchema } from '../source/model-schema';
import type { CacheStore } from '../source/store/contract';
import { CountingStore } from './counting-store';
import { zipf } from './zipf';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const quick = process.argv.includes('--quick');
const ARTICLES = flag('articles', quick ? 5000 : 100_000);
const ROUNDS = flag('rounds', quick ? 3 : 5);
const OPS = flag('ops', quick ? 300 : 1000);

interface System {
  name: string;
  sequelize: Sequelize;
  models: BlogModels;
  cache?: OrmCache;
  store?: CountingStore;
  sql: { count: number };
}

interface Sample {
  latencies: number[];
  sql: number;
  storeOps: number;
  elapsed: number;
}

function progress(done: number, total: number, label: string): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round((done / total) * 100)).padStart(3)}% ${label.padEnd(48)}`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
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

  const open = (name: string, store?: CacheStore, protection = true): System => {
    const sql = { count: 0 };
    const sequelize = new Sequelize(url.toString(), { dialect: 'mysql', logging: () => void sql.count++, pool: { max: 10 } });
    const models = addBlogModels(sequelize);
    const counted = store ? new CountingStore(store) : undefined;
    const cache = counted
      ? ormCache.install(sequelize, { store: counted, namespace: `${namespace}${systems.length}`, stampedeProtection: protection })
      : undefined;
    return { name, sequelize, models, cache, store: counted, sql };
  };

  const systems: System[] = [];
  try {
    const seeder = open('seed');
    systems.push(seeder);
    await seeder.sequelize.sync();
    const authors = Math.max(10, Math.round(ARTICLES / 100));
    process.stderr.write(`seeding ${ARTICLES} articles, ${authors} authors, ${ARTICLES * 2} comments…\n`);
    await seedBlog(seeder.models, { articles: ARTICLES, authors, commentsPerArticle: 2, tags: 50, batchSize: 2000 });

    const plain = open('no cache');
    const onMemcached = open('orm-cache (memcached)', new MemcachedStore(memcached.split(','), { timeoutMs: 200 }));
    const onMemory = open('orm-cache (MemoryStore)', new MemoryStore({ maxItems: 1_000_000, maxBytes: 1024 * 1024 * 1024 }));
    systems.push(plain, onMemcached, onMemory);
    const floorStore = new CountingStore(new MemcachedStore(memcached.split(','), { timeoutMs: 200 }));

    const random = prng(42);
    const articleRank = zipf(ARTICLES, 1.0, random);
    const authorRank = zipf(authors, 1.0, random);
    const permutation = (n: number) => {
      const ids = Array.from({ length: n }, (_, i) => i + 1);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [ids[i], ids[j]] = [ids[j] as number, ids[i] as number];
      }
      return ids;
    };
    const articleIds = permutation(ARTICLES);
    const authorIds = permutation(authors);
    const nextArticle = () => articleIds[articleRank()] as number;
    const nextAuthor = () => authorIds[authorRank()] as number;

    type Op = (s: System, arg: number) => Promise<unknown>;
    const workloads: { name: string; arg: () => number; op: Op; floor?: (arg: number) => Promise<unknown> }[] = [
      {
        name: 'W1 findByPk (Zipf)',
        arg: nextArticle,
        op: (s, id) => s.models.Article.findByPk(id),
        floor: async (id) => {
          // The least a hit can cost with this client: fetch the same bytes, decode, build.
          const schema = modelSchema(onMemcached.models.Article as unknown as ModelLike);
          const text = await floorStore.get(onMemcached.cache!.keys.row(schema, String(id)));
          const entry = decodeEntry(schema, text);
          if (entry?.type !== 'row') throw new Error(`floor: row ${id} not cached`);
          return onMemcached.models.Article.build(entry.values, { isNewRecord: false, raw: true });
        },
      },
      {
        name: 'W2 findAll 50 rows with a where',
        arg: nextAuthor,
        op: (s, authorId) => s.models.Article.findAll({ where: { authorId, published: true }, order: [['id', 'DESC']], limit: 50 }),
      },
      {
        name: 'W3 findAll 20 with author and comments',
        arg: nextAuthor,
        op: (s, authorId) =>
          s.models.Article.findAll({
            where: { authorId },
            include: [s.models.Author, s.models.Comment],
            order: [['id', 'DESC']],
            limit: 20,
          }),
      },
    ];

    const cached = [plain, onMemcached, onMemory];
    const results = new Map<string, Sample>();
    const total = ROUNDS * workloads.reduce((n, w) => n + cached.length + (w.floor ? 1 : 0), 0);
    let done = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const workload of workloads) {
        // The same argument sequence for every system of this block.
        const args = Array.from({ length: OPS }, workload.arg);
        const runs: [string, (arg: number) => Promise<unknown>, System | undefined][] = cached.map((s) => [s.name, (a: number) => workload.op(s, a), s]);
        if (workload.floor) runs.push(['floor (get + decode + build)', workload.floor, undefined]);
        for (const [name, run, system] of runs) {
          progress(done++, total, `${workload.name} · ${name} · round ${round + 1}/${ROUNDS}`);
          const sql0 = system?.sql.count ?? 0;
          const store = system ? system.store : floorStore;
          const ops0 = store?.total ?? 0;
          const latencies: number[] = [];
          const started = performance.now();
          for (const arg of args) {
            const t0 = performance.now();
            await run(arg);
            latencies.push(performance.now() - t0);
          }
          const elapsed = performance.now() - started;
          // Round 1 warms every cache (and the JIT); it is not reported.
          if (round === 0) continue;
          const key = `${workload.name}\u0000${name}`;
          const sample = results.get(key) ?? { latencies: [], sql: 0, storeOps: 0, elapsed: 0 };
          sample.latencies.push(...latencies);
          sample.sql += (system?.sql.count ?? 0) - sql0;
          sample.storeOps += (store?.total ?? 0) - ops0;
          sample.elapsed += elapsed;
          results.set(key, sample);
        }
      }
    }
    progress(total, total, 'done');
    process.stderr.write('\n');

    const rows: Record<string, unknown>[] = [];
    const lines = [
      `sequelize-orm-cache benchmark — ${ARTICLES} articles, ${ROUNDS - 1} measured rounds × ${OPS} ops per system and workload, sequential; node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
      '',
      '| workload | system | median µs | p99 µs | ops/s | SQL/op | store ops/op | × faster than no cache (median) | × the floor (median) |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ];
    for (const workload of workloads) {
      const stats = (name: string) => {
        const s = results.get(`${workload.name}\u0000${name}`);
        if (!s) return undefined;
        const sorted = [...s.latencies].sort((a, b) => a - b);
        const n = sorted.length;
        return { median: percentile(sorted, 50), p99: percentile(sorted, 99), opsPerSecond: n / (s.elapsed / 1000), sqlPerOp: s.sql / n, storeOpsPerOp: s.storeOps / n };
      };
      const base = stats('no cache');
      const floor = stats('floor (get + decode + build)');
      for (const name of [...cached.map((s) => s.name), ...(workload.floor ? ['floor (get + decode + build)'] : [])]) {
        const s = stats(name);
        if (!s) continue;
        rows.push({ workload: workload.name, system: name, ...s });
        const vsBase = base ? (base.median / s.median).toFixed(2) : '';
        const vsFloor = floor && name !== 'floor (get + decode + build)' ? (s.median / floor.median).toFixed(2) : '';
        lines.push(
          `| ${workload.name} | ${name} | ${(s.median * 1000).toFixed(0)} | ${(s.p99 * 1000).toFixed(0)} | ${s.opsPerSecond.toFixed(0)} | ${s.sqlPerOp.toFixed(3)} | ${s.storeOpsPerOp.toFixed(2)} | ${vsBase} | ${vsFloor} |`,
        );
      }
    }
    // W5: stampedes. 400 concurrent identical requests, in one process, on a
    // cold key and on a soft-expired key, with and without protection.
    const unprotected = open('orm-cache (memcached, no protection)', new MemcachedStore(memcached.split(','), { timeoutMs: 200 }), false);
    systems.push(unprotected);
    const burst = async (system: System, where: Record<string, unknown>, softTtl?: number) => {
      const query = () => system.models.Article.findAll({ where, order: [['id', 'DESC']], limit: 50, ...(softTtl ? { cache: { softTtl } } : {}) });
      const sql0 = system.sql.count;
      const latencies = await Promise.all(
        Array.from({ length: 400 }, async () => {
          const t0 = performance.now();
          await query();
          return performance.now() - t0;
        }),
      );
      await system.cache?.settled();
      return { latencies: latencies.sort((a, b) => a - b), queries: system.sql.count - sql0 };
    };
    const stampedeRows: Record<string, unknown>[] = [];
    lines.push('', '| W5 stampede: 400 concurrent identical findAll | system | DB queries per burst | p50 µs | p99 µs |', '|---|---|---:|---:|---:|');
    for (const [scenario, soft] of [['cold key', false], ['soft-expired key', true]] as const) {
      for (const system of [plain, onMemcached, unprotected]) {
        const queries: number[] = [];
        const all: number[] = [];
        for (let round = 0; round < Math.max(2, ROUNDS - 1); round++) {
          progress(round, ROUNDS, `W5 ${scenario} · ${system.name}`);
          const where = { authorId: nextAuthor(), title: { [Symbol.for('ne')]: `w5-${randomBytes(4).toString('hex')}` } };
          if (soft) {
            await system.models.Article.findAll({ where, order: [['id', 'DESC']], limit: 50, cache: { softTtl: 1 } });
            await new Promise((r) => setTimeout(r, 1100));
          }
          const result = await burst(system, where, soft ? 300 : undefined);
          queries.push(result.queries);
          all.push(...result.latencies);
        }
        all.sort((a, b) => a - b);
        const row = { scenario, system: system.name, queriesPerBurst: queries.reduce((a, b) => a + b, 0) / queries.length, p50: percentile(all, 50), p99: percentile(all, 99) };
        stampedeRows.push(row);
        lines.push(`| ${scenario} | ${system.name} | ${row.queriesPerBurst.toFixed(1)} | ${(row.p50 * 1000).toFixed(0)} | ${(row.p99 * 1000).toFixed(0)} |`);
      }
    }
    process.stderr.write('\n');
    rows.push(...stampedeRows.map((r) => ({ workload: 'W5', ...r })));
    process.stdout.write(`${lines.join('\n')}\n`);
    const dir = join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ articles: ARTICLES, rounds: ROUNDS, ops: OPS, node: process.version, results: rows }, null, 2));
    process.stderr.write(`raw figures: ${file}\n`);
    await floorStore.close();
  } finally {
    for (const s of systems) {
      s.cache?.uninstall();
      await s.store?.close();
      await s.sequelize.close();
    }
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
