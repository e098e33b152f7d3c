/**
 * MemcachedStore batches the reads of one tick: concurrent `get`s and
 * `getMulti`s of a server go out as one multi-get command, with either client.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { PackageClient } from '../../source/store/memcached-client';
import type { MemcachedDriver } from '../../source/store/memcached-driver';
import { MemcachedStore } from '../../source/store/memcached-store';
import { TextClient } from '../../source/store/text-client';
import { memcachedServers } from '../helpers/test-database';

const clients = { builtin: TextClient.prototype, memcached: PackageClient.prototype } as const;
type Get = MemcachedDriver['get'];

/** Count the read commands the store's drivers send, and the keys in each. */
function spyReads(): { commands: string[][]; restore(): void } {
  const commands: string[][] = [];
  const originals = Object.values(clients).map((prototype) => [prototype, prototype.get] as const);
  for (const [prototype, get] of originals) {
    prototype.get = function (this: MemcachedDriver, keys, done) {
      commands.push([...keys]);
      return get.call(this, keys, done);
    } as Get;
  }
  return {
    commands,
    restore: () => {
      for (const [prototype, get] of originals) prototype.get = get;
    },
  };
}

const prefix = () => `batch${randomBytes(4).toString('hex')}`;

for (const client of ['builtin', 'memcached'] as const) {
test.serial(`${client}: gets and multi-gets issued in one tick share one multi-get command`, async (t) => {
  const store = new MemcachedStore(memcachedServers()[0] as string, { timeoutMs: 500, client });
  const p = prefix();
  try {
    for (let i = 0; i < 30; i++) await store.set(`${p}:${i}`, `value ${i}`, 60);
    const spy = spyReads();
    try {
      const [single, multi, absent, again] = await Promise.all([
        Promise.all(Array.from({ length: 20 }, (_, i) => store.get(`${p}:${i}`))),
        store.getMulti([`${p}:20`, `${p}:21`, `${p}:0`]),
        store.get(`${p}:missing`),
        store.get(`${p}:3`),
      ]);
      t.deepEqual(single, Array.from({ length: 20 }, (_, i) => `value ${i}`));
      t.deepEqual([...multi].sort(), [[`${p}:0`, 'value 0'], [`${p}:20`, 'value 20'], [`${p}:21`, 'value 21']]);
      t.is(absent, undefined);
      t.is(again, 'value 3');
      t.is(spy.commands.length, 1, 'one command for the whole tick');
      t.is(spy.commands[0]?.length, 23, 'each key once');
      // A read after an await is a later tick: a batch of its own.
      await store.get(`${p}:1`);
      t.is(spy.commands.length, 2);
      t.deepEqual(spy.commands[1], [`${p}:1`]);
    } finally {
      spy.restore();
    }
  } finally {
    await store.close();
  }
});

test.serial(`${client}: a tick with more keys than a batch holds sends several commands of at most 100 keys`, async (t) => {
  const store = new MemcachedStore(memcachedServers()[0] as string, { timeoutMs: 1000, client });
  const p = prefix();
  try {
    await Promise.all(Array.from({ length: 250 }, (_, i) => store.set(`${p}:${i}`, `v${i}`, 60)));
    const spy = spyReads();
    try {
      const [many, ...singles] = await Promise.all([
        store.getMulti(Array.from({ length: 180 }, (_, i) => `${p}:${i}`)),
        ...Array.from({ length: 70 }, (_, i) => store.get(`${p}:${180 + i}`)),
      ]);
      t.is((many as Map<string, string>).size, 180);
      for (let i = 0; i < 180; i++) t.is((many as Map<string, string>).get(`${p}:${i}`), `v${i}`);
      t.deepEqual(singles, Array.from({ length: 70 }, (_, i) => `v${180 + i}`));
      t.deepEqual(
        spy.commands.map((keys) => keys.length),
        [100, 100, 50],
      );
    } finally {
      spy.restore();
    }
  } finally {
    await store.close();
  }
});

test.serial(`${client}: a batch that fails fails every read in it, and the next tick starts afresh`, async (t) => {
  const store = new MemcachedStore(memcachedServers()[0] as string, { timeoutMs: 500, client });
  const p = prefix();
  try {
    await store.set(`${p}:a`, 'a', 60);
    const prototype = clients[client];
    const original = prototype.get;
    prototype.get = (_keys, done) => setImmediate(() => done(new Error('connection reset')));
    let results: PromiseSettledResult<unknown>[];
    try {
      results = await Promise.allSettled([store.get(`${p}:a`), store.getMulti([`${p}:a`, `${p}:b`])]);
    } finally {
      prototype.get = original;
    }
    t.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    t.is(await store.get(`${p}:a`), 'a');
  } finally {
    await store.close();
  }
});
}

test.serial('builtin: a command sent after another, before its answer, is applied after it (one connection per server)', async (t) => {
  const store = new MemcachedStore(memcachedServers()[0] as string, { timeoutMs: 500 });
  const p = prefix();
  try {
    for (let i = 0; i < 200; i++) {
      const write = store.set(`${p}:k`, `v${i}`, 60);
      // Once the set is written out, before any answer can be read (no I/O
      // phase in between): the get goes out in a write of its own.
      await new Promise<void>((resolve) => process.nextTick(() => process.nextTick(() => process.nextTick(resolve))));
      const [read] = await Promise.all([store.get(`${p}:k`), write]);
      t.is(read, `v${i}`);
    }
  } finally {
    await store.close();
  }
});
