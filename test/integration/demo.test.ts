/**
 * `npm run demo -- --once`, as a fresh clone runs it (on the servers the
 * harness started for the suite): it must print the comparison table and
 * exit 0, with the numbers the table is for actually measured.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';

test('the demo serves the blog API with and without the cache, prints the table and exits with --once', (t) => {
  const root = join(__dirname, '..', '..');
  const run = spawnSync(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', join('examples', 'demo.ts'), '--once', '--requests', '400', '--port', '0'],
    { cwd: root, env: process.env, encoding: 'utf8', timeout: 110_000 },
  );
  t.is(run.status, 0, run.stderr);
  const output = run.stdout;
  t.regex(output, /cache +memcached 127\.0\.0\.1:\d+/, 'says which store it runs on');
  t.regex(output, /with the cache +█+ 100% 400\/400/, 'the progress bar reached the end');
  const row = (label: string) => {
    const match = new RegExp(`^  ${label} +([0-9.]+)(?: ms)? +([0-9.]+)(?: ms)?`, 'm').exec(output);
    t.truthy(match, `${label} row in:\n${output}`);
    return [Number(match?.[1]), Number(match?.[2])] as const;
  };
  const [plainRate, cachedRate] = row('requests / s');
  t.true(plainRate > 0 && cachedRate > 0);
  row('p50 latency');
  row('p99 latency');
  const [plainSql, cachedSql] = row('SQL statements / request');
  t.true(cachedSql < plainSql / 2, `SQL per request ${plainSql} → ${cachedSql}`);
  const ratio = /^  cache hit ratio +– +([0-9.]+)%/m.exec(output);
  t.truthy(ratio);
  t.true(Number(ratio?.[1]) > 50, `hit ratio ${ratio?.[1]}%`);
  const coverage = /^  coverage \(reads via cache\) +– +([0-9.]+)%/m.exec(output);
  t.truthy(coverage, output);
  t.true(Number(coverage?.[1]) > 0 && Number(coverage?.[1]) <= 100);
  t.regex(output, /^  Reads that bypassed the cache: \d+/m);
  t.regex(output, /Server-Timing of GET \/articles\/1: cache-hit;desc="3 cache hits"/);
  t.notRegex(output, /still running/, '--once does not leave the server up');
});

test('the demo runs on Redis with --store redis', (t) => {
  const root = join(__dirname, '..', '..');
  const run = spawnSync(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', join('examples', 'demo.ts'), '--once', '--store', 'redis', '--requests', '300', '--port', '0'],
    { cwd: root, env: process.env, encoding: 'utf8', timeout: 110_000 },
  );
  t.is(run.status, 0, run.stderr);
  t.regex(run.stdout, /cache +Redis redis:\/\/127\.0\.0\.1:\d+/, 'says which store it runs on');
  const ratio = /^  cache hit ratio +– +([0-9.]+)%/m.exec(run.stdout);
  t.true(Number(ratio?.[1]) > 50, `hit ratio ${ratio?.[1]}% in:\n${run.stdout}`);
});
