// A separate OS process with its own Sequelize and cache on a memcached ring
// (the parent test's server list). Over IPC: { keys } -> { servers } (where
// its store places each key), { pk } -> { title, selects }, { exit }.
import { MemcachedStore, ormCache } from '../../source';
import { openBlog } from './test-database';

async function main() {
  const [database, namespace, servers, grace] = process.argv.slice(2) as [string, string, string, string];
  const { sequelize, models, sql } = await openBlog(database, { pool: 2 });
  const store = new MemcachedStore(servers.split(','), { timeoutMs: 50, breakerCooldownMs: 200, returnGraceMs: Number(grace) });
  const cache = ormCache.install(sequelize, { store, namespace });
  cache.on('error', () => undefined);
  process.on('message', async (message: { keys?: string[]; pk?: number; exit?: boolean }) => {
    if (message.exit) {
      await store.close();
      await sequelize.close();
      process.exit(0);
    }
    if (message.keys) {
      process.send!({ servers: message.keys.map((key) => store.serverFor(key)) });
      return;
    }
    sql.take();
    const article = await models.Article.findByPk(message.pk!);
    process.send!({ title: article ? article.title : null, selects: sql.selects().length });
  });
  process.send!({ ready: true });
}

void main();
