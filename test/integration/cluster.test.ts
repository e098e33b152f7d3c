/**
 * A ring of three memcached servers shared by four processes (this one and
 * three children): every process places every key on the same server; a
 * killed server costs misses for its keys only, never a stale read; and a
 * server that comes back with its old contents (memcached's restartable
 * cache, `-e`) cannot serve entries whose invalidations were lost while it
 * was away.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemcachedStore, ormCache } from '../../source';
import { conjunctionId } from '../../source/tokens/conjunctions';
import { KeySpace } from '../../source/keys';
import { type ModelLike, type ModelSchema, modelSchema } from '../../source/model-schema';
import { MemcachedServer } from '../harness/servers';
import { type Child, forkChild } from '../helpers/fork-child';
import { createTestDatabase, type TestDatabase, uniqueNamespace } from '../helpers/test-database';

interface Reply {
  servers?: string[];
  title?: string | null;
  selects?: number;
}

const IDS = Array.from({ length: 40 }, (_, i) => i + 1);

/** The keys every row read depends on besides the row's own (see RowCache). */
function rowTokenKeys(keys: KeySpace, schema: ModelSchema): string[] {
  return [keys.namespaceToken(), keys.epoch(schema), keys.warm(schema), keys.listEpoch(schema), keys.conjunction(schema, conjunctionId([], []))];
}

async function ring(t: ExecutionContext, label: string, options: { childGraceMs?: number; replayMs?: number } = {}) {
  // Memory files on a RAM disk where there is one, as memcached advises.
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'orm-cache-ring-'));
  const servers = await Promise.all([1, 2, 3].map((i) => MemcachedServer.launch(64, join(dir, `memory-${i}`))));
  const db = await createTestDatabase(label, { authors: 3, articles: 40 });
  const addresses = servers.map((s) => s.address);
  const store = new MemcachedStore(addresses, { timeoutMs: 50, breakerCooldownMs: 200 });
  // A namespace whose row tokens leave one server free of them, so that a
  // read of a row elsewhere does not touch that server.
  const schema = modelSchema(db.models.Article as unknown as ModelLike);
  let namespace = uniqueNamespace();
  while (new Set(rowTokenKeys(new KeySpace(namespace), schema).map((k) => store.serverFor(k))).size > 2) namespace = uniqueNamespace();
  const cache = ormCache.install(db.sequelize, { store, namespace, replayMs: options.replayMs });
  cache.on('error', () => undefined);
  const children = await Promise.all(
    [1, 2, 3].map(() => forkChild<Reply>('cluster-child.ts', [db.name, namespace, addresses.join(','), String(options.childGraceMs ?? 1200)])),
  );
  t.teardown(async () => {
    for (const child of children) child.stop();
    cache.uninstall();
    await store.close();
    await db.drop();
    await Promise.allSettled(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });
  return { servers, db, store, cache, children, schema };
}

/** Every child reads every article; returns the titles and how many went to the database. */
async function readAll(children: Child<Reply>[], ids: number[] = IDS) {
  // A child takes one request at a time; the children run side by side.
  const replies = await Promise.all(
    children.map(async (child) => {
      const answers: Reply[] = [];
      for (const pk of ids) answers.push(await child.ask({ pk }));
      return answers;
    }),
  );
  return replies.map((perChild) => perChild.map((r, i) => ({ id: ids[i] as number, title: r.title, selects: r.selects ?? 0 })));
}

function titlesIn(db: TestDatabase): Promise<Map<number, string>> {
  return db.models.Article.findAll({ cache: false }).then((rows) => new Map(rows.map((a) => [a.id, a.title])));
}

