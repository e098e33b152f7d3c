/**
 * RedisStore on a real Redis Cluster (3 masters, 3 replicas) under the cluster's own faults: slots moving between masters
 * while the app reads and writes (resharding: `ASK` and `MOVED` redirections,
 * `TRYAGAIN` for multi-key reads of a slot in migration), and the cluster
 * down (`CLUSTERDOWN`: a master and its replica gone) then back with its
 * data. Four processes read; this one writes; every read is checked against
 * the write that came before it.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { memcachedKey, type RedisStoreOptions } from '../../source';
import { RedisCluster } from '../harness/redis-server';
import { clusterApp } from '../helpers/cluster-app';

const OPTIONS: RedisStoreOptions = { timeoutMs: 200, breakerCooldownMs: 200, returnGraceMs: 1500 };

// One cluster for the file: the resharding leaves it whole, and the outage
// test, last, brings back what it stops.
let running: RedisCluster | undefined;
let dir: string | undefined;
test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'orm-cache-cluster-faults-'));
  running = await RedisCluster.launch(dir);
});
test.after.always(async () => {
  await running?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A database, this process's app and three reader processes on the cluster. */
async function setup(t: import('ava').ExecutionContext, label: string) {
  const cluster = running as RedisCluster;
  await cluster.settled();
  const { db, cache, readers } = await clusterApp(t, cluster, label, { authors: 2, articles: 12 }, OPTIONS);
  /** Every process reads article `pk`: its titles (this process's last) and how many were cache hits. */
  const readAll = async (pk: number) => {
    const replies = await Promise.all(readers.map((r) => r.ask({ pk })));
    db.sql.take();
    const own = await db.models.Article.findByPk(pk);
    const ownHit = db.sql.selects().length === 0;
    return { titles: [...replies.map((r) => r.title), own?.title], hits: replies.filter((r) => r.selects === 0).length + (ownHit ? 1 : 0) };
  };
  return { cluster, db, cache, readAll };
}

test.serial('slots moving between masters (resharding: ASK, MOVED, TRYAGAIN) fail no query and serve no stale read, and reads keep hitting', async (t) => {
  const { cluster, db, readAll } = await setup(t, 'redis_reshard');
  const [from, to] = await cluster.masters();
  if (!from || !to) throw new Error('two masters expected');
  const before = await cluster.slotsOf(to);
  let done = false;
  const moving = cluster.reshard(from, to, 3000).finally(() => (done = true));
  let round = 0;
  let stale = 0;
  let reads = 0;
  let hits = 0;
  let hitsWhileMoving = 0;
  let unwrittenWhileMoving = 0;
  // Articles 1–6 are written in turn, each read by every process right after
  // its write; 7–12 are only read, so they are hits unless their keys move.
  for (; !done || round < 60; round++) {
    const written = 1 + (round % 6);
    const title = `round ${round}`;
    await db.models.Article.update({ title }, { where: { id: written } });
    const afterWrite = await readAll(written);
    const unwritten = await readAll(7 + (round % 6));
    reads += afterWrite.titles.length + unwritten.titles.length;
    stale += afterWrite.titles.filter((seen) => seen !== title).length;
    hits += unwritten.hits;
    if (!done) {
      hitsWhileMoving += unwritten.hits;
      unwrittenWhileMoving += unwritten.titles.length;
    }
  }
  await moving;
  const moved = (await cluster.slotsOf(to)) - before;
  t.log(`${moved} slots moved over ${round} rounds: ${stale} stale of ${reads} reads; ${hits} hits on the unwritten rows (${hitsWhileMoving} of ${unwrittenWhileMoving} reads while the slots moved)`);
  t.is(moved, 3000, 'the slots moved');
  t.is(stale, 0);
  // A slot moving to another master is no failover: the cache keeps
  // answering (with every move taken for one, about 1 read in 20 hit).
  t.true(hitsWhileMoving > unwrittenWhileMoving / 4, 'the cache kept answering while the slots moved');
});

test.serial('a cluster down (a master and its replica gone: CLUSTERDOWN) fails no query; back with its data, no process serves what the writes of the outage replaced', async (t) => {
  const { cluster, db, cache, readAll } = await setup(t, 'redis_clusterdown');
  const { Article } = db.models;
  for (let i = 0; (await readAll(1)).hits < 4; i++) {
    if (i > 100) throw new Error('the row never became a hit in every process');
    await sleep(20);
  }
  const master = await cluster.masterFor(memcachedKey(cache.keys.row(cache.schemaOf(Article)!, '1')));
  const replica = await cluster.replicaOf(master);
  if (!replica) throw new Error('the master has no replica');
  await cache.settled();
  // Both gone: their slots have no node, and the cluster stops answering.
  for (const node of [master, replica]) {
    await node.process?.kill();
  }
  const other = cluster.nodes.find((n) => n.process?.running)!;
  for (let i = 0; !/cluster_state:fail/.test(await other.cli('CLUSTER', 'INFO')); i++) {
    if (i > 200) throw new Error('the cluster did not go down');
    await sleep(50);
  }
  const title = 'written while the cluster was down';
  const started = performance.now();
  await Article.update({ title }, { where: { id: 1 } });
  const writeMs = performance.now() - started;
  t.true(cache.metrics.snapshot().lostInvalidations > 0, 'the invalidation could not be delivered');
  let stale = 0;
  let reads = 0;
  let slowestRead = 0;
  for (let i = 0; i < 10; i++) {
    const { titles } = await readAll(1);
    reads += titles.length;
    stale += titles.filter((seen) => seen !== title).length;
    const at = performance.now();
    await Article.findByPk(2 + i);
    slowestRead = Math.max(slowestRead, performance.now() - at);
  }
  // Back with their append-only files: the row from before the write with them.
  await master.start();
  await replica.start();
  await cluster.settled();
  let hits = 0;
  for (const until = Date.now() + 4000; Date.now() < until; await sleep(25)) {
    const read = await readAll(1);
    reads += read.titles.length;
    stale += read.titles.filter((seen) => seen !== title).length;
    hits += read.hits;
  }
  const s = cache.metrics.snapshot();
  t.log(`with the cluster down the write took ${Math.round(writeMs)} ms, the slowest read ${Math.round(slowestRead)} ms (store deadline ${OPTIONS.timeoutMs} ms); ${stale} stale of ${reads} reads; ${hits} hits after the cluster came back; ${s.lostInvalidations} lost invalidations, ${s.invalidationsReplayed} replayed`);
  t.is(stale, 0);
  // A read waits for at most its lookup's deadline and its fill lock's.
  t.true(slowestRead < 3 * OPTIONS.timeoutMs!, 'the client queued or retried no read past the deadlines');
  t.true(hits > 0, 'the cache answers again once the cluster is back');
  t.true(s.invalidationsReplayed > 0, 'the lost invalidation was replayed');
});
