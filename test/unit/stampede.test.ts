import test from 'ava';
import { SingleFlight } from '../../stampede/single-flight';
import { gate, kit } from './kit';

test('single-flight: reads arriving while a flight runs board the next one and get copies of what its leader shares', async (t) => {
  const flights = new SingleFlight();
  const running = flights.board('k');
  const next = flights.board('k');
  const a = flights.board('k');
  const b = flights.board('k');
  if (running.role !== 'leader' || next.role !== 'leader' || a.role !== 'passenger' || b.role !== 'passenger') {
    return t.fail('one running flight, one boarding behind it with two passengers');
  }
  let started = false;
  void next.ready.then(() => {
    started = true;
  });
  await Promise.resolve();
  t.false(started, 'the boarding flight waits for the running one');
  running.land();
  await next.ready;
  t.is(flights.board('k').role, 'leader', 'a started flight takes no passengers: a new read leads the flight after it');
  next.share({ rows: [1, 2] }, ['misses']);
  next.land();
  const [copyA, copyB] = [SingleFlight.copy(await a.result), SingleFlight.copy(await b.result)];
  t.deepEqual(copyA?.value, { rows: [1, 2] });
  t.not(copyA?.value, copyB?.value, 'each passenger decodes its own copy');
});

test('single-flight: a flight that lands without sharing tells its passengers to run their own reads', async (t) => {
  const flights = new SingleFlight();
  const running = flights.board('k');
  const next = flights.board('k');
  const passenger = flights.board('k');
  if (running.role !== 'leader' || next.role !== 'leader' || passenger.role !== 'passenger') return t.fail();
  running.land();
  await next.ready;
  next.land();
  t.is(await passenger.result, 'retry');
});

test('fill lock: one reader wins, the others are told busy and wait until the fill lands', async (t) => {
  const k = kit({ lockWaitMs: 1000 });
  const counters = k.metrics.meter('Article', 'list').counters;
  const release = await k.locks.acquire('entry', counters);
  t.is(typeof release, 'function');
  t.is(await k.locks.acquire('entry', counters), 'busy');
  let filled: string | undefined;
  const waited = k.locks.wait('entry', async () => filled, counters);
  setTimeout(() => {
    filled = 'rows';
  }, 20);
  t.is(await waited, 'rows');
});

test('fill lock: a holder that releases without a fill ends the wait at once', async (t) => {
  const k = kit({ lockWaitMs: 5000 });
  const counters = k.metrics.meter('Article', 'list').counters;
  const release = await k.locks.acquire('entry', counters);
  if (typeof release !== 'function') return t.fail();
  const started = Date.now();
  const waited = k.locks.wait('entry', async () => undefined, counters);
  setTimeout(() => void release(), 20);
  t.is(await waited, undefined);
  t.true(Date.now() - started < 2000, 'not the full lockWaitMs');
});

test('fill lock: a failing store is "unavailable", so nobody waits on it', async (t) => {
  const k = kit();
  await k.store.close();
  t.is(await k.locks.acquire('entry', k.metrics.meter('Article', 'list').counters), 'unavailable');
});

test('soft expiry: due at the soft expiry; before it only by XFetch, likelier the longer the query took', (t) => {
  let u = 0.5;
  const k = kit({ beta: 1, random: () => u });
  const at = k.clock.now() + 1000;
  t.true(kit().stampede.due({ softExpiresAt: k.clock.now(), delta: 0 }));
  t.false(kit().stampede.due({ softExpiresAt: at, delta: 5000 }), 'β = 0: never early');
  // now − δ·β·ln(1 − U) ≥ expiry: with U = 0.5, δ = 2000 ms reaches 1386 ms ahead.
  t.true(k.stampede.due({ softExpiresAt: at, delta: 2000 }));
  t.false(k.stampede.due({ softExpiresAt: at, delta: 1000 }));
  u = 0.9;
  t.true(k.stampede.due({ softExpiresAt: at, delta: 1000 }), 'a larger draw refreshes earlier');
});

test('soft expiry: one refresher per entry; a failed refresh releases the lock for the next reader', async (t) => {
  const k = kit();
  const counters = k.metrics.meter('Article', 'list').counters;
  const soft = { softExpiresAt: k.clock.now() - 1, delta: 1 };
  const hold = gate<string>();
  const first = await k.stampede.refresh('entry', soft, () => hold.promise, counters);
  const second = await k.stampede.refresh('entry', soft, async () => 'again', counters);
  t.deepEqual(first, { refreshed: false, stale: true }, 'background mode: the refresher serves stale too');
  t.deepEqual(second, { refreshed: false, stale: true });
  t.is(counters.refreshes, 1);
  hold.open('fresh');
  await k.stampede.settled();
  const failing = kit();
  const c = failing.metrics.meter('Article', 'list').counters;
  await failing.stampede.refresh('e', soft, async () => Promise.reject(new Error('db down')), c);
  await failing.stampede.settled();
  t.is(c.refreshFailures, 1);
  t.is(typeof (await failing.locks.acquire('e:refresh', c)), 'function', 'released after the failure');
});
