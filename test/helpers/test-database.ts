/**
 * What an integration test file needs: its own database on the harness's
 * MariaDB, the blog models in it, a private key namespace on the harness's
 * memcached, and a log of the SQL each query issued (hits are proved by
 * counting statements, not by timing).
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { Sequelize } from 'sequelize-typescript';
import { type CacheStore, MemcachedStore, RedisStore } from '../../source';
import { addBlogModels, type BlogModels } from '../../fixtures/blog';
import { type SeededBlog, type SeedOptions, seedBlog } from '../../fixtures/seed';

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the tests with \`npm test\`, which starts MariaDB and memcached`);
  }
  return value;
}

/** `host:port` of the harness's memcached servers. */
export function memcachedServers(): string[] {
  return required('ORM_CACHE_MEMCACHED').split(',');
}

/** The URL of the harness's standalone Redis server. */
export function redisUrl(): string {
  return required('ORM_CACHE_REDIS');
}

/**
 * The store a test process, or a child process of a test, shares with the
 * others: the harness's memcached (the default), its standalone Redis
 * (`'redis'`), or the Redis Cluster a test put in ORM_CACHE_REDIS_CLUSTER,
 * with the options in ORM_CACHE_REDIS_OPTIONS (`'cluster'`).
 */
export function sharedStore(kind: string | undefined, timeoutMs: number): CacheStore {
  if (kind === 'redis') return new RedisStore(redisUrl(), { timeoutMs });
  if (kind === 'cluster') return new RedisStore(required('ORM_CACHE_REDIS_CLUSTER').split(','), JSON.parse(process.env.ORM_CACHE_REDIS_OPTIONS ?? '{}'));
  return new MemcachedStore(memcachedServers(), { timeoutMs });
}

/** A namespace no other test (or run) uses. */
export function uniqueNamespace(prefix = 't'): string {
  return `${prefix}${randomBytes(6).toString('hex')}`;
}

/** The SQL statements a Sequelize instance issued. */
export class SqlLog {
  readonly statements: string[] = [];
  /** Statements since the last `take()`. */
  take(): string[] {
    return this.statements.splice(0);
  }
  /** SELECTs since the last `take()`. */
  selects(): string[] {
    return this.take().filter((s) => /\bSELECT\b/i.test(s));
  }
}

/** One test database with the blog in it. */
export interface TestDatabase {
  name: string;
  url: string;
  sequelize: Sequelize;
  models: BlogModels;
  sql: SqlLog;
  seeded: SeededBlog;
  /** Another connection pool + models on the same database (a second "app"). */
  connect(options?: { timezone?: string }): Promise<{ sequelize: Sequelize; models: BlogModels; sql: SqlLog }>;
  drop(): Promise<void>;
}

function databaseUrl(name: string): string {
  const url = new URL(required('ORM_CACHE_MYSQL_URL'));
  url.pathname = `/${name}`;
  return url.toString();
}

/** Open Sequelize with the blog models on database `name`. */
export async function openBlog(name: string, options: { pool?: number; timezone?: string } = {}) {
  const sql = new SqlLog();
  const sequelize = new Sequelize(databaseUrl(name), {
    dialect: 'mysql',
    logging: (statement: string) => {
      sql.statements.push(statement);
    },
    pool: { max: options.pool ?? 10 },
    ...(options.timezone ? { timezone: options.timezone } : {}),
  });
  const models = addBlogModels(sequelize);
  return { sequelize, models, sql };
}

/** Create a fresh database, sync the blog schema and seed it. */
export async function createTestDatabase(label: string, seed: SeedOptions = {}): Promise<TestDatabase> {
  const name = `oc_${label.replace(/[^a-z0-9_]/gi, '_').slice(0, 30)}_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection(required('ORM_CACHE_MYSQL_URL'));
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
  await admin.end();
  const { sequelize, models, sql } = await openBlog(name);
  await sequelize.sync();
  const seeded = await seedBlog(models, seed);
  sql.take();
  const others: Sequelize[] = [];
  return {
    name,
    url: databaseUrl(name),
    sequelize,
    models,
    sql,
    seeded,
    async connect(options = {}) {
      const opened = await openBlog(name, options);
      others.push(opened.sequelize);
      return opened;
    },
    async drop() {
      await Promise.allSettled([sequelize.close(), ...others.map((s) => s.close())]);
      const conn = await mysql.createConnection(required('ORM_CACHE_MYSQL_URL'));
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
    },
  };
}
