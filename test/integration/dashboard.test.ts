/**
 * The dashboard end to end in a real headless Chromium (Debian's, driven by
 * playwright-core), against the demo's blog API on real MariaDB and
 * memcached: a cold phase and a warm phase of real requests, then the page's
 * numbers are checked against snapshot() and a screenshot of the chart is
 * checked for the drawn line.
 */
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import anyTest, { type TestFn } from 'ava';
import mysql from 'mysql2/promise';
import { type Browser, chromium } from 'playwright-core';
import { PNG } from 'pngjs';
import { blogApi } from '../../examples/blog-api';
import { findBinary } from '../harness/servers';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';
import { memcachedServers } from '../helpers/test-database';

const test = anyTest as TestFn<CachedBlog>;
useCachedBlog(test, 'dashboard', { authors: 4, articles: 40, commentsPerArticle: 2 });

const POLL_MS = 250;
let server: Server | undefined;
let browser: Browser | undefined;

test.after.always(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

/** Launch Debian's Chromium with the flags a closed network needs. */
async function launch(): Promise<Browser> {
  const executablePath = findBinary('chromium');
  if (!executablePath) throw new Error("Debian's chromium is not installed (npm test installs it when run as root)");
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

test('the dashboard shows a real run: hit ratio over time, per-model numbers, store health, warnings', async (t) => {
  const { db, cache } = t.context;
  server = blogApi(db.models, cache, { dashboardPollMs: POLL_MS }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server?.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  const requests: string[] = [];
  page.on('request', (request) => requests.push(request.url()));

  await page.goto(`${base}/cache`);
  const polls = async () => Number((await page.getAttribute('body', 'data-polls')) ?? 0);
  const nextPoll = async () => {
    const seen = await polls();
    // The function runs in the page; the string keeps DOM types out of a Node project.
    await page.waitForFunction(`Number(document.body.getAttribute('data-polls') || 0) > ${seen}`);
  };
  await nextPoll();

  // A warning to show: a list points at a row deleted behind the cache's back.
  const list = await db.models.Article.findAll({ where: { authorId: 4 }, order: [['id', 'ASC']] });
  await cache.settled();
  const other = await mysql.createConnection(db.url);
  await other.query('DELETE FROM comments WHERE articleId = ?', [list[0]!.id]);
  await other.query('DELETE FROM articles WHERE id = ?', [list[0]!.id]);
  await other.end();
  await cache.forget(db.models.Article, { where: { id: list[0]!.id } });
  await db.models.Article.findAll({ where: { authorId: 4 }, order: [['id', 'ASC']] });

  // Cold phase, then (after a poll) the same pages warm: two intervals of
  // very different hit ratios.
  const pages = Array.from({ length: 31 }, (_, i) => i + 1)
    .filter((id) => id !== list[0]!.id)
    .map((id) => `${base}/articles/${id}`);
  const phase = async () => {
    for (const url of pages) t.is((await fetch(url)).status, 200);
    await cache.settled();
    await nextPoll();
    await nextPoll(); // a whole interval with no reads in between phases
  };
  await phase();
  await phase();
  // Reads that skip the cache, for the bypass table.
  for (let i = 0; i < 3; i++) await db.models.Article.findAll({ where: { authorId: 2 }, cache: false });
  await db.models.Comment.count({ where: { articleId: 2 }, cache: false });
  await nextPoll();

  const s = cache.metrics.snapshot();
  const pct = (r: number) => `${(r * 100).toFixed(1)}%`;
  t.is(await page.textContent('#t-ratio'), pct(s.hitRatio));
  t.is(await page.textContent('#t-saved'), s.dbQueriesSaved.toLocaleString('en-US'));

  // The chart: one point per interval with reads; the cold one low, the warm one at 100%.
  const ratios = (await page.$$eval('#hit-chart circle', (nodes) => nodes.map((n) => Number(n.getAttribute('data-ratio'))))) as number[];
  t.true(ratios.length >= 2, `${ratios.length} points`);
  t.true(Math.min(...ratios) < 0.5, `a cold interval: ${ratios.join(', ')}`);
  t.is(ratios.at(-1), 1, 'the warm interval was all hits');
  t.is(await page.textContent('#chart-latest'), '100.0%');

  // The per-model table equals the snapshot.
  const article = s.models.Article!;
  const articleReads = ['row', 'list', 'count'].reduce((n, k) => n + article[k as 'row'].hits + article[k as 'row'].misses, 0);
  const cells = await page.$$eval('#models tr[data-model="Article"] td', (tds) => tds.map((td) => td.textContent));
  t.is(cells[0], 'Article');
  t.is(cells[1], articleReads.toLocaleString('en-US'));
  t.is(cells[3], `${article.row.hits} / ${article.row.misses}`);
  t.is(cells[4], `${article.list.hits} / ${article.list.misses}`);
  t.truthy(await page.$('#models tr[data-model="Comment"]'));

  // Coverage and the bypass reasons, most frequent first.
  t.is(await page.textContent('#t-coverage'), pct(s.coverage));
  const bypasses = await page.$$eval('#bypasses tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
  t.deepEqual(bypasses, [
    ['Article', 'list', 'cache-false', '3'],
    ['Comment', 'count', 'cache-false', '1'],
  ]);

  // Store health and the warning.
  const servers = await page.$$eval('#servers tbody td', (tds) => tds.map((td) => td.textContent));
  t.deepEqual(servers, [memcachedServers()[0], 'closed', '0']);
  const warning = await page.$$eval('#warnings tbody td', (tds) => tds.map((td) => td.textContent));
  t.is(warning[1], 'Article');
  t.is(warning[2], JSON.stringify([list[0]!.id]));

  // The screenshot shows the line: enough pixels of its colour in the chart.
  const shot = PNG.sync.read(await page.locator('#hit-chart').screenshot());
  let line = 0;
  for (let i = 0; i < shot.data.length; i += 4) {
    const [r, g, b] = [shot.data[i] as number, shot.data[i + 1] as number, shot.data[i + 2] as number];
    if (Math.abs(r - 0x24) < 30 && Math.abs(g - 0x63) < 30 && Math.abs(b - 0xeb) < 30) line++;
  }
  t.true(line > 150, `${line} pixels of the chart line`);
  if (process.env.ORM_CACHE_DASHBOARD_PNG) writeFileSync(process.env.ORM_CACHE_DASHBOARD_PNG, await page.screenshot({ fullPage: true }));

  t.deepEqual(errors, [], 'no script errors');
  t.deepEqual(
    requests.filter((url) => !url.startsWith(base)),
    [],
    'the page loads nothing from anywhere else',
  );
});
