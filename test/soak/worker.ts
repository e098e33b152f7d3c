/**
 * One soak process: `loops` concurrent loops of random reads and writes on
 * the soak's articles through the cache, each operation logged with its
 * start and end (see history.ts). Every article has one writer, a loop of
 * one process, so the history can be checked without search.
 *
 *   node -r ts-node/register/transpile-only test/soak/worker.ts '<config JSON>'
 *
 * The process prints READY when connected, starts on a line on stdin, and
 * writes its log (JSON lines) when its time is up or on SIGTERM.
 */
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { BaseError, Op as SqlOp, QueryTypes } from 'sequelize';
import { Sequelize } from 'sequelize-typescript';
import { addBlogModels, type BlogModels } from '../../fixtures/blog';
import { prng } from '../../fixtures/seed';
import { MemcachedStore, ormCache, RedisStore } from '../../source';
import { type Filter, initialState, type Op, type RowState } from './history';
import { now, type WorkerConfig } from './worker-config';

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const log: Op[] = [];
let stopped = false;

function openDatabase(): { sequelize: Sequelize; models: BlogModels } {
  const sequelize = new Sequelize(config.mysqlUrl, { dialect: 'mysql', logging: false, pool: { max: 8, acquire: 5000 } });
  return { sequelize, models: addBlogModels(sequelize) };
}

const db = openDatabase();
const writer = config.sabotage ? openDatabase() : db;
const store = config.redis
  ? new RedisStore(config.redis, { timeoutMs: config.timeoutMs, breakerCooldownMs: 300 })
  : new MemcachedStore(config.memcached, { timeoutMs: config.timeoutMs, breakerCooldownMs: 300 });
const cache = ormCache.install(db.sequelize, {
  store,
  namespace: config.namespace,
  ttl: 120,
  softTtl: config.softTtl,
  sign: config.sign,
});
cache.on('error', () => undefined);

