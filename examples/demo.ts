/**
 * `npm run demo`: the row cache on a real MariaDB and memcached (started by
 * the test harness). Shows rows served from memcached with no SQL, a write
 * invalidating them, and a short side-by-side run with and without the cache.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { Sequelize } from 'sequelize-typescript';
import { addBlogModels } from '../fixtures/blog';
import { prng, seedBlog } from '../fixtures/seed';
import { MemcachedStore, ormCache } from '../source';

const mysqlUrl = process.env.ORM_CACHE_MYSQL_URL;
const memcached = process.env.ORM_CACHE_MEMCACHED;

function line(text = ''): void {
  process.stdout.write(`${text}\n`);
}

async function main(): Promise<void> {
  if (!mysqlUrl || !memcached) {
    line('Run the demo with `npm run demo`: it starts MariaDB and memcached for it.');
    process.exitCode = 1;
    return;
  }
  const database = `orm_cache_demo_${randomBytes(3).toString('hex')}`;
  const admin = await mysql.createConnection(mysqlUrl);
  await admin.query(`CREATE DATABASE \`${database}\``);
  const url = new URL(mysqlUrl);
  url.pathname = `/${database}`;

  let statements = 0;
  const sequelize = new Sequelize(url.toString(), { dialect: 'mysql', logging: () => void statements++ });
  const models = addBlogModels(sequelize);
  const { Article } = models;
  try {
    await sequelize.sync();
    const articles = 2000;
    await seedBlog(models, { authors: 50, articles, commentsPerArticle: 1, tags: 20 });
    line(`MariaDB ${url.host} (database ${database}), memcached ${memcached}; ${articles} articles seeded\n`);

    const store = new MemcachedStore(memcached.split(','));
    const cache = ormCache.install(sequelize, { store, namespace: `demo${randomBytes(3).toString('hex')}` });

    const show = async (label: string, run: () => Promise<unknown>) => {
      statements = 0;
      const started = performance.now();
      const result = await run();
      const ms = (performance.now() - started).toFixed(2);
      line(`  ${label.padEnd(52)} ${String(statements).padStart(2)} SQL  ${ms.padStart(7)} ms  ${describe(result)}`);
    };
    const describe = (value: unknown) =>
      value && typeof value === 'object' && 'title' in value ? `title: ${JSON.stringify((value as { title: string }).title)}` : String(value);

    line('Row cache, step by step:');
    await show('Article.findByPk(1)                 (cold)', () => Article.findByPk(1));
    await show('Article.findByPk(1)                 (cached)', () => Article.findByPk(1));
    await show("article.update({ title: 'Hello' })", async () => (await Article.findByPk(1, { cache: false }))!.update({ title: 'Hello' }));
    await show('Article.findByPk(1)       (after the write)', () => Article.findByPk(1));
    await show('Article.findByPk(1)           (cached again)', () => Article.findByPk(1));
    await show('Article.findByPk(1, { cache: false })', () => Article.findByPk(1, { cache: false }));

    line('\nLists: pointers to rows, invalidated by the values a write touches:');
    const count = (v: unknown) => `${(v as unknown[]).length} articles`;
    const byAuthor = (authorId: number) => () => Article.findAll({ where: { authorId }, order: [['id', 'ASC']] });
    const show2 = async (label: string, run: () => Promise<unknown>) => show(label, async () => count(await run()));
    await show2('findAll({ where: { authorId: 1 } })   (cold)', byAuthor(1));
    await show2('findAll({ where: { authorId: 1 } })   (cached)', byAuthor(1));
    await show2('findAll({ where: { authorId: 2 } })   (cold)', byAuthor(2));
    await show('Article.create({ authorId: 1, ... })', () => Article.create({ title: 'New', authorId: 1 }));
    await show2('findAll({ where: { authorId: 1 } })   (rebuilt)', byAuthor(1));
    await show2('findAll({ where: { authorId: 2 } })   (still cached)', byAuthor(2));

    const reads = 3000;
    const random = prng(7);
    const ids = Array.from({ length: reads }, () => 1 + Math.floor(random() ** 3 * articles));
    const run = async (useCache: boolean) => {
      statements = 0;
      const started = performance.now();
      for (let i = 0; i < ids.length; i += 10) {
        await Promise.all(ids.slice(i, i + 10).map((id) => Article.findByPk(id, { cache: useCache })));
      }
      const seconds = (performance.now() - started) / 1000;
      return { rate: reads / seconds, sql: statements / reads };
    };
    await run(true); // warm the hot rows
    const without = await run(false);
    const withCache = await run(true);
    line(`\n${reads} findByPk over skewed ids, 10 at a time:`);
    line(`  ${'mode'.padEnd(12)} ${'reads/s'.padStart(9)}  SQL per read`);
    line(`  ${'no cache'.padEnd(12)} ${without.rate.toFixed(0).padStart(9)}  ${without.sql.toFixed(3)}`);
    line(`  ${'row cache'.padEnd(12)} ${withCache.rate.toFixed(0).padStart(9)}  ${withCache.sql.toFixed(3)}`);
    const m = cache.metrics.snapshot();
    line(
      `\nmetrics: ${m.rowHits} row hits, ${m.rowMisses} row misses, ${m.listHits} list hits, ${m.listMisses} list misses, ` +
        `${m.rowFills} row fills, ${m.invalidations} invalidations, ${m.storeErrors} store errors`,
    );
    cache.uninstall();
    await store.close();
  } finally {
    await sequelize.close();
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
