/**
 * The HTTP side, through a real Express app (the demo's blog API) on a real
 * MariaDB and memcached: a workload over HTTP, then the metrics endpoint in
 * both formats, the JSON equal to `snapshot()`, Prometheus text that parses
 * and counts what happened, and per-request Server-Timing headers.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import anyTest, { type TestFn } from 'ava';
import { Registry, Counter } from 'prom-client';
import { blogApi } from '../../examples/blog-api';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';
import { memcachedServers } from '../helpers/test-database';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'express', { authors: 4, articles: 40, commentsPerArticle: 2 });

let server: Server | undefined;
let base = '';

// Started by the first test: ava runs before hooks concurrently, and the app
// needs the database the fixture's hook creates.
test.beforeEach(async (t) => {
  if (server) return;
  server = blogApi(t.context.db.models, t.context.cache).listen(0, '127.0.0.1');
  await new Promise((resolve) => server?.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.after.always(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parse Prometheus's text format strictly enough to catch malformed output. */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1] as string, type[2] as string);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    if (!sample) throw new Error(`malformed exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] as string] = pair[2] as string;
    samples.push({ name: sample[1] as string, labels, value: Number(sample[3]) });
  }
  return { types, samples };
}

/** The family a sample belongs to (a histogram's _bucket, _sum and _count belong to it). */
function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return types.get(base) === 'histogram' ? base : undefined;
}

function valueOf(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

test.serial('after a workload over HTTP, the JSON equals snapshot() and the Prometheus text counts the same reads', async (t) => {
  const { cache } = t.context;
  const get = async (path: string) => {
    const res = await fetch(base + path);
    t.is(res.status, 200, path);
    return res.json();
  };
  // A real workload: article pages twice (row, row, list), author pages
  // twice (row, count), the front page twice (a tree), and a write.
  for (let round = 0; round < 2; round++) {
    for (const id of [1, 2, 3]) await get(`/articles/${id}`);
    await get('/authors/2');
    await get('/articles?limit=5');
    await cache.settled();
  }
  const patched = await fetch(`${base}/articles/2`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'edited over HTTP' }),
  });
  t.is(patched.status, 200);
  await get('/articles/2');
  // Reads that skip the cache, with two reasons.
  const { Article } = t.context.db.models;
  await Article.findAll({ where: { authorId: 1 }, cache: false });
  const transaction = await t.context.db.sequelize.transaction();
  await Article.findAll({ where: { authorId: 1 }, lock: true, transaction });
  await transaction.rollback();

  const json = await get('/metrics');
  t.deepEqual(json, cache.metrics.snapshot(), 'the JSON endpoint serves snapshot()');
  const s = cache.metrics.snapshot();
  t.true(s.rowHits > 0 && s.listHits > 0 && s.countHits > 0, 'every kind was served from the cache');

  const scrape = await fetch(`${base}/metrics?format=prometheus`);
  t.is(scrape.status, 200);
  t.regex(scrape.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const { types, samples } = parseExposition(await scrape.text());

  // Types follow the conventions: _total counters, gauges, one histogram.
  for (const [name, type] of types) {
    t.true(name.startsWith('orm_cache_'), name);
    if (name.endsWith('_total')) t.is(type, 'counter', name);
  }
  t.is(types.get('orm_cache_read_duration_seconds'), 'histogram');
  t.is(types.get('orm_cache_hit_ratio'), 'gauge');
  t.is(types.get('orm_cache_db_queries_saved'), 'gauge');
  for (const sample of samples) t.truthy(familyOf(sample.name, types), `${sample.name} has a TYPE line`);

  // Counted correctly: every per-model, per-kind series equals the snapshot.
  for (const [model, m] of Object.entries(s.models)) {
    for (const kind of ['row', 'list', 'count'] as const) {
      t.is(valueOf(samples, 'orm_cache_hits_total', { model, kind }), m[kind].hits, `hits ${model} ${kind}`);
      t.is(valueOf(samples, 'orm_cache_misses_total', { model, kind }), m[kind].misses, `misses ${model} ${kind}`);
      t.is(valueOf(samples, 'orm_cache_db_queries_total', { model, kind }), m[kind].dbQueries);
    }
  }
  // Bypasses are counted by reason, and their series add up to `bypassed`.
  t.like(s.models.Article?.bypassReasons.list, { 'cache-false': 1, 'option:lock': 1 });
  for (const [model, m] of Object.entries(s.models)) {
    for (const kind of ['row', 'list', 'count'] as const) {
      const series = samples.filter((x) => x.name === 'orm_cache_bypassed_total' && x.labels.model === model && x.labels.kind === kind);
      t.is(series.reduce((n, x) => n + x.value, 0), m[kind].bypassed, `bypassed ${model} ${kind}`);
      for (const x of series) t.is(m.bypassReasons[kind][x.labels.reason as 'cache-false'], x.value);
    }
  }
  t.is(valueOf(samples, 'orm_cache_invalidations_total', { model: 'Article', cause: 'save' }), 1, 'the PATCH');
  t.is(valueOf(samples, 'orm_cache_hit_ratio', {}), s.hitRatio);
  t.is(valueOf(samples, 'orm_cache_breaker_state', { server: memcachedServers()[0] as string, state: 'closed' }), 1);
  t.is(valueOf(samples, 'orm_cache_breaker_state', { server: memcachedServers()[0] as string, state: 'open' }), 0);
  t.is(valueOf(samples, 'orm_cache_store_read_bytes_total', {}), s.bytesRead);

  // The histogram: cumulative buckets ending in +Inf = _count, for hits and misses of each kind.
  for (const kind of ['row', 'list', 'count'] as const) {
    for (const result of ['hit', 'miss'] as const) {
      const buckets = samples.filter((x) => x.name === 'orm_cache_read_duration_seconds_bucket' && x.labels.kind === kind && x.labels.result === result);
      t.is(buckets.length, s.latency[kind][result].bounds.length + 1);
      for (let i = 1; i < buckets.length; i++) t.true((buckets[i]?.value ?? 0) >= (buckets[i - 1]?.value ?? 0), 'cumulative');
      t.is(buckets.at(-1)?.labels.le, '+Inf');
      const count = valueOf(samples, 'orm_cache_read_duration_seconds_count', { kind, result });
      t.is(buckets.at(-1)?.value, count);
      t.is(count, s.latency[kind][result].count);
    }
  }
  t.true((valueOf(samples, 'orm_cache_read_duration_seconds_count', { kind: 'row', result: 'hit' }) ?? 0) > 0);

  // What Prometheus itself sends selects the same format.
  const byAccept = await fetch(`${base}/metrics`, { headers: { accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1' } });
  t.regex(byAccept.headers.get('content-type') ?? '', /^text\/plain/);
  t.regex(await byAccept.text(), /^# HELP orm_cache_/m);
});

test.serial('Server-Timing tells each request its own cache hits, misses and SQL', async (t) => {
  const cold = await fetch(`${base}/articles/30`);
  t.is(cold.status, 200);
  const first = cold.headers.get('server-timing') ?? '';
  // Article 30 and its comments were never read: two misses with SQL.
  t.regex(first, /cache-hit;desc="0 cache hits";dur=[0-9.]+/);
  t.regex(first, /cache-miss;desc="[23] cache misses, [23] SQL";dur=[0-9.]+/);

  const warm = await fetch(`${base}/articles/30`);
  const second = warm.headers.get('server-timing') ?? '';
  t.regex(second, /cache-hit;desc="3 cache hits";dur=[0-9.]+/, 'article, author and comments all from the cache');
  t.regex(second, /cache-miss;desc="0 cache misses, 0 SQL";dur=0\.000/);

  // Requests in flight together keep their own counts.
  const [a, b] = await Promise.all([fetch(`${base}/articles/30`), fetch(`${base}/articles/31`)]);
  t.regex(a.headers.get('server-timing') ?? '', /"3 cache hits".*"0 cache misses, 0 SQL"/);
  t.regex(b.headers.get('server-timing') ?? '', /cache-miss;desc="[1-3] cache miss(es)?, [1-3] SQL"/, 'the cold article was a miss here only');
});

test.serial("the cache's metrics go into the app's own prom-client registry, or merge with it", async (t) => {
  const { cache } = t.context;
  const own = new Registry();
  new Counter({ name: 'app_requests_total', help: 'requests', registers: [own] }).inc(3);
  cache.registerMetrics(own);
  const text = await own.metrics();
  t.regex(text, /^app_requests_total 3$/m);
  t.regex(text, /^orm_cache_hits_total\{model="Article",kind="row"\} \d+$/m);

  const merged = Registry.merge([cache.registerMetrics(), new Registry()]);
  t.regex(await merged.metrics(), /^# TYPE orm_cache_read_duration_seconds histogram$/m);
});
