/**
 * What a RedisStore follows of a Redis Cluster's topology (ClusterView), on a
 * stand-in for ioredis' Cluster: which slot changes start a grace period, and
 * that no answer of a node, however odd, throws in the app's process.
 */
import test from 'ava';
import { EventEmitter } from 'node:events';
import type { Cluster } from 'ioredis';
import { ClusterView } from '../../source/store/redis-protocol';

/** A Cluster's slot map and its CLUSTER SLOTS answer, as a test sets them. */
class FakeCluster extends EventEmitter {
  slots: string[][] = [];
  answer: unknown = [];
  cluster(): Promise<unknown> {
    return Promise.resolve(this.answer);
  }
  /** Slots 0–8191 on `a`, 8192–16383 on `b`. */
  serve(a: string, b: string): void {
    this.slots = Array.from({ length: 16384 }, (_, slot) => [slot < 8192 ? a : b]);
  }
}

function view(): { fake: FakeCluster; view: ClusterView } {
  const fake = new FakeCluster();
  return { fake, view: new ClusterView(fake as unknown as Cluster) };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('a slot whose new master was a replica starts the grace period; a slot moved to another master does not', (t) => {
  const { fake, view: v } = view();
  fake.emit('refresh'); // before the first load: no slot served
  fake.serve('m1:7000', 'm2:7001');
  fake.emit('refresh');
  t.is(v.changedAt, 0, 'the first view that serves slots has nothing to compare with');
  fake.serve('m1:7000', 'm1:7000'); // resharding: m2's slots moved to m1
  fake.emit('refresh');
  t.is(v.changedAt, 0);
  fake.slots = fake.slots.map(() => []); // a refresh that found no node serving anything
  fake.emit('refresh');
  fake.serve('m1:7000', 'm1:7000'); // and the same masters again
  fake.emit('refresh');
  t.is(v.changedAt, 0, 'a view without masters between two alike changes nothing');
  fake.serve('m1:7000', 'r2:7004'); // a node that was no master serves slots now
  fake.emit('refresh');
  t.true(v.changedAt > 0);
});

test('a CLUSTER SLOTS answer that is no list of ranges changes nothing and throws nothing', async (t) => {
  const { fake, view: v } = view();
  fake.serve('m1:7000', 'm2:7001');
  fake.answer = [[0, 8191, ['127.0.0.1', 7000], ['127.0.0.1', 7003]], [8192, 16383, ['127.0.0.1', 7001]]];
  fake.emit('refresh');
  await settle();
  t.is(v.replicas(0), 1);
  t.is(v.replicas(9000), 0);
  for (const odd of [undefined, null, 'ERR', 42, [null, 'x', [1]], [['a', 'b']]]) {
    fake.answer = odd;
    fake.emit('refresh'); // an unhandled rejection here would fail the test
    await settle();
  }
  t.is(v.replicas(0), 1, 'the last good count stands');
});
