/**
 * `npm run bench:ab`: this checkout against another one, in one process, on
 * one database and one memcached, rounds interleaved. This machine's speed
 * drifts by 10–15 % between runs (docs/benchmarks.md), more than most
 * changes move a workload, so a change is measured against its parent side
 * by side rather than across two bench runs.
 *
 *   npm run bench:ab -- --base ../other-checkout [--workload W1|W2|W4|W6] [--inflight 1] [--rounds 21] [--ops 1000]
 *
 * `--base` is a checkout of this project with its own `node_modules` (or a
 * link to this one's). Each system (base, this checkout, plain Sequelize)
 * works on its own 1000 articles: W1 reads 50 of them by key, W4 reads 200
 * by key with one title update in 20, W6 updates the title of each in turn;
 * W2 (reads only, so over all articles) lists an author's 50 latest
 * published articles, as the bench's W2.
 * Prints per system the median wall and CPU µs per operation over the
 * measured rounds (the first round of each warms up), and each round's wall
 * time, in the order run.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import mysql from 'mysql2/promise';
import type { Model, ModelStatic } from 'sequelize';
import { Sequelize } from 'sequelize-typescript';
import { addBlogModels } from '../fixtures/blog';
import { seedBlog } from '../fixtures/seed';
import * as here from '../source';

function option(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : fallback;
  if (value === undefined) throw new Error(`--${name} is required`);
  return value;
}

function count(name: string, fallback: number): number {
  const value = Number(option(name, String(fallback)));
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} takes a whole number above 0`);
  return value;
}

type Plugin = Pick<typeof here, 'ormCache' | 'MemcachedStore'>;
type Article = Model & { update(values: object): Promise<unknown> };

interface Side {
  name: string;
  run: (i: number) => Promise<unknown>;
  walls: number[];
  cpus: number[];
  close: () => Promise<unknown>;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const mysqlUrl = process.env.ORM_CACHE_MYSQL_URL;
  const memcached = process.env.ORM_CACHE_MEMCACHED;
  if (!mysqlUrl || !memcached) throw new Error('run it with `npm run bench:ab`: it starts MariaDB and memcached');
  const basePath = resolve(option('base'));
  const workload = option('workload', 'W6');
  if (!['W1', 'W2', 'W4', 'W6'].includes(workload)) throw new Error(`--workload takes W1, W2, W4 or W6, got ${workload}`);
  const inflight = count('inflight', 1);
  const rounds = count('rounds', 21);
  const ops = count('ops', 1000);
  /* eslint-disable-next-line @typescript-eslint/no-require-imports -- a path known only at run time */
  const base = require(resolve(basePath, 'source')) as Plugin;

  const database = `orm_cache_ab_${randomBytes(3).toString('hex')}`;
  const admin = await mysql.createConnection(mysqlUrl);
  await admin.query(`CREATE DATABASE \`${database}\``);
  const url = new URL(mysqlUrl);
  url.pathname = `/${database}`;
  const open = () => new Sequelize(url.toString(), { dialect: 'mysql', logging: false, pool: { max: 10 } });
  const sides: Side[] = [];
  try {
    const seeder = open();
    const seedModels = addBlogModels(seeder);
    await seeder.sync();
    await seedBlog(seedModels, { articles: 3000, authors: 20, commentsPerArticle: 1, tags: 10, batchSize: 1000 });
    await seeder.close();
    const plugins: [string, Plugin | undefined][] = [[`base (${basePath})`, base], ['this checkout', here], ['plain Sequelize', undefined]];
    for (const [index, [name, plugin]] of plugins.entries()) {
      const sequelize = open();
      const Articles = addBlogModels(sequelize).Article as unknown as ModelStatic<Article>;
      const store = plugin ? new plugin.MemcachedStore(memcached.split(','), { timeoutMs: 200 }) : undefined;
      const cache = plugin && store ? plugin.ormCache.install(sequelize, { store, namespace: `ab${randomBytes(3).toString('hex')}` }) : undefined;
      const first = 1 + index * 1000;
      const byPk = (n: number) => Articles.findByPk(first + n);
      const loaded = (await Articles.findAll({ cache: false, order: [['id', 'ASC']], offset: first - 1, limit: 1000 } as object)) as Article[];
      let run: (i: number) => Promise<unknown>;
      if (workload === 'W1') run = (i) => byPk(i % 50);
      else if (workload === 'W2') run = (i) => Articles.findAll({ where: { authorId: 1 + (i % 20), published: true }, order: [['id', 'DESC']], limit: 50 });
      else if (workload === 'W4') run = (i) => (i % 20 === 7 ? byPk((i * 7) % 200).then((a) => a?.update({ title: `${index}-${i}` })) : byPk((i * 13) % 200));
      else run = (i) => (loaded[i % loaded.length] as Article).update({ title: `${index}-${i}` });
      sides.push({
        name,
        run,
        walls: [],
        cpus: [],
        close: async () => {
          cache?.uninstall();
          await store?.close();
          await sequelize.close();
        },
      });
    }
    let op = 0; // one sequence over all rounds: every update sets a new title
    const round = async (side: Side, measured: boolean) => {
      const start = op;
      op += ops;
      let next = 0;
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      await Promise.all(Array.from({ length: inflight }, async () => {
        for (let i = next++; i < ops; i = next++) await side.run(start + i);
      }));
      const cpu = process.cpuUsage(cpu0);
      if (!measured) return;
      side.walls.push(((performance.now() - t0) * 1000) / ops);
      side.cpus.push((cpu.user + cpu.system) / ops);
    };
    for (const side of sides) await round(side, false);
    // Alternate the order so that no system always runs right after another.
    for (let r = 0; r < rounds; r++) for (const side of r % 2 ? [...sides].reverse() : sides) await round(side, true);
    process.stdout.write(`${workload}, ${inflight} in flight, ${rounds} rounds × ${ops} ops per system\n`);
    for (const side of sides) {
      process.stdout.write(
        `  ${side.name}: median ${median(side.walls).toFixed(0)} µs/op wall, ${median(side.cpus).toFixed(0)} µs/op CPU; rounds ${side.walls.map((w) => w.toFixed(0)).join(' ')}\n`,
      );
    }
  } finally {
    for (const side of sides) await side.close().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
