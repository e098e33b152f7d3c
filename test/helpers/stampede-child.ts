// A separate OS process for the stampede test: on { go }, fire `n` concurrent
// identical findAll through the cache and report how many succeeded.
import { Op } from 'sequelize';
import { ormCache } from '../../source';
import { openBlog, sharedStore } from './test-database';

async function main() {
  const [database, namespace, softTtl, kind] = process.argv.slice(2) as [string, string, string | undefined, string | undefined];
  const { sequelize, models, sql } = await openBlog(database, { pool: 10 });
  const store = sharedStore(kind, 2000);
  const cache = ormCache.install(sequelize, { store, namespace, lockWaitMs: 4000, ...(softTtl ? { softTtl: Number(softTtl) } : {}) });
  process.on('message', async (message: { go?: { n: number; authorId: number; marker: string; at?: number }; exit?: boolean }) => {
    if (message.exit) {
      await store.close();
      await sequelize.close();
      process.exit(0);
    }
    if (!message.go) return;
    const { n, authorId, marker, at } = message.go;
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
