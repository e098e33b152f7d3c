import test from 'ava';
import { Sequelize } from 'sequelize';
import { MemoryStore, ormCache, StoreError } from '../../source';

// No query runs: the instance never connects.
const sequelize = () => new Sequelize('mysql://nobody:nothing@127.0.0.1:9/none', { logging: false });

test('store work sent after the answer that fails goes to error listeners, never to an unhandled rejection', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  const cache = ormCache.install(sequelize(), { store: new MemoryStore() });
  t.teardown(() => cache.uninstall());
  const errors: StoreError[] = [];
  cache.on('error', (error) => errors.push(error));
  // A fill whose encoding threw after the answer had gone, say.
  cache.later(Promise.reject(new TypeError('cannot encode this')));
  await cache.settled();
  t.is(errors.length, 1);
  t.true(errors[0] instanceof StoreError);
  t.regex(errors[0]?.message ?? '', /cannot encode this/);
  t.is(errors[0]?.operation, 'background store work');
  // With no listener the failure is dropped, not thrown.
  cache.removeAllListeners('error');
  cache.later(Promise.reject(new Error('nobody listens')));
  await cache.settled();
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(unhandled, []);
});
