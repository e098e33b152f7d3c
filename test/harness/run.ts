/**
 * `npm test` and `npm run demo`: start throwaway MariaDB and memcached servers
 * (or use ORM_CACHE_MYSQL_URL / ORM_CACHE_MEMCACHED), run the command against
 * them, and stop everything afterwards, also on failure or Ctrl-C.
 *
 *   node test/harness/run.js [--demo | --bench | --sequelize] [--memcached N] [ava, demo, bench or suite arguments]
 *
 * `--sequelize` (`npm run test:sequelize`) runs Sequelize's own integration
 * suite (../shared/sequelize-suite, or ORM_CACHE_SEQUELIZE_SUITE) without and
 * then with the cache installed on every Sequelize instance
 * (test/sequelize-suite/install-cache.js), and fails on any test that fails
 * only with the cache and is not in test/sequelize-suite/allowed-failures.txt.
 *
 * After the ava suite passes (and when no test files were named), `npm test`
 * also runs the short soak (test/soak/run.ts, every scenario for a few seconds).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBinaries, startServers, type TestServers } from './servers';

const root = join(__dirname, '..', '..');

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env, stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', forward).off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const demo = argv.includes('--demo');
  const bench = argv.includes('--bench');
  const suite = argv.includes('--sequelize');
  const countFlag = argv.indexOf('--memcached');
  const memcachedCount = countFlag >= 0 ? Number(argv[countFlag + 1]) : 1;
  // Everything that is not the harness's own flag goes to ava (or the demo).
  const passThrough = argv.filter(
    (arg, i) =>
      arg !== '--demo' && arg !== '--bench' && arg !== '--sequelize' && arg !== '--memcached' && argv[i - 1] !== '--memcached',
  );

  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!demo && !bench && !suite) {
    process.stderr.write('[harness] type-checking\n');
    const code = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--noEmit'], process.env);
    if (code !== 0) return code;
    // The dashboard test drives Debian's Chromium (a fresh CI machine has none).
    ensureBinaries({ chromium: true });
  }

  let servers: TestServers | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= servers ? servers.stop() : Promise.resolve());
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`[harness] ${signal}: stopping servers\n`);
    void stop().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal).once('SIGHUP', onSignal);

  try {
    const started = Date.now();
    servers = await startServers({ memcachedCount, memcachedOptional: demo });
    const memcachedFrom =
      servers.memcached.length === 0 ? 'unavailable' : servers.owned.memcached.length ? 'started' : 'from ORM_CACHE_MEMCACHED';
    process.stderr.write(
      `[harness] MariaDB ${servers.owned.mariadb ? 'started' : 'from ORM_CACHE_MYSQL_URL'}, ` +
        `memcached ${servers.memcached.join(',')} ${memcachedFrom} (${Date.now() - started} ms)\n`,
    );
    const env = {
      ...process.env,
      ORM_CACHE_MYSQL_URL: servers.mysqlUrl,
      ORM_CACHE_MEMCACHED: servers.memcached.join(','),
      ORM_CACHE_HARNESS: '1',
      ORM_CACHE_MYSQL_FROM: servers.owned.mariadb ? 'started by the harness' : 'from ORM_CACHE_MYSQL_URL',
      ORM_CACHE_MEMCACHED_FROM: servers.owned.memcached.length ? 'started by the harness' : 'from ORM_CACHE_MEMCACHED',
    };
    if (suite) return await runSequelizeSuite(servers, passThrough, env);
    if (demo || bench) {
      const script = demo ? join('examples', 'demo.ts') : join('bench', 'run.ts');
      return await run(process.execPath, ['-r', 'ts-node/register/transpile-only', script, ...passThrough], env);
    }
    const ava = join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
    const code = await run(process.execPath, [ava, ...passThrough], env);
    // The short soak: every fault scenario for a few seconds, in processes of
    // its own (it starts and kills its own servers). Skipped when only some
    // test files were asked for.
    if (code !== 0 || passThrough.some((arg) => !arg.startsWith('-'))) return code;
    process.stderr.write('[harness] short soak (npm run soak for the long one)\n');
    return await run(process.execPath, ['-r', 'ts-node/register/transpile-only', join('test', 'soak', 'run.ts'), '--seconds', '4', '--processes', '3', '--loops', '3'], env);
  } finally {
    await stop();
  }
}

/**
 * Sequelize's suite through its run.sh, against the harness's MariaDB (the
 * test account is the suite's admin user) and memcached; the failures that
 * appear only with the cache are then checked against the allow-list.
 */
async function runSequelizeSuite(servers: TestServers, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
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
  return checkAllowed(work, join(root, 'test', 'sequelize-suite', 'allowed-failures.txt'), code);
}

/**
 * The suite's verdict with the allow-listed titles taken out: each line of
 * the allow-list is a test's full title, then ` # ` and why its difference
 * is deliberate (documented in docs/transparency.md).
 */
function checkAllowed(work: string, allowListFile: string, code: number): number {
  const newFailuresFile = join(work, 'new-failures.txt');
  const log = join(work, 'with.log');
  if (!existsSync(newFailuresFile) || !existsSync(log)) return code || 1;
  const withLog = readFileSync(log, 'utf8');
  if (withLog.includes('testing cannot continue') || !/^ {2}\d+ passing/m.test(withLog)) {
    process.stdout.write('sequelize suite: the run with the cache aborted (see .tmp/sequelize-suite/with.log)\n');
    return 1;
  }
  const allowed = new Set(
    readFileSync(allowListFile, 'utf8')
      .split('\n')
      .map((line) => line.replace(/ # .*$/, '').trim())
      .filter((line) => line && !line.startsWith('#')),
  );
  const failures = readFileSync(newFailuresFile, 'utf8').split('\n').filter(Boolean);
  const unexpected = failures.filter((title) => !allowed.has(title));
  for (const title of failures.filter((t) => allowed.has(t))) process.stdout.write(`allowed (see the allow-list): ${title}\n`);
  for (const title of unexpected) process.stdout.write(`failing only with the cache: ${title}\n`);
  process.stdout.write(`sequelize suite: ${unexpected.length} failing only with the cache (${failures.length - unexpected.length} allowed)\n`);
  // The verdict as the last line, in the plain form CI reads: run.sh's own
  // last line counts the allowed failures too.
  const passing = Number(/^ {2}(\d+) passing/m.exec(withLog)?.[1] ?? 0);
  process.stdout.write(`sequelize: ${passing} passed, ${unexpected.length} failed\n`);
  return unexpected.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`[harness] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
