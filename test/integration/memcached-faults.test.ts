/**
 * The failure modes of a memcached client, each against a real memcached or a
 * fake TCP server and with both of MemcachedStore's clients: hangs, drops,
 * refusals, errors, restarts, values that break line framing, and (the
 * `memcached` package's) the `ping` its reconnect path spawns.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import Memcached from 'memcached';
import { StoreError } from '../../source/errors';
import { MemcachedStore } from '../../source/store/memcached-store';
import { freePort, MemcachedServer } from '../harness/servers';
import { startFakeServer } from '../helpers/fake-servers';
import { Wire } from '../soak/memcached-wire';
import { memcachedServers } from '../helpers/test-database';

async function failure(promise: Promise<unknown>): Promise<{ error: StoreError; ms: number }> {
  const started = performance.now();
  try {
    await promise;
  } catch (error) {
    return { error: error as StoreError, ms: performance.now() - started };
  }
  throw new Error('expected the operation to fail');
}

for (const client of ['builtin', 'memcached'] as const) {
  test(`${client}: a hung server costs each operation its deadline, then the breaker fails fast`, async (t) => {
    const fake = await startFakeServer('hang');
    t.teardown(() => fake.close());
    const store = new MemcachedStore(fake.address, { timeoutMs: 40, breakerThreshold: 3, breakerCooldownMs: 60_000, client });
    t.teardown(() => store.close());
    for (let i = 0; i < 3; i++) {
      const { error, ms } = await failure(store.get('key'));
      t.is(error.code, 'ETIMEOUT');
      t.true(ms >= 35 && ms < 1000, `took ${ms} ms`);
    }
    t.is(store.health()[0]?.breaker, 'open');
    const { error, ms } = await failure(store.getMulti(['a', 'b']));
    t.is(error.code, 'ECIRCUITOPEN');
    t.true(ms < 20, `open breaker answered in ${ms} ms`);
  });

  test(`${client}: a server that drops the connection mid-request fails the operation within the deadline`, async (t) => {
    const fake = await startFakeServer('drop');
    t.teardown(() => fake.close());
    const store = new MemcachedStore(fake.address, { timeoutMs: 50, client });
    t.teardown(() => store.close());
    for (const op of [() => store.get('k'), () => store.set('k', 'v', 10), () => store.gets('k'), () => store.getMulti(['a'])]) {
      const { error, ms } = await failure(op());
      t.true(error instanceof StoreError);
      t.true(ms < 1000, `took ${ms} ms`);
    }
    t.true(fake.connections >= 1);
  });

  test(`${client}: a refused connection is reported at once, not after the client default retries`, async (t) => {
    const port = await freePort();
    const store = new MemcachedStore(`127.0.0.1:${port}`, { timeoutMs: 50, client });
    const { error, ms } = await failure(store.get('k'));
    t.true(['ECONNECTION', 'ETIMEOUT'].includes(error.code), error.code);
    t.true(ms < 1000, `took ${ms} ms`);
    await store.close();
  });

  test(`${client}: a server answering SERVER_ERROR reads as a miss and "not stored", without crashing`, async (t) => {
    const fake = await startFakeServer('error');
    t.teardown(() => fake.close());
    const store = new MemcachedStore(fake.address, { timeoutMs: 50, client });
    t.teardown(() => store.close());
    t.false(await store.set('k', 'v', 10).catch(() => false));
    t.is(await store.get('k').catch(() => undefined), undefined);
  });

  test(`${client}: after a memcached restart the breaker closes again and operations succeed`, async (t) => {
    const server = await MemcachedServer.launch(16);
    t.teardown(() => server.stop());
    const store = new MemcachedStore(server.address, { timeoutMs: 50, breakerThreshold: 1, breakerCooldownMs: 100, client });
    t.true(await store.set('k', 'v', 60));
    await server.process?.kill();
    await failure(store.get('k'));
    t.is(store.health()[0]?.breaker, 'open');
    await server.start();
    let value: string | undefined = 'unset';
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      try {
        value = await store.get('k');
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    t.is(value, undefined, 'the restarted server is empty and answers');
    t.is(store.health()[0]?.breaker, 'closed');
    t.true(store.health()[0]!.breakerOpened >= 1);
    await store.close();
    await server.stop();
  });

  test(`${client}: a dead server never makes the client spawn ping or keep the process alive`, async (t) => {
    const port = await freePort();
    const child = join(__dirname, '..', 'helpers', 'dead-server-child.ts');
    const started = Date.now();
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', child, `127.0.0.1:${port}`],
        { cwd: join(__dirname, '..', '..'), timeout: 20_000 },
        (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
      );
    });
    const result = JSON.parse(output) as { failures: number; spawned: string[] };
    t.is(result.failures, 80);
    t.deepEqual(result.spawned, []);
    t.true(Date.now() - started < 15_000);
  });

  test(`${client}: a burst of operations far larger than the pool succeeds on a fresh store`, async (t) => {
    const store = new MemcachedStore(memcachedServers(), { timeoutMs: 2000, poolSize: 4, client });
    t.teardown(() => store.close());
    const results = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => store.set(`burst:${i}`, 'v', 60)));
    t.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), []);
    t.is((await store.getMulti(Array.from({ length: 300 }, (_, i) => `burst:${i}`))).size, 300);
  });

  test(`${client}: values containing raw CR or LF are refused before they reach the protocol`, async (t) => {
    const store = new MemcachedStore(memcachedServers(), { timeoutMs: 500, client });
    const error = await t.throwsAsync(store.set('k', 'a\r\nset evil 0 0 1', 60));
    t.true(error instanceof StoreError);
    await store.close();
  });

  test(`${client}: a value planted with CR/LF never shifts later answers onto other requests`, async (t) => {
    const wire = await Wire.open(memcachedServers()[0] as string);
    t.teardown(() => wire.close());
    const prefix = `frame${Date.now()}`;
    // The tail of the planted value is a well-formed answer for another key:
    // a client that splits on CR LF hands it to the next request on the line.
    await wire.set(`${prefix}:planted`, Buffer.from(`head\r\nVALUE ${prefix}:other 0 5\r\nwrong\r\nEND\r\n`), 60);
    await wire.set(`${prefix}:other`, Buffer.from('right'), 60);
    const store = new MemcachedStore(memcachedServers(), { timeoutMs: 1000, poolSize: 1, breakerThreshold: 1000, client });
    t.teardown(() => store.close());
    for (let round = 0; round < 20; round++) {
      // Pipelined on the one connection: the planted answer, then the other key.
      const [planted, other] = await Promise.allSettled([store.get(`${prefix}:planted`), store.get(`${prefix}:other`)]);
      t.not(planted.status === 'fulfilled' ? planted.value : undefined, 'head', 'the truncated value is never returned');
      // The built-in client reads values by their declared length: nothing is lost.
      if (client === 'builtin') t.is(planted.status === 'fulfilled' ? planted.value : undefined, `head\r\nVALUE ${prefix}:other 0 5\r\nwrong\r\nEND\r\n`);
      if (other.status === 'fulfilled') t.is(other.value, 'right');
    }
    // And the store keeps working.
    t.is(await store.get(`${prefix}:other`), 'right');
  });
}

test('keys are placed on the same server as the memcached client would place them', async (t) => {
  const servers = ['127.0.0.1:11211', '127.0.0.1:11212', '127.0.0.1:11213'];
  const store = new MemcachedStore(servers);
  const client = new Memcached(servers) as unknown as { HashRing: { get(key: string): string } };
  const used = new Set<string>();
  for (let i = 0; i < 300; i++) {
    const key = `oc:Article:abc:r:${i}`;
    t.is(store.serverFor(key), client.HashRing.get(key));
    used.add(store.serverFor(key));
  }
  t.is(used.size, 3);
  await store.close();
});

test('invalid store options are rejected, naming the option', (t) => {
  t.regex(t.throws(() => new MemcachedStore([]))!.message, /`servers`/);
  t.regex(t.throws(() => new MemcachedStore('127.0.0.1:11211', { timeoutMs: -1 }))!.message, /`timeoutMs`/);
  t.regex(t.throws(() => new MemcachedStore('localhost'))!.message, /`servers`/);
  t.regex(t.throws(() => new MemcachedStore('127.0.0.1:11211', { client: 'redis' as 'builtin' }))!.message, /`client`/);
});

test('builtin: a connection whose oldest request got no byte for twice the connect timeout is replaced', async (t) => {
  const fake = await startFakeServer('hang');
  t.teardown(() => fake.close());
  const store = new MemcachedStore(fake.address, { timeoutMs: 20, connectTimeoutMs: 50, poolSize: 1, breakerThreshold: 1000 });
  t.teardown(() => store.close());
  await failure(store.get('a'));
  await failure(store.get('b'));
  t.is(fake.connections, 1, 'within the stall window the connection is kept');
  await new Promise((resolve) => setTimeout(resolve, 150));
  await failure(store.get('c'));
  t.is(fake.connections, 2, 'a connection that went silent is dropped and a new one opened');
});

test('builtin: the commands of one tick reach a server in one write, in order', async (t) => {
  const fake = await startFakeServer('record');
  t.teardown(() => fake.close());
  const store = new MemcachedStore(fake.address, { timeoutMs: 30, poolSize: 4, breakerThreshold: 1000 });
  t.teardown(() => store.close());
  const ops = [store.set('a', '1', 60), store.delete('b'), store.get('c'), store.get('d'), store.add('e', 'é', 0)];
  await Promise.allSettled(ops);
  t.is(fake.chunks.length, 1, 'one packet');
  t.is(fake.chunks[0], 'set a 0 60 1\r\n1\r\ndelete b\r\nadd e 0 0 2\r\né\r\nget c d\r\n');
});

test.serial('builtin: a long synchronous stretch after a command is queued, before it is written, is not a timeout', async (t) => {
  // A server that answers 10 ms after each request, within the 100 ms
  // deadline (with room for a loaded CI box: at 30 ms a busy neighbour
  // process sometimes delayed the fake server's own timer past it). (The
  // `memcached` package cannot say when it wrote a command: its deadline
  // runs from the call.)
  const fake = await startFakeServer('slow');
  t.teardown(() => fake.close());
  const store = new MemcachedStore(fake.address, { timeoutMs: 100, client: 'builtin' });
  t.teardown(() => store.close());
  t.true(await store.set('stretch', 'warm', 60));
  // A write is queued at once (a read joins its tick's batch first)...
  const write = store.set('stretch', 'v', 60);
  // ...then a long synchronous stretch (building a 40,000-row answer, say):
  // no I/O and no timers meanwhile. The deadline counts from the write out.
  const until = performance.now() + 300;
  while (performance.now() < until);
  t.true(await write);
});

test('builtin: a reply that does not fit its command fails it and replaces the connection', async (t) => {
  // This server answers STORED to everything: right for a set, not for a delete.
  const fake = await startFakeServer('slow');
  t.teardown(() => fake.close());
  const store = new MemcachedStore(fake.address, { timeoutMs: 200, client: 'builtin', breakerThreshold: 1000 });
  t.teardown(() => store.close());
  t.true(await store.set('k', 'v', 60));
  const { error } = await failure(store.delete('k'));
  t.regex(error.message, /unexpected reply "STORED"/);
  t.true(await store.set('k', 'v', 60));
  t.is(fake.connections, 2, 'the connection that answered out of step was dropped');
});
