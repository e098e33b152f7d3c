/**
 * The systems the benchmark compares, each behind one interface: how it reads
 * a row by key, the two list queries, and how it updates an article, each the
 * way that system's own README says to use it.
 */
import Redis from 'ioredis';
import Memcached from 'memcached';
import type { Model } from 'sequelize';
import type { Sequelize } from 'sequelize-typescript';
import { addBlogModels, type BlogModels } from '../fixtures/blog';
import { type OrmCache, ormCache } from '../source';
import type { CacheStore } from '../source/store/contract';
import { CountingStore } from './counting-store';

export type Open = (logging: (sql: string) => void) => Sequelize;

/** One system under test. */
export interface System {
  name: string;
  sequelize: Sequelize;
  models: BlogModels;
  cache?: OrmCache;
  /** SQL statements run so far. */
  sql: { count: number };
  /** Requests sent to memcached (or the in-process store) so far. */
  storeOps(): number;
  byPk(id: number): Promise<{ title: string } | null>;
  /** W2: 50 published articles of an author. */
  list50?(authorId: number): Promise<unknown>;
  /** W3: 20 articles of an author with the author and comments. */
  list20?(authorId: number): Promise<unknown>;
  /** Load the article through the system and change its title through it. */
  update?(id: number, title: string): Promise<void>;
  /** Change the title of a loaded article, as the system says to write. */
  save?(article: Model, title: string): Promise<unknown>;
  close(): Promise<void>;
}

export const list50Options = (authorId: number) => ({ where: { authorId, published: true }, order: [['id', 'DESC']] as [string, string][], limit: 50 });

export const list20Options = (models: BlogModels, authorId: number) => ({
  where: { authorId },
  include: [models.Author, models.Comment],
  order: [['id', 'DESC']] as [string, string][],
  limit: 20,
});

function opened(open: Open) {
  const sql = { count: 0 };
  const sequelize = open(() => void sql.count++);
  return { sql, sequelize, models: addBlogModels(sequelize) };
}

/** The reads and the update as plain Sequelize code (the orm-cache systems run the same code). */
function sequelizeOps(models: BlogModels): Pick<System, 'byPk' | 'list50' | 'list20' | 'update' | 'save'> {
  return {
    byPk: (id) => models.Article.findByPk(id),
    list50: (authorId) => models.Article.findAll(list50Options(authorId)),
    list20: (authorId) => models.Article.findAll(list20Options(models, authorId)),
    update: async (id, title) => {
      await (await models.Article.findByPk(id))?.update({ title });
    },
    save: (article, title) => article.update({ title }),
  };
}

/** Plain Sequelize. */
export function noCache(open: Open): System {
  const { sql, sequelize, models } = opened(open);
  return { name: 'no cache', sequelize, models, sql, storeOps: () => 0, ...sequelizeOps(models), close: () => sequelize.close() };
}

/** sequelize-orm-cache, installed with one line, queries unchanged. */
export function ormCacheSystem(name: string, open: Open, store: CacheStore, namespace: string, protection = true): System {
  const { sql, sequelize, models } = opened(open);
  const counted = new CountingStore(store);
  const cache = ormCache.install(sequelize, { store: counted, namespace, stampedeProtection: protection });
  return {
    name,
    sequelize,
    sql,
    models,
    cache,
    ...sequelizeOps(models),
    storeOps: () => counted.total,
    close: async () => {
      cache.uninstall();
      await counted.close();
      await sequelize.close();
    },
  };
}

type CountedClient = Memcached & { requests: number };

/**
 * A `memcached` client that counts the requests a peer sends, with the pool
 * MemcachedStore uses (10 connections, millisecond retries while they
 * connect): with the client's defaults a burst of 32 reads on a fresh pool
 * fails with "the connection pool is full".
 */
function countedClient(servers: string): CountedClient {
  const client = new Memcached(servers, {
    retries: 3,
    minTimeout: 5,
    maxTimeout: 40,
    factor: 2,
    poolSize: 10,
    timeout: 200,
    idle: 60_000,
  } as Memcached.options) as CountedClient;
  client.requests = 0;
  for (const method of ['get', 'set', 'del', 'getMulti'] as const) {
    const original = client[method].bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      client.requests++;
      return original(...args);
    };
  }
  return client;
}

