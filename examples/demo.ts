/**
 * `npm run demo`: the blog API (examples/blog-api.ts) served twice from one
 * seeded MariaDB database, once plain and once with the cache installed,
 * driven by the same built-in load; prints a side-by-side table and leaves
 * the cached server up with its dashboard.
 *
 *   npm run demo [-- --once] [--memory | --store memcached|redis|memory] [--requests N] [--concurrency N] [--port N]
 *
 * `--memory` (`--store memory`) runs the cache on the embedded MemoryStore
 * even when memcached is there (one process needs no shared store);
 * `--store redis` on a RedisStore (the harness starts Redis for it).
 *
 * The harness (test/harness/run.ts) starts MariaDB and memcached for it, or
 * uses ORM_CACHE_MYSQL_URL / ORM_CACHE_MEMCACHED; where memcached cannot be
 * had, the cache runs on the embedded MemoryStore, and the output says so.
 */
import { randomBytes } from 'node:crypto';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import mysql from 'mysql2/promise';
import { Sequelize } from 'sequelize-typescript';
import { zipf } from '../bench/zipf';
import { addBlogModels } from '../fixtures/blog';
import { prng, seedBlog } from '../fixtures/seed';
import { MemcachedStore, MemoryStore, ormCache, RedisStore } from '../source';
import { blogApi } from './blog-api';

const argv = process.argv.slice(2);
const once = argv.includes('--once');
const storeAt = argv.indexOf('--store');
const storeKind = storeAt >= 0 ? argv[storeAt + 1] : argv.includes('--memory') ? 'memory' : 'memcached';
if (storeKind !== 'memcached' && storeKind !== 'redis' && storeKind !== 'memory') {
  throw new Error(`--store takes memcached, redis or memory, got ${storeKind ?? 'nothing'}`);
}
const memory = storeKind === 'memory';
const redisUrl = storeKind === 'redis' ? process.env.ORM_CACHE_REDIS : undefined;
if (storeKind === 'redis' && !redisUrl) throw new Error('--store redis: run it with `npm run demo -- --store redis`, which starts Redis, or set ORM_CACHE_REDIS');

