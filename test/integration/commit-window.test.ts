/**
 * The moment between a write's commit and its last invalidation: a caller
 * that has seen the write's effect in the database (a duplicate-key error, a
 * committed transaction) must never then read an entry from before it. The
 * writer is held at its last invalidation (a store operation) while the
 * test reads; a reader that fills while the writer's statement waits on a
 * row lock must store nothing.
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import mysql from 'mysql2/promise';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'commit_window', { authors: 2, articles: 4, tags: 2 });

type Tag = { id: string; name: string; save(o?: object): Promise<unknown> };

/** A new tag, built: its UUID key exists before the insert. */
function newTag(t: ExecutionContext<CachedBlog>, name: string) {
  return { tag: t.context.db.models.Tag.build({ name }) as unknown as Tag };
}

/** Keys of Tag that only writers set: tombstones and tokens (not entries, which readers set). */
const tagWriteKey = (key: string) => key.includes(':Tag:') && /:(r:[^:]+|c:[^:]+|l|e)$/.test(key);

/**
 * Hold the writer's whole last invalidation: every token rotation and
 * tombstone of Tag from the first one it makes after its row is committed
 * (seen from another connection). Earlier ones (a first invalidation,
 * before the statement or the COMMIT) are let through.
 */
async function holdLastInvalidation(t: ExecutionContext<CachedBlog>, id: string) {
  const { db, probe } = t.context;
  const hold = () => probe.holdAll('set', tagWriteKey);
  let gate = hold(); // before any await: the invalidation may come at once
  const outside = await mysql.createConnection(db.url);
  try {
    for (;;) {
      await gate.reached;
      const [rows] = await outside.query('SELECT COUNT(*) AS n FROM tags WHERE id = ?', [id]);
      if ((rows as { n: number }[])[0]?.n) {
        const held = gate;
        t.teardown(() => held.release()); // a failing test must not leave the writer held
        return held;
      }
      const passed = gate;
      gate = hold();
      passed.release();
    }
  } finally {
    await outside.end();
  }
}

const names = async (t: ExecutionContext<CachedBlog>, name: string) =>
  ((await t.context.db.models.Tag.findAll({ where: { name } })) as unknown as Tag[]).map((tag) => tag.name);

async function warmEmpty(t: ExecutionContext<CachedBlog>, name: string) {
  t.deepEqual(await names(t, name), []);
  t.deepEqual(await names(t, name), []);
  t.context.db.sql.take();
  t.deepEqual(await names(t, name), []);
  t.is(t.context.db.sql.selects().length, 0, 'the empty list is a hit before the write');
}

test.serial('a caller that saw the committed row (a duplicate key) reads it while the writer has not finished invalidating', async (t) => {
  const { db } = t.context;
  await warmEmpty(t, 'race');
  const { tag } = newTag(t, 'race');
  const winner = tag.save();
  const last = await holdLastInvalidation(t, tag.id); // the INSERT has committed; its last invalidation waits
  // The loser of the race: its insert of the same name fails on the winner's row.
  const loser = await mysql.createConnection(db.url);
  t.teardown(() => loser.end());
  const duplicate = await loser.query("INSERT INTO tags (id, name) VALUES ('00000000-0000-4000-8000-000000000001', 'race')").catch((e: { code?: string }) => e);
  t.is((duplicate as { code?: string }).code, 'ER_DUP_ENTRY');
  t.deepEqual(await names(t, 'race'), ['race'], 'having seen the duplicate key, it reads the row');
  last.release();
  await winner;
  t.deepEqual(await names(t, 'race'), ['race']);
});

test.serial('a reader that fills while a write waits for its commit stores nothing that outlives the commit', async (t) => {
  const { db } = t.context;
  await warmEmpty(t, 'blocked');
  // Another connection holds the unique key: the insert below waits on its lock.
  const blocker = await mysql.createConnection(db.url);
  t.teardown(() => blocker.end());
  await blocker.query('START TRANSACTION');
  await blocker.query("INSERT INTO tags (id, name) VALUES ('00000000-0000-4000-8000-000000000000', 'blocked')");
  const { tag } = newTag(t, 'blocked');
  const writer = tag.save();
  for (;;) {
    const [rows] = await blocker.query("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'INSERT INTO `tags`%'");
    if ((rows as { n: number }[])[0]?.n) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // The write has made its first invalidation and waits in the database.
  t.deepEqual(await names(t, 'blocked'), [], 'a read now sees the database before the write');
  const held = holdLastInvalidation(t, tag.id);
  await blocker.query('ROLLBACK');
  const last = await held; // committed; the last invalidation waits
  t.deepEqual(await names(t, 'blocked'), ['blocked'], 'what the reader read before the commit was not stored');
  last.release();
  await writer;
});

test.serial('after a transaction commits, no entry from before it is served while its invalidation is still running', async (t) => {
  const { db } = t.context;
  await warmEmpty(t, 'committed');
  const { tag } = newTag(t, 'committed');
  const transaction = await db.sequelize.transaction();
  await tag.save({ transaction });
  t.deepEqual(await names(t, 'committed'), [], 'not visible before the commit');
  const commit = transaction.commit();
  const last = await holdLastInvalidation(t, tag.id); // COMMIT is done; the last invalidation waits
  t.deepEqual(await names(t, 'committed'), ['committed']);
  last.release();
  await commit;
});

test.serial('a write inside a rolled-back transaction invalidates nothing and leaves no mark', async (t) => {
  const { db, probe } = t.context;
  await warmEmpty(t, 'rolled back');
  const transaction = await db.sequelize.transaction();
  await db.models.Tag.create({ name: 'rolled back' }, { transaction });
  probe.reset();
  await transaction.rollback();
  t.is(probe.counts.set + probe.counts.incr, 0);
  db.sql.take();
  t.deepEqual(await names(t, 'rolled back'), []);
  t.is(db.sql.selects().length, 0, 'still a hit');
});

test.serial('save() returns before its write mark is lowered, and the mark comes down after the last invalidation', async (t) => {
  const { db, cache, probe } = t.context;
  const mark = (key: string) => key.includes(':Tag:') && key.endsWith(':w');
  const tag = (await db.models.Tag.findOne({ order: [['name', 'ASC']] })) as unknown as Tag;
  const inFlight = async () => {
    const value = (await probe.inner.getMulti([cache.keys.writes(cache.schemaOf(db.models.Tag)!)])).values().next().value;
    return Number(value ?? 0) % 65_536;
  };
  const raise = probe.pauseNext('incr', mark);
  const lower = probe.pauseNext('incr', mark);
  const last = probe.holdAll('set', tagWriteKey);
  tag.name = `renamed ${Date.now()}`;
  let returned = false;
  const saved = tag.save().then(() => (returned = true));
  raise.release();
  // Through the first invalidation to the last one: the mark must still be up then.
  await last.reached;
  t.false(returned);
  t.is(await inFlight(), 1, 'up during the write');
  last.release();
  // The lowering is held, yet save() returns.
  await lower.reached;
  await saved;
  t.true(returned);
  t.is(await inFlight(), 1, 'still up: the lowering was held');
  lower.release();
  await cache.settled();
  t.is(await inFlight(), 0, 'lowered once let through');
});