interface TransparentCached {
  cache(key?: string): {
    findByPk(id: number): Promise<{ title: string } | null>;
    findAll(options: object): Promise<unknown>;
  };
}

/**
 * sequelize-transparent-cache with its memcached adaptor, as its README shows:
 * `Model.cache().findByPk`, `instance.cache().update`, and lists only through
 * a manual key, `Model.cache(key).findAll` (never invalidated by writes).
 */
export function transparentCache(open: Open, servers: string, namespace: string): System {
  /* eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS package without typings */
  const MemcachedAdaptor = require('sequelize-transparent-cache-memcached') as new (options: object) => unknown;
  const client = countedClient(servers);
  return transparentWith(open, 'sequelize-transparent-cache (memcached)', new MemcachedAdaptor({ client, namespace, lifetime: 3600 }), () => client.requests, () => client.end());
}

/** sequelize-transparent-cache with its ioredis adaptor (sequelize-transparent-cache-ioredis), the same way. */
export function transparentCacheRedis(open: Open, url: string, namespace: string): System {
  /* eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS package without typings */
  const IORedisAdaptor = require('sequelize-transparent-cache-ioredis') as new (options: object) => unknown;
  const client = new Redis(url);
  let requests = 0;
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((...args: Parameters<typeof send>) => {
    requests++;
    return send(...args);
  }) as typeof client.sendCommand;
  return transparentWith(open, 'sequelize-transparent-cache (ioredis)', new IORedisAdaptor({ client, namespace, lifetime: 3600 }), () => requests, () => client.disconnect());
}

/** sequelize-transparent-cache on `adaptor`: `Model.cache().findByPk`, `instance.cache().update`, lists by manual key. */
function transparentWith(open: Open, name: string, adaptor: unknown, requests: () => number, end: () => void): System {
  /* eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS package without typings */
  const sequelizeCache = require('sequelize-transparent-cache') as (adaptor: unknown) => { withCache<T>(model: T): T };
  const { sql, sequelize, models } = opened(open);
  const { withCache } = sequelizeCache(adaptor);
  withCache(models.Article);
  const Article = models.Article as unknown as TransparentCached;
  return {
    name,
    sequelize,
    models,
    sql,
    storeOps: requests,
    byPk: (id) => Article.cache().findByPk(id),
    list50: (authorId) => Article.cache(`w2:${authorId}`).findAll(list50Options(authorId)),
    list20: (authorId) => Article.cache(`w3:${authorId}`).findAll(list20Options(models, authorId)),
    update: async (id, title) => {
      const article = (await Article.cache().findByPk(id)) as unknown as { cache(): { update(v: object): Promise<unknown> } } | null;
      await article?.cache().update({ title });
    },
    save: (article, title) => (article as unknown as { cache(): { update(v: object): Promise<unknown> } }).cache().update({ title }),
    close: async () => {
      end();
      await sequelize.close();
    },
  };
}

/**
 * sequelize-simple-cache (in-process, per-model TTL), as its README shows:
 * `cache.init(Model)`; model-level writes clear that model's whole cache,
 * instance writes (`instance.update`) do not.
 */
export function simpleCache(open: Open): System {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS package without typings
  const SimpleCache = require('sequelize-simple-cache') as new (config: object, options?: object) => { init<T>(model: T): T };
  const { sql, sequelize, models } = opened(open);
  // The default keeps 50 entries per model; a Zipf workload over 100k rows needs room.
  const cache = new SimpleCache({ Article: { ttl: 300, limit: 10_000 } });
  const Article = cache.init(models.Article);
  return {
    name: 'sequelize-simple-cache (in-process)',
    sequelize,
    models,
    sql,
    storeOps: () => 0,
    byPk: (id) => Article.findByPk(id),
    list50: (authorId) => Article.findAll(list50Options(authorId)),
    list20: (authorId) => Article.findAll(list20Options(models, authorId)),
    update: async (id, title) => {
      await (await Article.findByPk(id))?.update({ title });
    },
    close: () => sequelize.close(),
  };
}
