/**
 * `npm test` and `npm run demo`: start throwaway MariaDB and memcached servers
 * (or use ORM_CACHE_MYSQL_URL / ORM_CACHE_MEMCACHED), run the command against
 * them, and stop everything afterwards, also on failure or Ctrl-C.
 *
 *   node test/harness/run.js [--demo | --bench [--profile | --ab] | --sequelize] [--memcached N] [ava, demo, bench or suite arguments]
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
import { join } from 'node:path';
import { root, run } from './child';
import { runSequelizeSuite } from './sequelize-suite';
import { RedisServer } from './redis-server';
import { ensureBinaries, startServers, type TestServers } from './servers';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const demo = argv.includes('--demo');
  const bench = argv.includes('--bench');
  const suite = argv.includes('--sequelize');
  const profile = argv.includes('--profile');
  const ab = argv.includes('--ab');
  const countFlag = argv.indexOf('--memcached');
  const memcachedCount = countFlag >= 0 ? Number(argv[countFlag + 1]) : 1;
  // Everything that is not the harness's own flag goes to ava (or the demo).
  const passThrough = argv.filter(
    (arg, i) =>
      arg !== '--demo' &&
      arg !== '--bench' &&
      arg !== '--profile' &&
      arg !== '--ab' &&
      arg !== '--sequelize' &&
      arg !== '--memcached' &&
      argv[i - 1] !== '--memcached',
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
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ORM_CACHE_MYSQL_URL: servers.mysqlUrl,
      ORM_CACHE_MEMCACHED: servers.memcached.join(','),
      ORM_CACHE_HARNESS: '1',
      ORM_CACHE_MYSQL_FROM: servers.owned.mariadb ? 'started by the harness' : 'from ORM_CACHE_MYSQL_URL',
      ORM_CACHE_MEMCACHED_FROM: servers.owned.memcached.length ? 'started by the harness' : 'from ORM_CACHE_MEMCACHED',
    };
    // The Redis store's tests and bench rows: a standalone server of the
    // harness's own (the cluster tests start their own nodes).
    const demoOnRedis = demo && passThrough.join(' ').includes('--store redis');
    if (!process.env.ORM_CACHE_REDIS && ((!demo && !suite) || demoOnRedis)) {
      ensureBinaries({ redis: true });
      const redis = await RedisServer.launch(servers.dir);
      const stopServers = servers.stop;
      servers.stop = async () => {
        await redis.stop();
        await stopServers();
      };
      env.ORM_CACHE_REDIS = redis.url;
      env.ORM_CACHE_REDIS_FROM = 'started by the harness';
      process.stderr.write(`[harness] Redis ${redis.url} started\n`);
    }
    if (suite) return await runSequelizeSuite(servers, passThrough, env);
    if (demo || bench) {
      const script = demo ? join('examples', 'demo.ts') : join('bench', profile ? 'profile.ts' : ab ? 'ab.ts' : 'run.ts');
      // --expose-gc: the bench compares heaps after a full collection.
      const flags = bench ? ['--expose-gc'] : [];
      return await run(process.execPath, [...flags, '-r', 'ts-node/register/transpile-only', script, ...passThrough], env);
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

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`[harness] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
