/**
 * The short ways (hooks/select/fast-find.ts): a plain findByPk or findAll skips
 * Sequelize's option preparation, yet answers exactly as the whole way does,
 * and every read whose preparation could differ goes the whole way.
 */
import anyTest, { type TestFn } from 'ava';
import { EmptyResultError, type FindOptions, type Model, Op } from 'sequelize';
import { ormCache } from '../../source';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';
import { useCls } from '../helpers/cls';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'fast_find', { authors: 6, articles: 30, commentsPerArticle: 2, tags: 4 });

/**
 * Count the calls of a static method of `model` (found through its prototype
 * chain) while `work` runs. Spying on findAll itself would send the read the
 * whole way (a replaced find method is a reason to), so the whole way is
 * seen by `_injectScope`, the first step of Sequelize's findAll.
 */
async function spyOn<T>(model: object, method: string, work: () => Promise<T>): Promise<{ calls: number; result: T }> {
  const target = model as Record<string, unknown>;
  const had = Object.prototype.hasOwnProperty.call(target, method);
  const original = target[method] as (...args: unknown[]) => unknown;
  let calls = 0;
  target[method] = function (this: unknown, ...args: unknown[]) {
    calls++;
    return original.apply(this, args);
  };
  try {
    const result = await work();
    return { calls, result };
  } finally {
    if (had) target[method] = original;
    else delete target[method];
  }
}

/** What an instance carries besides its values: compared between the two ways. */
function state(instance: Model | null): unknown {
  if (!instance) return null;
  const internals = instance as unknown as Record<string, unknown>;
  const options = internals._options as Record<string, unknown>;
  return {
    values: instance.get({ plain: true }),
    previous: internals._previousDataValues,
    changed: instance.changed(),
    isNewRecord: instance.isNewRecord,
    options: JSON.parse(JSON.stringify({ ...options, include: undefined })),
  };
}

test.serial('a plain findByPk answers from the cache without Sequelize preparing its options, and the instance is the same as the whole way builds', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  await Article.findByPk(4); // prepares (and fills)
  await Article.findByPk(4); // short way, hit
  db.sql.take();
  const spy = await spyOn(Article, '_injectScope', () => Article.findByPk(4));
  t.is(spy.calls, 0, 'Sequelize prepared nothing (its findAll injects scopes first)');
  t.is(db.sql.selects().length, 0, 'a hit');
  // `{}` is not "no options": that read goes the whole way.
  const whole = await spyOn(Article, '_injectScope', () => Article.findByPk(4, {}));
  t.is(whole.calls, 1);
  t.deepEqual(state(spy.result), state(whole.result));
  t.true(spy.result instanceof Article);
  // A miss on the short way runs its SQL and fills, like the whole way.
  db.sql.take();
  const missed = await spyOn(Article, '_injectScope', () => Article.findByPk(9));
  t.is(missed.calls, 0);
  t.is(db.sql.selects().length, 1);
  t.deepEqual(state(missed.result), state(await Article.findByPk(9, { cache: false })));
  t.is(await Article.findByPk(999_999), null);
  t.is(await Article.findByPk(999_999), null);
});

test.serial('a string key, a write in between, and the cache uninstalled', async (t) => {
  const { db, cache } = t.context;
  const { Author } = db.models;
  await Author.findByPk('2');
  const first = await spyOn(Author, '_injectScope', () => Author.findByPk('2'));
  t.is(first.calls, 0);
  t.is(first.result?.id, 2);
  await first.result!.update({ name: 'Short way' });
  t.is((await Author.findByPk(2))?.name, 'Short way', 'the write invalidated the row');
  t.true(Object.prototype.hasOwnProperty.call(Author, 'findByPk'));
  cache.uninstall();
  try {
    t.false(Object.prototype.hasOwnProperty.call(Author, 'findByPk'), 'uninstall takes the short way back off');
    t.false(Object.prototype.hasOwnProperty.call(Author, 'findAll'), 'and the findAll one');
  } finally {
    // Later tests of this file use the cache again.
    t.context.cache = ormCache.install(db.sequelize, { store: t.context.probe, namespace: `${cache.keys.namespace}b` });
  }
});

test.serial('a find hook added after the short way was prepared makes the read go the whole way and run it', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  await Article.findByPk(5);
  await Article.findByPk(5);
  let before = 0;
  let after = 0;
  const beforeFind = () => {
    before++;
  };
  const afterFind = () => {
    after++;
  };
  Article.addHook('beforeFind', 'fast-find-test', beforeFind);
  db.sequelize.addHook('afterFind', 'fast-find-test', afterFind);
  try {
    const found = await Article.findByPk(5);
    t.is(found?.id, 5);
    t.is(before, 1);
    t.is(after, 1);
  } finally {
    Article.removeHook('beforeFind', 'fast-find-test');
    db.sequelize.removeHook('afterFind', 'fast-find-test');
  }
  const spy = await spyOn(Article, '_injectScope', () => Article.findByPk(5));
  t.is(spy.calls, 0, 'back on the short way once the hooks are gone');
});

test.serial('a default scope added later, a stubbed findOne, and rejectOnEmpty are honoured', async (t) => {
  const { db } = t.context;
  const { Article } = db.models;
  await Article.findByPk(6);
  await Article.findByPk(6);
  // A stub of Sequelize's own findOne sees the call, as without the cache.
  const stubbed = await spyOn(Article, 'findOne', () => Article.findByPk(6));
  t.is(stubbed.calls, 1);
  const published = (await Article.findByPk(6, { cache: false }))!.published;
  Article.addScope('defaultScope', { where: { published: !published } }, { override: true });
  try {
    t.is(await Article.findByPk(6), null, 'the new default scope hides the row');
  } finally {
    Article.addScope('defaultScope', {}, { override: true });
  }
  t.is((await Article.findByPk(6))?.id, 6);
  const options = (Article as unknown as { options: { rejectOnEmpty?: boolean } }).options;
  options.rejectOnEmpty = true;
  try {
    await t.throwsAsync(() => Article.findByPk(999_998), { instanceOf: EmptyResultError });
  } finally {
    options.rejectOnEmpty = false;
  }
});

