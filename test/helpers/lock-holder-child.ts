// Run by stampede.test.ts: start filling a cold list whose database read
// hangs (a beforeQuery hook that never resolves), report when the fill lock
// is taken, and wait to be killed with SIGKILL while holding it.
import { MemcachedStore, ormCache } from '../../source';
import { openBlog } from './test-database';

async function main() {
  const [database, namespace, authorId] = process.argv.slice(2) as [string, string, string];
  const { sequelize, models } = await openBlog(database, { pool: 2 });
  const store = new MemcachedStore(process.env.ORM_CACHE_MEMCACHED!.split(','), { timeoutMs: 2000 });
  const cache = ormCache.install(sequelize, { store, namespace, lockTtl: 10 });
  sequelize.addHook('beforeQuery', 'hang', () => {
    if (cache.metrics.snapshot().lockAcquired > 0) {
      process.send!({ holding: true });
      return new Promise(() => undefined);
    }
    return undefined;
  });
  await models.Article.findAll({ where: { authorId: Number(authorId) }, order: [['id', 'ASC']] });
}

void main();
