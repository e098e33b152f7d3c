/**
 * RedisStore on a real Redis Cluster of 3 masters and 3 replicas started by
 * the test: the CacheStore contract (multi-key reads split by slot), the
 * differential run, and a failover without resurrection. Redis replicates
 * asynchronously: a write its master acknowledged may be missing from the
 * replica promoted when that master dies, and the entries it replaced come
 * back. Invalidation writes wait for a replica (`WAIT`), a write no replica
 * took is replayed, and every process reads nothing for a grace period after
 * a slot changes masters. The sabotaged run (no WAIT) shows the stale reads.
 */
import anyTest, { type TestFn } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import { memcachedKey, ormCache, RedisStore, type RedisStoreOptions } from '../../source';
import { RedisCluster } from '../harness/redis-server';
import type { CachedBlog } from '../helpers/cached-blog';
import { ProbeStore } from '../helpers/store-probe';
import { differentialRun } from '../helpers/differential';
import { clusterApp } from '../helpers/cluster-app';
import { type ContractContext, storeContract } from '../helpers/store-contract';
import { createTestDatabase, uniqueNamespace } from '../helpers/test-database';

let cluster: RedisCluster | undefined;
let dir: string | undefined;
const urls = () => (cluster as RedisCluster).urls;

anyTest.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'orm-cache-cluster-'));
  cluster = await RedisCluster.launch(dir);
});

anyTest.after.always(async () => {
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const contract = anyTest as TestFn<ContractContext>;
// The contract's tests get a store; the others make what they need.
const CONTRACT = /^RedisStore on a Redis Cluster|^a multi-get/;
contract.beforeEach((t) => {
  if (CONTRACT.test(t.title.replace(/^beforeEach hook for /, ''))) {
    t.context = { store: new RedisStore(urls(), { timeoutMs: 1000 }), pass: (seconds) => sleep(seconds * 1000) };
  }
});
contract.afterEach.always(async (t) => {
  const context = t.context as Partial<ContractContext> | undefined;
  if (context?.store && 'pass' in context) await context.store.close();
});
storeContract(contract, 'RedisStore on a Redis Cluster');

contract.serial('a multi-get over keys of many slots answers in one call', async (t) => {
  const { store } = t.context;
  const keys = Array.from({ length: 300 }, (_, i) => `cluster:many:${i}:${Date.now()}`);
  await Promise.all(keys.map((k, i) => store.set(k, `v${i}`, 60)));
  const found = await store.getMulti(keys);
  t.is(found.size, 300);
  t.is(found.get(keys[123] as string), 'v123');
});

anyTest.serial('a Cluster client the app made keeps none of the store\'s listeners after close()', async (t) => {
  const client = new Cluster(urls().map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) })), { enableOfflineQueue: false });
  t.teardown(() => client.disconnect());
  await new Promise((resolve) => client.once('ready', resolve));
  const listening = () => client.eventNames().map((event) => `${String(event)}:${client.listenerCount(event)}`);
  const before = listening();
  const store = new RedisStore(client, { timeoutMs: 1000 });
  const key = `cluster:handed:${Date.now()}`;
  t.true(await store.set(key, 'v', 60));
  t.notDeepEqual(listening(), before, 'the store follows the topology');
  await store.close();
  t.is(await client.get(key), 'v', 'the client still works after the store closed');
  t.deepEqual(listening(), before);
});

const blog = anyTest as TestFn<CachedBlog>;
blog.serial('800 random reads and writes on a Redis Cluster: every cached read equals the uncached read', async (t) => {
  const db = await createTestDatabase('redis_cluster', { authors: 8, articles: 80, commentsPerArticle: 2, tags: 6 });
  const probe = new ProbeStore(new RedisStore(urls(), { timeoutMs: 1000 }));
  const cache = ormCache.install(db.sequelize, { store: probe, namespace: uniqueNamespace() });
  t.teardown(async () => {
    cache.uninstall();
    await probe.close();
    await db.drop();
  });
  t.context = { db, cache, probe };
  await differentialRun(t, 800);
});

/**
 * Readers in other processes cache article 1; the replica of the master of
 * its row key is frozen (SIGSTOP) and its replication link cut, so nothing
 * the master takes from then on reaches it; this process updates the row; the master is killed, the
 * replica resumed and promoted. Then every process reads the row for a while.
 */
