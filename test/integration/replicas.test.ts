/**
 * Read replication (Sequelize's `replication: { read, write }`) with a
 * replica held one second behind its primary (MASTER_DELAY). A reader that
 * misses the cache right after a write must not store what the lagging
 * replica still says: fills read the primary. The same cycles without the
 * cache, reading the replica, show the lag, so the test can fail.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { Sequelize } from 'sequelize-typescript';
import { addBlogModels } from '../../fixtures/blog';
import { seedBlog } from '../../fixtures/seed';
import { MemcachedStore, ormCache } from '../../source';
import { type MariadbServer, startReplicaPair, TEST_PASSWORD, TEST_USER } from '../harness/servers';
import { memcachedServers, uniqueNamespace } from '../helpers/test-database';

const CYCLES = 1000;

function replicated(primary: MariadbServer, replica: MariadbServer, database: string) {
  const at = (server: MariadbServer) => ({ host: '127.0.0.1', port: server.port, username: TEST_USER, password: TEST_PASSWORD });
  const sequelize = new Sequelize({
    dialect: 'mysql',
    database,
    logging: false,
    replication: { write: at(primary), read: [at(replica)] },
    pool: { max: 5 },
  });
  return { sequelize, models: addBlogModels(sequelize) };
}

test('with a lagging replica, 1,000 write-then-read cycles through the cache read no stale row; uncached replica reads do', async (t) => {
  t.timeout(300_000);
  const dir = mkdtempSync(join(tmpdir(), 'orm-cache-replicas-'));
  const { primary, replica } = await startReplicaPair(dir, { delaySeconds: 1 });
  const database = 'replicas';
  const admin = await mysql.createConnection(primary.url());
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const app = replicated(primary, replica, database);
  const store = new MemcachedStore(memcachedServers());
  t.teardown(async () => {
    await store.close();
    await app.sequelize.close();
    await Promise.allSettled([primary.stop(), replica.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });
  await app.sequelize.sync();
  const seeded = await seedBlog(app.models, { authors: 4, articles: 40 });
  await replica.caughtUp(primary);
  const { Article } = app.models;
  const ids = seeded.articleIds;

  // Without the cache, reads go to the replica and lag behind the write.
  let uncachedStale = 0;
  for (let i = 0; i < CYCLES; i++) {
    const id = ids[i % ids.length] as number;
    await Article.update({ title: `plain ${i}` }, { where: { id } });
    if ((await Article.findByPk(id))?.title !== `plain ${i}`) uncachedStale++;
  }

  const cache = ormCache.install(app.sequelize, { store, namespace: uniqueNamespace() });
  t.teardown(() => cache.uninstall());
  // Warm every row while the replica is still behind: the entries must
  // still never hold a row older than the last write.
  for (const id of ids) await Article.findByPk(id);
  let cachedStale = 0;
  let listStale = 0;
  for (let i = 0; i < CYCLES; i++) {
    const id = ids[i % ids.length] as number;
    const article = await Article.findByPk(id);
    const authorId = article?.authorId as number;
    await Article.update({ title: `cached ${i}` }, { where: { id } });
    if ((await Article.findByPk(id))?.title !== `cached ${i}`) cachedStale++;
    const list = await Article.findAll({ where: { authorId } });
    if (list.find((a) => a.id === id)?.title !== `cached ${i}`) listStale++;
  }
  const snapshot = cache.metrics.snapshot();
  t.log(`${CYCLES} cycles: uncached replica reads stale ${uncachedStale}, cached row reads stale ${cachedStale}, cached list reads stale ${listStale}; row hits ${snapshot.rowHits}, list hits ${snapshot.listHits}`);
  t.true(uncachedStale > CYCLES / 2, `the replica lags (${uncachedStale} stale uncached reads)`);
  t.is(cachedStale, 0);
  t.is(listStale, 0);
  t.true(snapshot.rowHits >= CYCLES, 'the reads before each write were served from the cache');
});
