// A separate OS process for the stampede test: on { go }, fire `n` concurrent
// identical findAll through the cache and report how many succeeded.
import { Op } from 'sequelize';
import { ormCache } from '../../source';
import { openBlog, sharedStore } from './test-database';

async function main() {
  const [database, namespace, softTtl, kind] = process.argv.slice(2) as [string, string, string | undefined, string | undefined];
  const { sequelize, models, sql } = await openBlog(database, { pool: 10 });
  const store = sharedStore(kind, 2000);
  // With { note: true } the process tells the test its first fill-lock
  // attempt's outcome, so the test can hold the database until every
  // process is either filling or waiting (the interleaving is forced).
  let noteLock = false;
  const add = store.add.bind(store);
  store.add = async (key, value, ttl) => {
    const added = await add(key, value, ttl);
    if (noteLock && key.endsWith(':lock')) {
      noteLock = false;
      process.send!({ note: added ? 'filling' : 'waiting' });
    }
    return added;
  };
  const cache = ormCache.install(sequelize, { store, namespace, lockWaitMs: 4000, ...(softTtl ? { softTtl: Number(softTtl) } : {}) });
  process.on('message', async (message: { go?: { n: number; authorId: number; marker: string; at?: number; note?: boolean }; exit?: boolean }) => {
    if (message.exit) {
      await store.close();
      await sequelize.close();
      process.exit(0);
    }
    if (!message.go) return;
    const { n, authorId, marker, at, note } = message.go;
    noteLock = note === true;
    // Every process starts at the same moment, so their readers really contend.
    if (at) await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
    const results = await Promise.allSettled(
      Array.from({ length: n }, () =>
        models.Article.findAll({ where: { authorId, title: { [Op.ne]: marker } }, order: [['id', 'ASC']] }),
      ),
    );
    const lengths = new Set(results.map((r) => (r.status === 'fulfilled' ? r.value.length : -1)));
    await cache.settled();
    process.send!({
      ok: results.filter((r) => r.status === 'fulfilled').length,
      lengths: [...lengths],
      metrics: cache.metrics.snapshot(),
      statements: sql.take(),
    });
  });
  process.send!({ ready: true });
}

void main();