if (config.slowSelectMs) {
  // Slow every SELECT down: the fill lock is held meanwhile, and the
  // orchestrator kills this process while it is.
  const query = db.sequelize.query.bind(db.sequelize) as (...args: unknown[]) => Promise<unknown>;
  (db.sequelize as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = async (...args: unknown[]) => {
    if (/^\s*SELECT/i.test(String(args[0]))) {
      process.stdout.write('HOLDING\n');
      await sleep(config.slowSelectMs as number);
    }
    return query(...args);
  };
}

function stateOf(article: { views: unknown; authorId: number; published: boolean } | null): RowState {
  return article ? { views: Number(article.views), authorId: article.authorId, published: !!article.published } : null;
}

function causeOf(error: unknown): 'db' | 'cache' {
  // Errors of the database layer are Sequelize's (connection, timeout,
  // database errors) and would happen without the cache; anything else is
  // the cache's.
  return error instanceof BaseError ? 'db' : 'cache';
}

/** The rows one loop owns: ids whose slot is this loop's. */
function ownedRows(loop: number): number[] {
  const slots = config.processes * config.loops;
  const slot = config.index * config.loops + loop;
  const ids: number[] = [];
  for (let id = 1; id <= config.rows; id++) if ((id - 1) % slots === slot) ids.push(id);
  return ids;
}

async function runLoop(loop: number, deadline: number): Promise<void> {
  const random = prng(config.seed * 1000 + config.index * 10 + loop);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const { Article, Author } = db.models;
  const W = writer.models;
  const owned = ownedRows(loop);
  const state = new Map<number, RowState>(owned.map((id) => [id, initialState(id, config.authors)]));
  let dirty = false;
  // Unique per row (one writer per row): the loop's own counter.
  let seq = 0;
  const author = () => 1 + Math.floor(random() * config.authors);
  const anyId = () => 1 + Math.floor(random() * config.rows);
  const nextState = (): NonNullable<RowState> => ({ views: ++seq, authorId: author(), published: random() < 0.5 });
  const listOf = (articles: { id: number; views: unknown; authorId: number; published: boolean }[]) =>
    articles.map((a) => [a.id, stateOf(a)] as [number, RowState]);
  const existing = () => owned.filter((id) => state.get(id) !== null);

  const read = async (op: string, run: () => Promise<Omit<Extract<Op, { k: 'pk' | 'list' | 'count' }>, 'op' | 's' | 'e'>>) => {
    const s = now();
    try {
      const found = await run();
      log.push({ ...found, op, s, e: now() } as Op);
    } catch (error) {
      log.push({ k: 'x', op, s, e: now(), cause: causeOf(error), message: String((error as Error)?.message ?? error) });
    }
  };

  /** A write of known rows; on failure its outcome is unknown and the loop re-reads its rows. */
  const write = async (op: string, rows: [number, RowState][], run: () => Promise<unknown>) => {
    const s = now();
    try {
      await run();
      log.push({ k: 'w', op, s, e: now(), rows });
      for (const [id, next] of rows) state.set(id, next);
    } catch (error) {
      const e = now();
      log.push({ k: 'w', op, s, e: null, rows });
      log.push({ k: 'x', op, s, e, cause: causeOf(error), message: String((error as Error)?.message ?? error) });
      dirty = true;
    }
  };

  while (now() < deadline && !stopped) {
    if (dirty) {
      // After a failed write, learn what the database holds before writing again.
      try {
        const truth = await W.Article.findAll({ where: { id: owned }, cache: false });
        for (const id of owned) state.set(id, null);
        for (const a of truth) state.set(a.id, stateOf(a));
        dirty = false;
      } catch {
        await sleep(50);
        continue;
      }
    }
    const r = random();
    if (config.role === 'lock-holder' || r < 0.78) {
      const a = author();
      const which = config.role === 'lock-holder' ? 1 + Math.floor(random() * 5) : Math.floor(random() * 9);
      switch (which) {
        case 0: {
          const id = anyId();
          await read('findByPk', async () => ({ k: 'pk', id, row: stateOf(await Article.findByPk(id)) }));
          break;
        }
        case 1:
          await read('findAll author', async () => ({ k: 'list', filter: { authorId: a }, rows: listOf(await Article.findAll({ where: { authorId: a }, order: [['id', 'ASC']] })) }));
          break;
        case 2:
          await read('findAll author+published', async () => ({
            k: 'list',
            filter: { authorId: a, published: true },
            rows: listOf(await Article.findAll({ where: { authorId: a, published: true } })),
          }));
          break;
        case 3:
          await read('author include articles', async () => {
            const found = await Author.findByPk(a, { include: [{ model: Article }] });
            return { k: 'list', filter: { authorId: a }, rows: listOf(found?.articles ?? []) };
          });
          break;
        case 4:
          await read('published include author', async () => {
            const found = await Article.findAll({ where: { published: true }, include: [Author] });
            for (const article of found) {
              if (article.author?.id !== article.authorId) throw new Error(`article ${article.id} included author ${article.author?.id}, not ${article.authorId}`);
            }
            return { k: 'list', filter: { published: true }, rows: listOf(found) };
          });
          break;
        case 5: {
          const filter: Filter = random() < 0.5 ? { authorId: a } : { published: true };
          await read('count', async () => ({ k: 'count', filter, n: await Article.count({ where: { ...filter } }) }));
          break;
        }
        case 6: {
          const ids = [...new Set(Array.from({ length: 2 + Math.floor(random() * 5) }, anyId))];
          await read('findAll IN', async () => ({ k: 'list', filter: { ids }, rows: listOf(await Article.findAll({ where: { id: ids } })) }));
          break;
        }
        case 7: {
          const viewsGt = Math.floor(random() * (seq + 5));
          await read('findAll views >', async () => ({
            k: 'list',
            filter: { viewsGt },
            rows: listOf(await Article.findAll({ where: { views: { [SqlOp.gt]: viewsGt } } })),
          }));
          break;
        }
        default: {
          const id = anyId();
          await read('findOne', async () => ({ k: 'pk', id, row: stateOf(await Article.findOne({ where: { id } })) }));
        }
      }
      continue;
    }
    const live = existing();
    const gone = owned.filter((id) => state.get(id) === null);
    const w = random();
    if (live.length === 0 || (gone.length > 0 && w < 0.08)) {
      const id = pick(gone);
      const next = nextState();
      await write('create', [[id, next]], () => W.Article.create({ id, title: `article ${id}`, ...next }));
    } else if (w < 0.35) {
      const id = pick(live);
      const next = nextState();
      await write('save', [[id, next]], async () => {
        const article = await W.Article.findByPk(id, { cache: false });
        if (!article) throw new Error(`own article ${id} missing`);
        article.set(next);
        await article.save();
      });
    } else if (w < 0.45) {
      const a = author();
      const ids = live.filter((id) => state.get(id)?.authorId === a);
      const views = ++seq;
      const published = random() < 0.5;
      const rows = ids.map((id) => [id, { ...(state.get(id) as NonNullable<RowState>), views, published }] as [number, RowState]);
      await write('bulk update', rows, () => W.Article.update({ views, published }, { where: { id: live, authorId: a } }));
    } else if (w < 0.53) {
      const id = pick(live);
      await write('destroy', [[id, null]], () => W.Article.destroy({ where: { id } }));
    } else if (w < 0.68) {
      const ids = [...new Set([pick(live), pick(live)])];
      const rows = ids.map((id) => [id, nextState()] as [number, RowState]);
      await write('transaction', rows, () =>
        writer.sequelize.transaction(async (transaction) => {
          for (const [id, next] of rows) await W.Article.update(next as object, { where: { id }, transaction });
        }),
      );
    } else if (w < 0.8) {
      const ids = [...new Set([pick(live), pick(live)])];
      const rows = ids.map((id) => [id, nextState()] as [number, RowState]);
      const s = now();
      const marker = new Error('roll back');
      try {
        await writer.sequelize.transaction(async (transaction) => {
          for (const [id, next] of rows) await W.Article.update(next as object, { where: { id }, transaction });
          throw marker;
        });
      } catch (error) {
        if (error === marker) log.push({ k: 'rb', op: 'rollback', s, e: now(), rows });
        else {
          // Failed before the rollback: the updates cannot have committed.
          log.push({ k: 'rb', op: 'rollback', s, e: now(), rows });
          log.push({ k: 'x', op: 'rollback', s, e: now(), cause: causeOf(error), message: String((error as Error)?.message) });
        }
      }
    } else {
      const id = pick(live);
      if (random() < 0.2) {
        await write('raw delete', [[id, null]], () => writer.sequelize.query('DELETE FROM articles WHERE id = ?', { replacements: [id], type: QueryTypes.DELETE }));
      } else {
        const next = nextState();
        await write('raw update', [[id, next]], () =>
          writer.sequelize.query('UPDATE articles SET views = ?, author_id = ?, published = ? WHERE id = ?', {
            replacements: [next.views, next.authorId, next.published, id],
            type: QueryTypes.UPDATE,
          }),
        );
      }
    }
  }
}

function writeLog(): void {
  writeFileSync(config.log, log.map((o) => JSON.stringify(o)).join('\n') + '\n');
  const snapshot = cache.metrics.snapshot();
  writeFileSync(
    `${config.log}.meta.json`,
    JSON.stringify({
      storeErrors: snapshot.storeErrors,
      lostInvalidations: snapshot.lostInvalidations,
      forgedEntries: snapshot.forgedEntries,
      hits: snapshot.rowHits + snapshot.listHits + snapshot.countHits,
    }),
  );
}

async function main(): Promise<void> {
  await db.sequelize.authenticate();
  process.stdout.write('READY\n');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  const deadline = now() + config.durationMs * 1000;
  process.once('SIGTERM', () => {
    stopped = true;
  });
  await Promise.all(Array.from({ length: config.loops }, (_, loop) => runLoop(loop, deadline)));
  await cache.settled();
  if (config.role === 'worker') writeLog();
  lines.close();
  cache.uninstall();
  await store.close();
  await Promise.allSettled([db.sequelize.close(), writer !== db ? writer.sequelize.close() : undefined]);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`soak worker ${config.index}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    try {
      if (config.role === 'worker') writeLog();
    } catch {
      // nothing more to save
    }
    process.exit(1);
  },
);