function flag(name: string, fallback: number): number {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(argv[i + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} takes a whole number, got ${argv[i + 1] ?? 'nothing'}`);
  return value;
}

const REQUESTS = flag('--requests', 3000);
const CONCURRENCY = flag('--concurrency', 8);
const PORT = flag('--port', 3000);
const ARTICLES = 1000;
const AUTHORS = 40;

const out = (text = '') => process.stdout.write(`${text}\n`);

/** One request of the load: a method, a path, and a body for writes. */
interface Call {
  method: 'GET' | 'PATCH';
  path: string;
  body?: string;
}

/**
 * The load, the same for both servers: article pages over Zipf-skewed ids
 * (70%), an author's latest articles with authors and comments (12%), author
 * pages with their article count (15%), and title edits (3%).
 */
function workload(count: number, seed: number): Call[] {
  const random = prng(seed);
  const article = zipf(ARTICLES, 1.1, random);
  const author = zipf(AUTHORS, 0.8, random);
  return Array.from({ length: count }, (_, i): Call => {
    const roll = random();
    if (roll < 0.7) return { method: 'GET', path: `/articles/${article() + 1}` };
    if (roll < 0.82) return { method: 'GET', path: `/articles?author=${author() + 1}&limit=10` };
    if (roll < 0.97) return { method: 'GET', path: `/authors/${author() + 1}` };
    return { method: 'PATCH', path: `/articles/${article() + 1}`, body: JSON.stringify({ title: `edited ${seed}-${i}` }) };
  });
}

/** A one-line progress bar, redrawn in place on a terminal, printed once when done elsewhere. */
function progressBar(label: string, total: number): (done: number) => void {
  const tty = process.stdout.isTTY === true;
  let shown = -1;
  return (done) => {
    const percent = Math.floor((done / total) * 100);
    if (percent === shown || (!tty && done < total)) return;
    shown = percent;
    const width = 30;
    const filled = Math.round((width * done) / total);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    process.stdout.write(`${tty ? '\r' : ''}  ${label.padEnd(20)} ${bar} ${String(percent).padStart(3)}% ${done}/${total}${done === total ? '\n' : ''}`);
  };
}

interface RunResult {
  perSecond: number;
  p50: number;
  p99: number;
  sqlPerRequest: number;
  dbMsPerRequest: number;
}

/** "2.10× faster" or "1.30× slower": latency ratios read the right way round. */
const faster = (before: number, after: number) =>
  after <= before ? `${(before / after).toFixed(2)}× faster` : `${(after / before).toFixed(2)}× slower`;

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

// node:http with keep-alive rather than fetch: the load shares the process
// (and its two cores) with the servers, and fetch costs several times the CPU.
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One request; resolves with the status once the body has been read. */
function send(base: string, call: Call): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + call.path, { method: call.method, agent, headers: call.body ? { 'content-type': 'application/json' } : {} }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(call.body);
  });
}

/** Send `calls` with `CONCURRENCY` clients; latency per request, SQL from the server's statement counter. */
async function drive(base: string, calls: Call[], label: string, sql: { statements: number; ms: number }): Promise<RunResult> {
  const bar = progressBar(label, calls.length);
  const latencies: number[] = [];
  const before = { ...sql };
  let next = 0;
  let done = 0;
  bar(0);
  const started = performance.now();
  const client = async () => {
    while (next < calls.length) {
      const call = calls[next++] as Call;
      const sent = performance.now();
      const status = await send(base, call);
      if (status >= 500) throw new Error(`${call.method} ${call.path}: HTTP ${status}`);
      latencies.push(performance.now() - sent);
      bar(++done);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    perSecond: calls.length / seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    sqlPerRequest: (sql.statements - before.statements) / calls.length,
    dbMsPerRequest: (sql.ms - before.ms) / calls.length,
  };
}

function listen(app: ReturnType<typeof blogApi>, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, '127.0.0.1');
    server.once('listening', () => resolve(server));
    server.once('error', (error: NodeJS.ErrnoException) => {
      // The preferred port is taken: any free one will do.
      if (error.code === 'EADDRINUSE' && port !== 0) resolve(listen(app, 0));
      else reject(error);
    });
  });
}

async function main(): Promise<void> {
  const mysqlUrl = process.env.ORM_CACHE_MYSQL_URL;
  if (!mysqlUrl) {
    out('Run the demo with `npm run demo`: it starts MariaDB (and memcached) for it.');
    process.exitCode = 1;
    return;
  }
  const memcached = memory || redisUrl ? [] : (process.env.ORM_CACHE_MEMCACHED ?? '').split(',').filter(Boolean);
  const database = `orm_cache_demo_${randomBytes(3).toString('hex')}`;
  const admin = await mysql.createConnection(mysqlUrl);
  await admin.query(`CREATE DATABASE \`${database}\``);
  const url = new URL(mysqlUrl);
  url.pathname = `/${database}`;

  // Two apps on the one database, each with its own connection pool and
  // statement counter: one plain, one with the cache.
  // `benchmark` hands logging each statement's duration: the database time
  // the cache takes off MariaDB.
  const plainSql = { statements: 0, ms: 0 };
  const cachedSql = { statements: 0, ms: 0 };
  const counting = (into: { statements: number; ms: number }) => (_sql: string, ms?: number) => {
    into.statements++;
    into.ms += ms ?? 0;
  };
  const plain = new Sequelize(url.toString(), { dialect: 'mysql', benchmark: true, logging: counting(plainSql) });
  const cached = new Sequelize(url.toString(), { dialect: 'mysql', benchmark: true, logging: counting(cachedSql) });
  const plainModels = addBlogModels(plain);
  const cachedModels = addBlogModels(cached);
  const store = redisUrl ? new RedisStore(redisUrl) : memcached.length > 0 ? new MemcachedStore(memcached) : new MemoryStore();
  const servers: Server[] = [];
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    await Promise.allSettled([plain.close(), cached.close(), store.close()]);
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``).catch(() => undefined);
    await admin.end().catch(() => undefined);
  };

  try {
    out('sequelize-orm-cache demo: the same blog API with and without the cache\n');
    out(`  MariaDB    ${url.host} (${process.env.ORM_CACHE_MYSQL_FROM ?? 'from ORM_CACHE_MYSQL_URL'}), database ${database}`);
    out(
      redisUrl
        ? `  cache      Redis ${redisUrl} (${process.env.ORM_CACHE_REDIS_FROM ?? 'from ORM_CACHE_REDIS'})`
        : memcached.length > 0
        ? `  cache      memcached ${memcached.join(', ')} (${process.env.ORM_CACHE_MEMCACHED_FROM ?? 'from ORM_CACHE_MEMCACHED'})`
        : memory
          ? '  cache      the embedded MemoryStore (--memory)'
          : '  cache      the embedded MemoryStore (memcached is not available on this machine)',
    );
    const seeding = performance.now();
    await plain.sync();
    await seedBlog(plainModels, { authors: AUTHORS, articles: ARTICLES, commentsPerArticle: 3, tags: 10 });
    out(`  data       ${AUTHORS} authors, ${ARTICLES} articles, ${ARTICLES * 3} comments (seeded in ${((performance.now() - seeding) / 1000).toFixed(1)} s)`);

    const cache = ormCache.install(cached, { store, namespace: `demo${randomBytes(3).toString('hex')}` });
    cache.on('error', (error) => process.stderr.write(`cache store error: ${error.message}\n`));
    const plainServer = await listen(blogApi(plainModels), 0);
    const cachedServer = await listen(blogApi(cachedModels, cache), PORT);
    servers.push(plainServer, cachedServer);
    const address = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    out(
      `  load       ${REQUESTS} requests per run, ${CONCURRENCY} concurrent clients in this process: ` +
        '70% article pages, 12% author article lists, 15% author pages, 3% edits\n',
    );

    // A warm-up run of each app first (connection pools, JIT; and the
    // cache's entries, as a running app has them), not measured.
    const warmUp = workload(REQUESTS, 1);
    await drive(address(plainServer), warmUp, 'warm-up, no cache', plainSql);
    await drive(address(cachedServer), warmUp, 'warm-up, cache', cachedSql);
    const calls = workload(REQUESTS, 2);
    const without = await drive(address(plainServer), calls, 'no cache', plainSql);
    const before = cache.metrics.snapshot();
    const withCache = await drive(address(cachedServer), calls, 'with the cache', cachedSql);
    await cache.settled();
    const after = cache.metrics.snapshot();
    const hits = after.rowHits + after.listHits + after.countHits - (before.rowHits + before.listHits + before.countHits);
    const misses = after.rowMisses + after.listMisses + after.countMisses - (before.rowMisses + before.listMisses + before.countMisses);
    const bypassed = after.bypassed - before.bypassed;
    const reasons = Object.entries(after.bypassReasons)
      .map(([reason, n]) => [reason, (n ?? 0) - (before.bypassReasons[reason as keyof typeof before.bypassReasons] ?? 0)] as const)
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1]);

    const rows: [string, string, string, string][] = [
      ['requests / s', without.perSecond.toFixed(0), withCache.perSecond.toFixed(0), `${(withCache.perSecond / without.perSecond).toFixed(2)}×`],
      ['p50 latency', `${without.p50.toFixed(2)} ms`, `${withCache.p50.toFixed(2)} ms`, faster(without.p50, withCache.p50)],
      ['p99 latency', `${without.p99.toFixed(2)} ms`, `${withCache.p99.toFixed(2)} ms`, faster(without.p99, withCache.p99)],
      ['SQL statements / request', without.sqlPerRequest.toFixed(2), withCache.sqlPerRequest.toFixed(2), `${(without.sqlPerRequest / Math.max(withCache.sqlPerRequest, 1e-9)).toFixed(1)}× fewer`],
      ['time in SQL / request', `${without.dbMsPerRequest.toFixed(2)} ms`, `${withCache.dbMsPerRequest.toFixed(2)} ms`, `${(without.dbMsPerRequest / Math.max(withCache.dbMsPerRequest, 1e-9)).toFixed(1)}× less`],
      ['cache hit ratio', '–', hits + misses > 0 ? `${((hits / (hits + misses)) * 100).toFixed(1)}%` : '–', ''],
      ['coverage (reads via cache)', '–', hits + misses + bypassed > 0 ? `${(((hits + misses) / (hits + misses + bypassed)) * 100).toFixed(1)}%` : '–', ''],
    ];
    out('');
    out(`  ${''.padEnd(26)} ${'no cache'.padStart(12)} ${'with cache'.padStart(12)}   ratio`);
    for (const [label, a, b, ratio] of rows) out(`  ${label.padEnd(26)} ${a.padStart(12)} ${b.padStart(12)}   ${ratio}`);

    out(`\n  Reads that bypassed the cache: ${bypassed}${reasons.length ? ` (top reasons: ${reasons.slice(0, 3).map(([r, n]) => `${r} ${n}`).join(', ')})` : ''}`);

    const sample = await fetch(`${address(cachedServer)}/articles/1`);
    out(`\n  Server-Timing of GET /articles/1: ${sample.headers.get('server-timing')}`);

    if (once) return;
    const base = address(cachedServer);
    out(`\nThe cached API is still running at ${base}`);
    out(`  dashboard  ${base}/cache/`);
    out(`  metrics    ${base}/metrics  (Prometheus: ${base}/metrics?format=prometheus)`);
    out(`  try        curl -i ${base}/articles/1   (see its Server-Timing header)`);
    out('Press Ctrl-C to stop.');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve).once('SIGTERM', resolve);
    });
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
