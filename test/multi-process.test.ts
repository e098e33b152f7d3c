/**
 * "After save() or destroy() returns, every read in any process sees the
 * change": three reader processes share the database and the memcached
 * namespace with the writing test process.
 */
import test from 'ava';
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { MemcachedStore, ormCache } from '../source';
import { createTestDatabase, memcachedServers, uniqueNamespace } from './helpers/servers';

interface Reply {
  title: string | null;
  selects: number;
}

function startReader(database: string, namespace: string): Promise<{ read(pk: number): Promise<Reply>; stop(): void }> {
  const child: ChildProcess = fork(join(__dirname, 'helpers', 'reader-child.ts'), [database, namespace], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    cwd: join(__dirname, '..'),
  });
  let pending: ((reply: Reply) => void) | undefined;
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.on('message', (message: Reply & { ready?: boolean }) => {
      if (message.ready) {
        resolve({
          read: (pk) =>
            new Promise<Reply>((r) => {
              pending = r;
              child.send({ pk });
            }),
          stop: () => child.send({ exit: true }),
        });
        return;
      }
      pending?.(message);
    });
  });
}

test('after save() and destroy() return, reads in every other process see the change', async (t) => {
  const db = await createTestDatabase('multi_process', { authors: 3, articles: 30 });
  const namespace = uniqueNamespace();
  const store = new MemcachedStore(memcachedServers(), { timeoutMs: 1000 });
  const cache = ormCache.install(db.sequelize, { store, namespace });
  const readers = await Promise.all([1, 2, 3].map(() => startReader(db.name, namespace)));
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

  for (const pk of [21, 22, 23]) {
    for (const reader of readers) await reader.read(pk);
    await (await Article.findByPk(pk))!.destroy();
    const seen = await Promise.all(readers.map((r) => r.read(pk)));
    t.deepEqual(seen.map((s) => s.title), [null, null, null]);
  }
});
