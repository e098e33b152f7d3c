/**
 * `npm run bench:profile`: one hot loop under the inspector's sampling
 * profiler, to see where a cached read's time goes before optimizing it.
 *
 *   npm run bench:profile -- [--system orm-cache|no-cache|transparent|floor] [--workload W1|W2|W3|W4|W6] [--inflight 32] [--ops 20000] [--store memcached|memory] [--interval µs, 0: no profiler]
 *
 * Seeds a small blog, warms the cache with one pass, then runs `--ops`
 * operations with `--inflight` of them in flight while the profiler samples.
 * Prints wall µs/op, CPU µs/op and the top self-time functions, and writes
 * the `.cpuprofile` (open it in Chrome DevTools) next to bench/results/.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import type { Model } from 'sequelize';
import { Sequelize } from 'sequelize-typescript';
import { addBlogModels } from '../fixtures/blog';
import { seedBlog } from '../fixtures/seed';
import { MemcachedStore, MemoryStore } from '../source';
import { decodeEntry } from '../source/codec';
import { type ModelLike, modelSchema } from '../source/model-schema';
import { list20Options, list50Options, noCache, type Open, ormCacheSystem, type System, transparentCache } from './systems';
import { inFlight } from './timing';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** Self time per function (by name and file) as shares of all samples. */
function topSelf(profile: { nodes: ProfileNode[] }, count: number): string[] {
  const self = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    total += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^.*node_modules\//, '').replace(/^.*\/work\/[^/]+\//, '').replace(/^file:\/\//, '');
    const key = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + hits);
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, hits]) => `${((hits / total) * 100).toFixed(1).padStart(5)} %  ${key}`);
}

async function main(): Promise<void> {
  const mysqlUrl = process.env.ORM_CACHE_MYSQL_URL;
  const memcached = process.env.ORM_CACHE_MEMCACHED;
  if (!mysqlUrl || !memcached) throw new Error('run it with `npm run bench:profile`: it starts MariaDB and memcached');
  const which = option('system', 'orm-cache');
  const workload = option('workload', 'W1');
  const inflight = Number(option('inflight', '32'));
  const ops = Number(option('ops', '20000'));
  const storeKind = option('store', 'memcached');
  /** Sampling interval in µs; 0 measures without the profiler (it slows what it samples). */
  const interval = Number(option('interval', '100'));

  const database = `orm_cache_prof_${randomBytes(3).toString('hex')}`;
  const admin = await mysql.createConnection(mysqlUrl);
  await admin.query(`CREATE DATABASE \`${database}\``);
  const url = new URL(mysqlUrl);
  url.pathname = `/${database}`;
  const open: Open = (logging) => new Sequelize(url.toString(), { dialect: 'mysql', logging, pool: { max: 10 } });
  const namespace = `prof${randomBytes(3).toString('hex')}`;
  const servers = memcached.split(',');
  let system: System | undefined;
  let closeFloor: (() => Promise<unknown>) | undefined;
  try {
    const seeder = open(() => undefined);
    const seedModels = addBlogModels(seeder);
    await seeder.sync();
    await seedBlog(seedModels, { articles: 2000, authors: 20, commentsPerArticle: 2, tags: 20, batchSize: 1000 });
    await seeder.close();
    const store = () => (storeKind === 'memory' ? new MemoryStore() : new MemcachedStore(servers, { timeoutMs: 200 }));
    system =
      which === 'no-cache'
        ? noCache(open)
        : which === 'transparent'
          ? transparentCache(open, memcached, namespace)
          : ormCacheSystem('orm-cache', open, store(), namespace);
    const target = system;
    let run: (i: number) => Promise<unknown>;
    if (which === 'floor') {
      // The least a hit can cost: a get of the cached bytes, decode, build.
      const floorStore = new MemcachedStore(servers, { timeoutMs: 200 });
      closeFloor = () => floorStore.close();
      const schema = modelSchema(target.models.Article as unknown as ModelLike);
      run = async (i) => {
        const entry = decodeEntry(schema, await floorStore.get(target.cache!.keys.row(schema, String(1 + (i % 50)))));
        if (entry?.type !== 'row') throw new Error('floor: not cached');
        return target.models.Article.build(entry.values, { isNewRecord: false, raw: true });
      };
      for (let i = 0; i < 50; i++) await target.byPk(1 + i);
    } else if (workload === 'W1') run = (i) => target.byPk(1 + (i % 50));
    else if (workload === 'W4') {
      // W4's mix: reads of 200 rows with one title update in 20 (run it with --inflight 8).
      run = (i) => (i % 20 === 7 ? target.update!(1 + ((i * 7) % 200), `p${i}`) : target.byPk(1 + ((i * 13) % 200)));
    }
    else if (workload === 'W2') run = (i) => target.models.Article.findAll(list50Options(1 + (i % 20)));
    else if (workload === 'W6') {
      // save() of articles loaded beforehand (uncached), 2000 of them in turn.
      const loaded = (await target.models.Article.findAll({ cache: false, order: [['id', 'ASC']] } as object)) as Model[];
      run = (i) => target.save!(loaded[i % loaded.length] as Model, `p${i}`);
    }
    else run = (i) => target.models.Article.findAll(list20Options(target.models, 1 + (i % 20)));
    // Warm: every key once, then a pass to settle the JIT.
    await inFlight(ops / 10, inflight, run);
    const session = new Session();
    session.connect();
    if (interval > 0) {
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval });
      await session.post('Profiler.start');
    }
    const storeOps0 = target.storeOps();
    const sql0 = target.sql.count;
    const cpu0 = process.cpuUsage();
    const { elapsed } = await inFlight(ops, inflight, run);
    const cpu = process.cpuUsage(cpu0);
    const profile = interval > 0 ? (await session.post('Profiler.stop')).profile : undefined;
    session.disconnect();
    const cpuPerOp = (cpu.user + cpu.system) / ops;
    const perOp = (n: number) => (n / ops).toFixed(2);
    process.stdout.write(
      `${which} ${workload} ${storeKind}, ${inflight} in flight: ${((elapsed * 1000) / ops).toFixed(1)} µs/op wall, ${cpuPerOp.toFixed(1)} µs/op CPU, ${(ops / (elapsed / 1000)).toFixed(0)} ops/s (user ${(cpu.user / ops).toFixed(1)}, system ${(cpu.system / ops).toFixed(1)}), store requests/op ${perOp(target.storeOps() - storeOps0)}, SQL/op ${perOp(target.sql.count - sql0)}\n`,
    );
    if (!profile) return;
    process.stdout.write(`${topSelf(profile as unknown as { nodes: ProfileNode[] }, 25).join('\n')}\n`);
    const dir = join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${which}-${workload}-${inflight}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    process.stderr.write(`profile: ${file}\n`);
  } finally {
    await system?.close().catch(() => undefined);
    await closeFloor?.().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
