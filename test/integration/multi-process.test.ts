/**
 * "After save() or destroy() returns, every read in any process sees the
 * change": three reader processes share the database and the memcached
 * namespace with the writing test process.
 */
import test from 'ava';
import { ormCache } from '../../source';
import { forkChild } from '../helpers/fork-child';
import { createTestDatabase, sharedStore, uniqueNamespace } from '../helpers/test-database';

interface Reply {
  title?: string | null;
  ids?: number[];
  selects: number;
}

interface Reader {
  read(pk: number): Promise<Reply>;
  list(authorId: number): Promise<Reply>;
  stop(): void;
}

async function startReader(database: string, namespace: string, kind: string): Promise<Reader> {
  const child = await forkChild<Reply>('reader-child.ts', [database, namespace, kind]);
  return { read: (pk) => child.ask({ pk }), list: (authorId) => child.ask({ authorId }), stop: child.stop };
}

for (const kind of ['memcached', 'redis'] as const) test(`${kind}: after save() and destroy() return, row and list reads in every other process see the change`, async (t) => {
  const db = await createTestDatabase(`multi_process_${kind}`, { authors: 3, articles: 30 });
  const namespace = uniqueNamespace();
  const store = sharedStore(kind, 1000);
  const cache = ormCache.install(db.sequelize, { store, namespace });
  const readers = await Promise.all([1, 2, 3].map(() => startReader(db.name, namespace, kind)));
  t.teardown(async () => {
    for (const reader of readers) reader.stop();
    cache.uninstall();
    await store.close();
    await db.drop();
  });
  const { Article } = db.models;

  let cachedReads = 0;
  for (let cycle = 0; cycle < 20; cycle++) {
    const pk = 1 + (cycle % 10);
    for (const reader of readers) await reader.read(pk);
    for (const reader of readers) cachedReads += (await reader.read(pk)).selects === 0 ? 1 : 0;
    const title = `cycle ${cycle}`;
    await (await Article.findByPk(pk))!.update({ title });
    const seen = await Promise.all(readers.map((r) => r.read(pk)));
    t.deepEqual(seen.map((s) => s.title), [title, title, title], `cycle ${cycle}`);
  }
  t.is(cachedReads, 60, 'the readers were really reading from the shared cache');

  // Lists: a row moving between authors leaves one list and enters another in every process.
  for (let cycle = 0; cycle < 10; cycle++) {
    const article = (await Article.findByPk(1 + cycle))!;
    const from = article.authorId;
    const to = (from % 3) + 1;
    for (const reader of readers) {
      await reader.list(from);
      await reader.list(to);
    }
    await article.update({ authorId: to });
    const expectedFrom = (await Article.findAll({ where: { authorId: from }, order: [['id', 'ASC']], cache: false })).map((a) => a.id);
    const expectedTo = (await Article.findAll({ where: { authorId: to }, order: [['id', 'ASC']], cache: false })).map((a) => a.id);
    for (const reader of readers) {
      t.deepEqual((await reader.list(from)).ids, expectedFrom);
      t.deepEqual((await reader.list(to)).ids, expectedTo);
    }
  }

  for (const pk of [21, 22, 23]) {
    for (const reader of readers) await reader.read(pk);
    await (await Article.findByPk(pk))!.destroy();
    const seen = await Promise.all(readers.map((r) => r.read(pk)));
    t.deepEqual(seen.map((s) => s.title), [null, null, null]);
  }
});
