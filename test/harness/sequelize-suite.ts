/**
 * `npm run test:sequelize`: Sequelize's own integration suite through its
 * run.sh (without, then with the cache installed on every instance by
 * test/sequelize-suite/install-cache.js), against the harness's MariaDB and
 * memcached. A test that fails only with the cache fails the run unless it is
 * on the allow-list or Sequelize's suite shows the same failure without the
 * cache when that test is run again (docs/transparency.md).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { root, run } from './child';
import type { TestServers } from './servers';

/**
 * How many times a test that failed only with the cache is run again without
 * it. Several of Sequelize's tests compare the results of unordered queries
 * over rows inserted concurrently, and fail now and then without any cache
 * (model/scope/merge.test.js, "regardless of their order", about one run in
 * ten whole-file runs, one in fifty alone); one full run with and one without cannot tell those from a
 * failure the cache causes.
 */
const PLAIN_RERUNS = Number(process.env.ORM_CACHE_SUITE_RERUNS ?? 300);

export async function runSequelizeSuite(servers: TestServers, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const suiteDir = process.env.ORM_CACHE_SEQUELIZE_SUITE ?? join(root, '..', 'shared', 'sequelize-suite');
  if (!existsSync(join(suiteDir, 'run.sh'))) {
    process.stderr.write(`[harness] no Sequelize suite at ${suiteDir} (set ORM_CACHE_SEQUELIZE_SUITE)\n`);
    return 1;
  }
  if (servers.memcached.length === 0) throw new Error('the Sequelize suite needs memcached');
  const url = new URL(servers.mysqlUrl);
  // A work directory of our own, kept between runs for its node_modules.
  const work = process.env.ORM_CACHE_SEQUELIZE_WORKDIR ?? join(root, '.tmp', 'sequelize-suite');
  mkdirSync(work, { recursive: true });
  const suiteEnv = {
    ...env,
    SEQ_MYSQL_HOST: url.hostname,
    SEQ_MYSQL_PORT: url.port,
    SEQ_MYSQL_ADMIN_USER: decodeURIComponent(url.username),
    SEQ_MYSQL_ADMIN_PW: decodeURIComponent(url.password),
  };
  const started = Date.now();
  const code = await run(
    'bash',
    [join(suiteDir, 'run.sh'), '--require', join(root, 'test', 'sequelize-suite', 'install-cache.js'), '--workdir', work, ...args],
    suiteEnv,
  );
  process.stderr.write(`[harness] Sequelize suite: ${Math.round((Date.now() - started) / 1000)} s\n`);
  const verdict = readVerdict(work, join(root, 'test', 'sequelize-suite', 'allowed-failures.txt'));
  if (verdict === undefined) return code || 1;
  const unexpected: string[] = [];
  for (const title of verdict.unexpected) {
    const rerunStarted = Date.now();
    const rerun = failsWithoutCache(work, suiteDir, title, suiteEnv);
    process.stderr.write(`[harness] ${PLAIN_RERUNS} plain reruns: ${Math.round((Date.now() - rerunStarted) / 1000)} s\n`);
    if (rerun) process.stdout.write(`fails without the cache too (${rerun} of ${PLAIN_RERUNS} plain reruns), not counted: ${title}\n`);
    else unexpected.push(title);
  }
  for (const title of unexpected) process.stdout.write(`failing only with the cache: ${title}\n`);
  process.stdout.write(`sequelize suite: ${unexpected.length} failing only with the cache (${verdict.allowed} allowed)\n`);
  // The verdict as the last line, in the plain form CI reads: run.sh's own
  // last line counts the allowed failures too.
  process.stdout.write(`sequelize: ${verdict.passing} passed, ${unexpected.length} failed\n`);
  return unexpected.length === 0 ? 0 : 1;
}

/**
 * The failures that appear only with the cache, less the allow-listed ones:
 * each line of the allow-list is a test's full title, then ` # ` and why its
 * difference is deliberate. Undefined when the run with the cache aborted.
 */
function readVerdict(work: string, allowListFile: string): { passing: number; unexpected: string[]; allowed: number } | undefined {
  const newFailuresFile = join(work, 'new-failures.txt');
  const log = join(work, 'with.log');
  if (!existsSync(newFailuresFile) || !existsSync(log)) return undefined;
  const withLog = readFileSync(log, 'utf8');
  if (withLog.includes('testing cannot continue') || !/^ {2}\d+ passing/m.test(withLog)) {
    process.stdout.write('sequelize suite: the run with the cache aborted (see .tmp/sequelize-suite/with.log)\n');
    return undefined;
  }
  const allowed = new Set(
    readFileSync(allowListFile, 'utf8')
      .split('\n')
      .map((line) => line.replace(/ # .*$/, '').trim())
      .filter((line) => line && !line.startsWith('#')),
  );
  const failures = readFileSync(newFailuresFile, 'utf8').split('\n').filter(Boolean);
  for (const title of failures.filter((t) => allowed.has(t))) process.stdout.write(`allowed (see the allow-list): ${title}\n`);
  return {
    passing: Number(/^ {2}(\d+) passing/m.exec(withLog)?.[1] ?? 0),
    unexpected: failures.filter((title) => !allowed.has(title)),
    allowed: failures.filter((t) => allowed.has(t)).length,
  };
}

/**
 * Run the one test `title` names again without the cache, PLAIN_RERUNS
 * times in one mocha process (test/sequelize-suite/rerun.spec.js), in the
 * work directory run.sh prepared; how many of those runs failed it (0 also
 * when its file cannot be found: then it counts against the cache).
 */
function failsWithoutCache(work: string, suiteDir: string, title: string, env: NodeJS.ProcessEnv): number {
  const name = title.split(' / ').pop() ?? title;
  const files = specFilesMentioning(join(work, 'test', 'integration'), name);
  if (files.length === 0) return 0;
  const grep = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const mocha = spawnSync('npx', ['mocha', '--exit', '--reporter', 'dot', '--grep', grep, join(root, 'test', 'sequelize-suite', 'rerun.spec.js')], {
    cwd: work,
    env: {
      ...env,
      DIALECT: 'mysql',
      SEQ_MYSQL_DB: env.SEQ_MYSQL_DB ?? 'sequelize_test',
      ORM_CACHE_RERUN_FILES: JSON.stringify(files),
      ORM_CACHE_RERUN_TIMES: String(PLAIN_RERUNS),
    },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 600_000,
  });
  const titles = spawnSync(process.execPath, [join(suiteDir, 'titles.js')], { input: mocha.stdout ?? '', encoding: 'utf8' });
  return (titles.stdout ?? '').split('\n').filter((line) => line === title).length;
}

/** The suite's test files whose text contains `name` (a test's own title). */
function specFilesMentioning(dir: string, name: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...specFilesMentioning(path, name));
    else if (entry.endsWith('.test.js') && readFileSync(path, 'utf8').includes(name)) found.push(path);
  }
  return found;
}
