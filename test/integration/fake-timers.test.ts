/**
 * An app's tests often install fake timers (sinon, Jest) that freeze
 * setTimeout, setImmediate, Date and performance.now. The cache's own
 * deadlines, lock waits and fill ages must keep real time under them, or a
 * query waits forever (Sequelize's own suite does this in model.test.js).
 */
import test from 'ava';
import { setTimeout as realSleep } from 'node:timers/promises';
import { ormCache } from '../../source';
import { useCachedBlog, type CachedBlog } from '../helpers/cached-blog';
import type { TestFn } from 'ava';

const serial = test as TestFn<CachedBlog>;
useCachedBlog(serial, 'fake_timers', { authors: 2, articles: 8 });

/** Freeze the timer globals as fake-timer libraries do; returns the restore. */
function freezeTimers(): () => void {
  const saved = { setTimeout, setImmediate, setInterval, dateNow: Date.now, perfNow: performance.now };
  const frozen = 1_700_000_000_000;
  const never = (() => ({ unref() {}, ref() {}, hasRef: () => false, refresh() {} })) as unknown as typeof setTimeout;
  Object.assign(globalThis, { setTimeout: never, setImmediate: never, setInterval: never });
  Date.now = () => frozen;
  performance.now = () => 0;
  return () => {
    Object.assign(globalThis, { setTimeout: saved.setTimeout, setImmediate: saved.setImmediate, setInterval: saved.setInterval });
    Date.now = saved.dateNow;
    performance.now = saved.perfNow;
  };
}

serial.serial('a lock wait, store deadlines and writes finish while the app has frozen the timers', async (t) => {
  const { db, probe, cache } = t.context;
  const { Article } = db.models;
  // A second app process: same store and namespace, its own connection pool.
  const other = await db.connect();
  const otherCache = ormCache.install(other.sequelize, { store: probe, namespace: cache.options.namespace, lockWaitMs: 300 });
  t.teardown(() => otherCache.uninstall());
  // The first reader takes the fill lock and is held before its fill: the
  // other process waits on the lock, then must give up after lockWaitMs.
  const hold = probe.pauseNext('add', (key) => key.endsWith(':r:3'));
  const restore = freezeTimers();
  try {
    const work = (async () => {
      const first = Article.findByPk(3);
      await hold.reached;
      const waited = (await other.models.Article.findByPk(3)) as unknown as { id: number } | null;
      hold.release();
      await first;
      await Article.update({ title: 'under frozen timers' }, { where: { id: 3 } });
      const list = await other.models.Article.findAll({ where: { authorId: [1, 2] } });
      return { waited: waited?.id, listed: list.length };
    })();
    const outcome = await Promise.race([work, realSleep(20_000).then(() => 'stalled' as const)]);
    t.not(outcome, 'stalled', 'every query finished');
    t.is((outcome as { waited?: number }).waited, 3);
    t.is(otherCache.metrics.snapshot().lockTimeouts, 1, 'the waiter gave up after lockWaitMs, not when the lock expired');
    t.is(((await other.models.Article.findByPk(3)) as unknown as { title: string }).title, 'under frozen timers');
  } finally {
    restore();
    hold.release();
  }
});
