// A separate OS process with its own Sequelize, pool and cache install on the
// same database and memcached namespace as the parent test. It answers read
// requests over IPC: { pk } -> { title | null, selects }, { authorId } -> { ids, selects }.
import { ormCache } from '../../source';
import { openBlog, sharedStore } from './test-database';

async function main() {
  const [database, namespace, kind] = process.argv.slice(2) as [string, string, string | undefined];
  const { sequelize, models, sql } = await openBlog(database, { pool: 2 });
  const store = sharedStore(kind, 1000);
  ormCache.install(sequelize, { store, namespace });
  process.on('message', async (message: { pk?: number; authorId?: number; exit?: boolean }) => {
    if (message.exit) {
      await store.close();
      await sequelize.close();
      process.exit(0);
    }
    sql.take();
    if (message.authorId !== undefined) {
      const list = await models.Article.findAll({ where: { authorId: message.authorId }, order: [['id', 'ASC']] });
      process.send!({ ids: list.map((a) => a.id), selects: sql.selects().length });
      return;
    }
    const article = await models.Article.findByPk(message.pk!);
    process.send!({ title: article ? article.title : null, selects: sql.selects().length });
  });
  process.send!({ ready: true });
}

void main();
