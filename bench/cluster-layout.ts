/**
 * The key layout on a Redis Cluster, measured (docs/stores.md, "Cluster key
 * layout"). RedisStore places every key by its own hash slot, so a
 * multi-get is split into one MGET per slot. The other layout would put a
 * model's keys in one slot with a hash tag (`{…}`): one MGET per read, and
 * every read of the model on one master. Both on a cluster of 3 masters and
 * 3 replicas started here, through RedisStore: a row hit's 3 keys and a
 * list hit's 50 rows, one at a time and with 32 in flight, with the CPU of
 * the masters together and the busiest master's share of it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisStore } from '../source';
import { RedisCluster, type RedisServer } from '../test/harness/redis-server';
import { type DriverRow, inFlight, measureShapes } from './timing';

export interface LayoutRow extends DriverRow {
  /** The busiest master's share of the masters' CPU with 32 in flight. */
  busiestShare: number;
}

async function cpuOf(node: RedisServer): Promise<number> {
  const info = await node.cli('INFO', 'cpu');
  const seconds = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6;
}

export async function compareClusterLayouts(prefix: string, rounds: number, ops: number): Promise<LayoutRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'orm-cache-bench-cluster-'));
  const cluster = await RedisCluster.launch(dir);
  const store = new RedisStore(cluster.urls, { timeoutMs: 1000 });
  try {
    const masters = await cluster.masters();
    const ROWS = 1000;
    const layouts = {
      'own slot per key (today)': (name: string) => `${prefix}:Article:${name}`,
      'one slot per model (hash tag)': (name: string) => `{${prefix}:Article}:${name}`,
    };
    const row = 'r'.repeat(900);
    for (const key of Object.values(layouts)) {
      for (let i = 0; i < ROWS; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => store.set(key(`r${i + j}`), row, 600)));
      await Promise.all(['t1', 't2'].map((t) => store.set(key(t), 'token', 600)));
    }
    const rowHit = (key: (name: string) => string) => (i: number) => store.getMulti([key(`r${(i * 7) % ROWS}`), key('t1'), key('t2')]);
    const listRows = (key: (name: string) => string) => (i: number) => store.getMulti(Array.from({ length: 50 }, (_, j) => key(`r${(i * 50 + j) % ROWS}`)));
    const shapes: [string, Record<string, (i: number) => Promise<unknown>>][] = [
      ['row hit: 3 keys', Object.fromEntries(Object.entries(layouts).map(([name, key]) => [name, rowHit(key)]))],
      ['list hit: 50 rows of 900 B', Object.fromEntries(Object.entries(layouts).map(([name, key]) => [name, listRows(key)]))],
    ];
    const total = async () => (await Promise.all(masters.map(cpuOf))).reduce((a, b) => a + b, 0);
    const rows = await measureShapes(shapes, rounds, ops, total);
    const out: LayoutRow[] = [];
    for (const r of rows) {
      const run = shapes.find(([shape]) => shape === r.shape)?.[1][r.driver] as (i: number) => Promise<unknown>;
      const before = await Promise.all(masters.map(cpuOf));
      await inFlight(ops, 32, run);
      const used = (await Promise.all(masters.map(cpuOf))).map((cpu, i) => cpu - (before[i] as number));
      const sum = used.reduce((a, b) => a + b, 0);
      out.push({ ...r, busiestShare: sum > 0 ? Math.max(...used) / sum : NaN });
    }
    return out;
  } finally {
    await store.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
