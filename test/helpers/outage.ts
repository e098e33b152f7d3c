/**
 * docs/architecture.md, invariant 4, as one routine run against each store:
 * with the store down, hung or refusing, every query still returns the
 * database's answer within the store deadline plus database time.
 */
import type { ExecutionContext } from 'ava';
import { type CacheStore, ormCache, type StoreError } from '../../source';
import { createTestDatabase, uniqueNamespace } from './test-database';

/** Deadline of the stores under test. */
export const OUTAGE_TIMEOUT_MS = 40;
// Deadline-bound store calls a single read can make before the breaker opens
// (lookup, token add + get, gets, fill) plus generous room for the database
// and a busy CI machine. Without the deadlines a hung server blocks forever.
const BOUND_MS = 5 * OUTAGE_TIMEOUT_MS + 1500;

/**
 * Reads and writes of every kind through `store`, which is down, hung or
 * refusing: each answers what the database says, within the deadlines, and
 * the failures are counted and emitted.
 */
export async function outage(t: ExecutionContext, store: CacheStore, label: string): Promise<void> {
  const db = await createTestDatabase(`outage_${label}`, { authors: 3, articles: 12 });
  const cache = ormCache.install(db.sequelize, { store, namespace: uniqueNamespace() });
  const errors: StoreError[] = [];
  cache.on('error', (error) => errors.push(error));
  t.teardown(async () => {
    cache.uninstall();
    await store.close();
    await db.drop();
  });
  const { Article } = db.models;
  let slowest = 0;
  const timed = async <T>(run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await run();
    slowest = Math.max(slowest, performance.now() - started);
    return result;
  };
  for (let round = 0; round < 3; round++) {
    for (let id = 1; id <= 12; id++) {
      const cached = await timed(() => Article.findByPk(id));
      const truth = await Article.findByPk(id, { cache: false });
      t.deepEqual(cached?.get({ plain: true }), truth?.get({ plain: true }));
    }
    const list = { where: { authorId: 2 }, order: [['id', 'ASC']] as [string, string][] };
    const cachedList = await timed(() => Article.findAll({ ...list, include: [db.models.Author] }));
    const truthList = await Article.findAll({ ...list, include: [db.models.Author], cache: false });
    t.deepEqual(cachedList.map((a) => a.get({ plain: true })), truthList.map((a) => a.get({ plain: true })));
    t.is(await timed(() => Article.count({ where: { published: true } })), await Article.count({ where: { published: true }, cache: false }));
    await timed(() => Article.update({ title: `round ${round}` }, { where: { id: 1 } }));
    t.is((await timed(() => Article.findByPk(1)))!.title, `round ${round}`);
  }
  await timed(() => Article.destroy({ where: { id: 12 } }));
  t.is(await timed(() => Article.findByPk(12)), null);
  t.true(slowest < BOUND_MS, `slowest query took ${Math.round(slowest)} ms`);
  t.true(cache.metrics.snapshot().storeErrors > 0);
  t.true(errors.length > 0, 'failures are emitted as error events');
  t.is(cache.metrics.snapshot().rowHits, 0);
}