async function failover(t: import('ava').ExecutionContext, options: RedisStoreOptions): Promise<{ stale: number; reads: number }> {
  // A cluster of its own: the run kills one of its masters.
  const own = mkdtempSync(join(tmpdir(), 'orm-cache-failover-'));
  const running = await RedisCluster.launch(own);
  t.teardown(async () => {
    await running.stop();
    rmSync(own, { recursive: true, force: true });
  });
  const storeOptions: RedisStoreOptions = { timeoutMs: 200, breakerCooldownMs: 200, returnGraceMs: 1500, ...options };
  const { db, cache, readers } = await clusterApp(t, running, 'redis_failover', { authors: 2, articles: 6 }, storeOptions);
  const { Article } = db.models;
  // Every process has the row cached.
  for (let i = 0; i < 50; i++) {
    const replies = await Promise.all(readers.map((r) => r.ask({ pk: 1 })));
    await Article.findByPk(1);
    if (replies.every((r) => r.selects === 0)) break;
    await sleep(20);
  }
  const rowKey = cache.keys.row(cache.schemaOf(Article)!, '1');
  const master = await running.masterFor(memcachedKey(rowKey));
  const replica = await running.replicaOf(master);
  if (!replica) throw new Error('the master has no replica');
  // Frozen, and cut off: what the master takes from now on never reaches it
  // (a stopped process still receives what is already on the wire).
  replica.process?.signal('SIGSTOP');
  await master.cli('CLIENT', 'KILL', 'TYPE', 'replica');
  for (let i = 0; !/connected_slaves:0/.test(await master.cli('INFO', 'replication')); i++) {
    if (i > 100) throw new Error('the replica stayed connected');
    await sleep(20);
  }
  // An instance save: its invalidation is the row's tombstone (on that master) and nothing else.
  const article = (await Article.findByPk(1, { cache: false }))!;
  await article.update({ title: 'written before the failover' });
  await master.process?.kill();
  replica.process?.signal('SIGCONT');
  // The cluster notices after its node timeout (1.5 s) and promotes the replica.
  for (let i = 0; ; i++) {
    const role = await replica.cli('ROLE').catch(() => '');
    const states = await Promise.all(running.nodes.filter((n) => n.process?.running).map((n) => n.cli('CLUSTER', 'INFO').catch(() => '')));
    if (role.startsWith('master') && states.every((s) => /cluster_state:ok/.test(s))) break;
    if (i > 300) throw new Error('the replica was not promoted');
    await sleep(100);
  }
  const promoted = await replica.cli('GET', memcachedKey(rowKey));
  t.log(`the promoted replica holds the row key as ${promoted.startsWith('["r"') ? 'the row from before the write' : promoted.slice(0, 40)}`);
  let stale = 0;
  let reads = 0;
  let hits = 0;
  const until = Date.now() + 4000; // well past the grace period
  while (Date.now() < until) {
    const replies = await Promise.all(readers.map((r) => r.ask({ pk: 1 })));
    hits += replies.filter((r) => r.selects === 0).length;
    const titles = [...replies.map((r) => r.title), (await Article.findByPk(1))?.title];
    reads += titles.length;
    stale += titles.filter((title) => title !== 'written before the failover').length;
    await sleep(25);
  }
  const s = cache.metrics.snapshot();
  t.log(`${hits} of the other processes' reads after the failover were cache hits; the writer: ${s.lostInvalidations} lost invalidations, ${s.invalidationsReplayed} replayed`);
  return { stale, reads };
}

anyTest.serial('after a master dies and its replica is promoted, no process reads an entry the lost writes had replaced', async (t) => {
  const { stale, reads } = await failover(t, {});
  t.log(`with WAIT and the failover grace: ${stale} stale of ${reads} reads`);
  t.is(stale, 0);
});

anyTest.serial('without WAIT and without the failover grace (replicaAcks: 0, returnGraceMs: 0) the same failover brings the replaced entries back: the test can see it', async (t) => {
  const { stale, reads } = await failover(t, { replicaAcks: 0, returnGraceMs: 0 });
  t.log(`sabotaged, no WAIT: ${stale} stale of ${reads} reads`);
  t.true(stale > 0, 'stale reads after the failover');
});