test.serial('inside a CLS transaction the read goes the whole way and sees the transaction', async (t) => {
  const { db } = t.context;
  const { Author } = db.models;
  await Author.findByPk(3);
  await Author.findByPk(3);
  const stopCls = useCls(db.sequelize);
  try {
    await db.sequelize
      .transaction(async () => {
        await Author.update({ name: 'Inside' }, { where: { id: 3 } });
        t.is((await Author.findByPk(3))?.name, 'Inside', 'the uncommitted write is seen');
        throw new Error('roll back');
      })
      .catch(() => undefined);
  } finally {
    stopCls();
  }
  t.not((await Author.findByPk(3))?.name, 'Inside');
});

test.serial('a plain findAll answers without Sequelize preparing its options, for any values of its shape, with the instances of the whole way', async (t) => {
  const { db } = t.context;
  const { Article, Comment } = db.models;
  const same = async (model: typeof Article | typeof Comment, options: FindOptions) => {
    const short = await spyOn(model, '_injectScope', () => (model as typeof Article).findAll(options));
    t.is(short.calls, 0, `short way: ${JSON.stringify(options)}`);
    const whole = await (model as typeof Article).findAll({ ...options, cache: false } as FindOptions);
    t.deepEqual(short.result.map(state), whole.map(state));
    return short.result;
  };
  // underscored: where and order name attributes, the select names columns.
  const byAuthor = (authorId: number, limit: number, offset: number): FindOptions => ({ where: { authorId }, order: [['id', 'DESC']], limit, offset });
  await Article.findAll(byAuthor(2, 3, 1)); // prepares the shape
  await t.context.cache.settled();
  db.sql.take();
  t.is((await same(Article, byAuthor(2, 3, 1))).length, 3);
  const statements = db.sql.selects();
  t.is(statements.length, 1, `the hit ran no SQL; the whole way did: ${statements.join(' / ')}`);
  await same(Article, byAuthor(3, 2, 0));
  await same(Article, byAuthor(3, 2, 0));
  // Sequelize's preparation moves a renamed attribute's key (authorId is
  // author_id) after the others, so the select's where is not in the call's
  // order: the short way repeats that order, and with it the whole way's SQL.
  const published = (authorId: number): FindOptions => ({ where: { authorId, published: true }, order: [['id', 'DESC']], limit: 4 });
  await Article.findAll(published(2)); // prepares the shape
  await same(Article, published(2));
  db.sql.take();
  await same(Article, published(4)); // a miss on the short way, then the whole way uncached
  const [short, whole] = db.sql.selects();
  t.truthy(short);
  t.is(short, whole, 'the same statement both ways');
  // A paranoid model: the short way repeats its clause, so deleted rows stay hidden.
  const comments = (articleId: number): FindOptions => ({ where: { articleId }, order: [['id', 'ASC']] });
  await Comment.findAll(comments(4));
  const before = await same(Comment, comments(4));
  await before[0]!.destroy();
  t.is((await same(Comment, comments(4))).length, before.length - 1);
  await Comment.findAll({ where: {}, order: [['id', 'ASC']], limit: 5 });
  await same(Comment, { where: {}, order: [['id', 'ASC']], limit: 5 });
});

test.serial('a findAll whose preparation the short way cannot repeat goes the whole way, hooks and scopes included', async (t) => {
  const { db } = t.context;
  const { Article, Author } = db.models;
  const whole = async (options: FindOptions | undefined, label: string) => {
    await Article.findAll(options);
    const spy = await spyOn(Article, '_injectScope', () => Article.findAll(options));
    t.is(spy.calls, 1, label);
  };
  await whole({ where: { authorId: [1, 2] }, order: [['id', 'ASC']] }, 'an IN list');
  await whole({ where: { authorId: { [Op.gt]: 1 } } }, 'an operator');
  await whole({ where: { authorId: 1 }, attributes: ['id'] }, 'attributes');
  await whole({ where: { authorId: 1 }, include: [Author] }, 'an include');
  await whole({ where: { authorId: 1 }, order: [[db.sequelize.fn('lower', db.sequelize.col('title')), 'ASC']] }, 'an order by SQL');
  await whole({ where: { authorId: 1 }, cache: { ttl: 5 } } as FindOptions, 'a cache option');
  await whole(undefined, 'no options');
  await whole({ where: { title: new Date(0) } } as FindOptions, 'a value that is no plain value');
  // A default scope with a where: Sequelize's where differs from the call's, so nothing is kept.
  const published = { where: { authorId: 1 }, order: [['id', 'ASC']] } as FindOptions;
  Article.addScope('defaultScope', { where: { published: true } }, { override: true });
  try {
    await whole(published, 'a default scope');
    t.true((await Article.findAll(published)).every((a) => a.published), 'the scope applied');
  } finally {
    Article.addScope('defaultScope', {}, { override: true });
  }
  await Article.findAll(published);
  t.is((await spyOn(Article, '_injectScope', () => Article.findAll(published))).calls, 0, 'without it, the short way');
  let before = 0;
  Article.addHook('beforeFind', 'fast-find-all-test', () => void before++);
  try {
    await Article.findAll(published);
    t.is(before, 1, 'a find hook runs: the whole way');
  } finally {
    Article.removeHook('beforeFind', 'fast-find-all-test');
  }
});