test('four processes place every key on the same server; a killed server costs misses for its keys only, never a stale read', async (t) => {
  t.timeout(120_000);
  const { servers, db, store, cache, children, schema } = await ring(t, 'ring_kill');
  const keys = [...IDS.map((id) => cache.keys.row(schema, String(id))), cache.keys.epoch(schema), cache.keys.namespaceToken(), cache.keys.listEpoch(schema)];
  const mine = keys.map((key) => store.serverFor(key));
  for (const child of children) t.deepEqual((await child.ask({ keys })).servers, mine);
  t.is(new Set(mine).size, 3, 'the keys are spread over all three servers');

  // Kill a server that holds none of the row tokens, so rows elsewhere stay hits.
  const tokenServers = new Set(rowTokenKeys(cache.keys, schema).map((k) => store.serverFor(k)));
  const victim = servers.find((s) => !tokenServers.has(s.address)) as MemcachedServer;
  const onVictim = new Set(IDS.filter((id) => store.serverFor(cache.keys.row(schema, String(id))) === victim.address));
  t.true(onVictim.size > 0 && onVictim.size < IDS.length);
  await readAll(children);
  t.true((await readAll(children)).flat().every((r) => r.selects === 0), 'all warm');

  await victim.process?.kill();
  for (const reads of await readAll(children)) {
    for (const read of reads) t.is(read.selects > 0, onVictim.has(read.id), `article ${read.id}`);
  }
  // Writes while it is down, to rows on every server: every process sees them.
  for (const id of IDS.filter((id) => id % 3 === 0)) await db.models.Article.update({ title: `while down ${id}` }, { where: { id } });
  let truth = await titlesIn(db);
  for (const read of (await readAll(children)).flat()) t.is(read.title, truth.get(read.id), `article ${read.id}`);

  // It comes back (empty, as a killed memcached does): still no stale read.
  await victim.start();
  for (const id of IDS.filter((id) => id % 4 === 0)) await db.models.Article.update({ title: `after return ${id}` }, { where: { id } });
  truth = await titlesIn(db);
  for (let round = 0; round < 3; round++) {
    for (const read of (await readAll(children)).flat()) t.is(read.title, truth.get(read.id), `article ${read.id}`);
    await sleep(300);
  }
});

/**
 * Stop the server holding the Article epoch and some rows so that it keeps
 * its items, write to one of its rows (neither the tombstone nor the epoch
 * rotation can land), start it again with its old items, and read that row
 * in the children over and over from the moment it is back. Returns the
 * stale reads seen.
 */
async function serverReturnsWithOldItems(t: ExecutionContext, label: string, options: { childGraceMs?: number; replayMs?: number }) {
  const { servers, db, store, cache, children, schema } = await ring(t, label, options);
  const epochServer = store.serverFor(cache.keys.epoch(schema));
  const returning = servers.find((s) => s.address === epochServer) as MemcachedServer;
  const onIt = IDS.filter((id) => store.serverFor(cache.keys.row(schema, String(id))) === epochServer);
  t.true(onIt.length > 0);
  const id = onIt[0] as number;
  await readAll(children, onIt);
  t.true((await readAll(children, onIt)).flat().every((r) => r.selects === 0), 'warm, from the server about to stop');

  await returning.stopKeepingContents();
  await db.models.Article.update({ title: 'written while away' }, { where: { id } });
  t.true(cache.metrics.snapshot().lostInvalidations >= 1, 'the invalidation could not land');
  // The children notice the outage too (their reads fail, then fail fast).
  for (const read of (await readAll(children, [id, ...onIt])).flat()) if (read.id === id) t.is(read.title, 'written while away');
  await returning.start();

  let stale = 0;
  const until = Date.now() + 1500;
  while (Date.now() < until) {
    for (const read of (await readAll(children, [id])).flat()) if (read.title !== 'written while away') stale++;
  }
  return stale;
}

test('a server that comes back with its old items serves none of the entries its absence made stale', async (t) => {
  t.timeout(120_000);
  const stale = await serverReturnsWithOldItems(t, 'ring_return', {});
  t.log(`stale reads after the return: ${stale}`);
  t.is(stale, 0);
});

test('without the return grace, the same return serves stale entries (the grace is what closes it)', async (t) => {
  t.timeout(120_000);
  // The writer's replay is slowed down so that the window stays open.
  const stale = await serverReturnsWithOldItems(t, 'ring_return_nograce', { childGraceMs: 0, replayMs: 3000 });
  t.log(`stale reads after the return: ${stale}`);
  t.true(stale > 0);
});
