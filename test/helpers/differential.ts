/**
 * A randomized differential run: random reads and writes against the
 * fixtures, every cached read compared with the same read made with
 * `cache: false`. Any difference is a stale or wrong cached result.
 * The seed is printed on failure; ORM_CACHE_DIFF_OPS / ORM_CACHE_DIFF_SEED
 * change the length and the sequence.
 */
import type { ExecutionContext } from 'ava';
import { type FindOptions, Op, Transaction } from 'sequelize';
import { prng } from '../../fixtures/seed';
import type { CachedBlog } from './cached-blog';

export const OPS = Number(process.env.ORM_CACHE_DIFF_OPS ?? 2500);
const SEED = Number(process.env.ORM_CACHE_DIFF_SEED ?? 20261122);

const plain = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(plain) : v && typeof v === 'object' && 'get' in v ? (v as { get(o: object): unknown }).get({ plain: true }) : v;

/** Run `ops` random operations on the fixture of `t`; fails on the first differences. */
export async function differentialRun(t: ExecutionContext<CachedBlog>, ops = OPS): Promise<void> {
  const OPS = ops;
  const { db, cache } = t.context;
  const { Article, Author, Comment } = db.models;
  const random = prng(SEED);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const articleId = () => 1 + int(95);
  const authorId = () => 1 + int(8);
  const anyAuthorId = () => 1 + int(9);
  const orders: FindOptions['order'][] = [[['id', 'ASC']], [['views', 'DESC'], ['id', 'ASC']], [['title', 'ASC'], ['id', 'DESC']], undefined];

  type Read = { label: string; run: (cacheOption: boolean) => Promise<unknown> };
  const readCommitted = { isolationLevel: Transaction.ISOLATION_LEVELS.READ_COMMITTED };
  const reads: (() => Read)[] = [
    () => {
      const id = articleId();
      return {
        label: `Article.findByPk(${id}) in a READ COMMITTED transaction`,
        run: (c) => db.sequelize.transaction(readCommitted, (transaction) => Article.findByPk(id, { cache: c, transaction })),
      };
    },
    () => {
      const id = articleId();
      return { label: `Article.findByPk(${id})`, run: (c) => Article.findByPk(id, { cache: c }) };
    },
    () => {
      const id = anyAuthorId();
      return { label: `Author.findByPk(${id})`, run: (c) => Author.findByPk(id, { cache: c, attributes: ['id', 'name', 'reputation'] }) };
    },
    () => {
      const a = anyAuthorId();
      const order = pick(orders) ?? [['id', 'ASC']];
      return { label: `Article authorId=${a}`, run: (c) => Article.findAll({ where: { authorId: a }, order, cache: c }) };
    },
    () => {
      const published = random() < 0.5;
      const limit = 1 + int(10);
      const authors = [anyAuthorId(), 3];
      return {
        label: `Article published=${published} authorId in ${authors} limit ${limit}`,
        run: (c) => Article.findAll({ where: { published, authorId: authors }, order: [['id', 'DESC']], limit, cache: c }),
      };
    },
    () => {
      const min = int(1e9);
      return { label: `Article views>${min}`, run: (c) => Article.findAll({ where: { views: { [Op.gt]: min } }, order: [['id', 'ASC']], raw: true, cache: c }) };
    },
    () => {
      const id = articleId();
      return { label: `Comment articleId=${id}`, run: (c) => Comment.findAll({ where: { articleId: id }, order: [['id', 'ASC']], cache: c }) };
    },
    () => {
      const id = articleId();
      return { label: `Comment paranoid:false articleId=${id}`, run: (c) => Comment.findAll({ where: { articleId: id }, paranoid: false, order: [['id', 'ASC']], cache: c }) };
    },
    () => {
      const word = pick(['cache', 'row', 'lock', 'soft', 'raw', 'new']);
      return { label: `Article title like ${word}`, run: (c) => Article.findOne({ where: { title: { [Op.like]: `%${word}%` } }, order: [['id', 'ASC']], cache: c }) };
    },
    () => {
      const a = anyAuthorId();
      return {
        label: `Article authorId=${a} with author and comments`,
        run: (c) => Article.findAll({ where: { authorId: a }, include: [Author, Comment], order: [['id', 'ASC'], ['comments', 'id', 'ASC']], cache: c }),
      };
    },
    () => {
      const published = random() < 0.5;
      return { label: `Article.count published=${published}`, run: (c) => Article.count({ where: { published }, cache: c }) };
    },
    () => {
      const a = anyAuthorId();
      return {
        label: `Author ${a} with articles and their comments`,
        run: (c) => Author.findOne({ where: { id: a }, include: [{ model: Article, include: [Comment] }], order: [['articles', 'id', 'ASC'], ['articles', 'comments', 'id', 'ASC']], cache: c }),
      };
    },
    () => {
      const name = pick(['AUTHOR 1', 'author 2', 'Author 3 ', 'renamed']);
      return { label: `Author name=${name}`, run: (c) => Author.findAll({ where: { name }, cache: c }) };
    },
  ];

  const writes: (() => Promise<unknown>)[] = [
    async () => (await Article.findByPk(articleId(), { cache: false }))?.update({ title: `t${int(1000)} ${pick(['cache', 'row', 'lock'])}` }),
    async () => (await Article.findByPk(articleId(), { cache: false }))?.update({ authorId: authorId(), published: random() < 0.5 }),
    () => Article.create({ title: `created ${int(1000)}`, authorId: authorId(), published: random() < 0.5, views: int(1e9) }),
    async () => (await Article.findByPk(articleId(), { cache: false }))?.destroy(),
    () => Article.update({ published: random() < 0.5 }, { where: { authorId: authorId() } }),
    () => Article.update({ views: int(1e9) }, { where: { id: [articleId(), articleId()] } }),
    () => Article.increment('views', { by: 1 + int(5), where: { id: articleId() } }),
    () => db.sequelize.query('UPDATE articles SET published = NOT published WHERE id = ?', { replacements: [articleId()] }),
    async () => (await Comment.findOne({ where: { articleId: articleId() }, cache: false }))?.destroy(),
    () => Comment.restore({ where: { articleId: articleId() } }),
    async () => (await Author.findByPk(authorId(), { cache: false }))?.update({ name: pick(['Author 1', 'AUTHOR 2', 'renamed', 'Author 3']) }),
    () =>
      db.sequelize.transaction(async (transaction) => {
        await Article.update({ title: 'in a committed transaction' }, { where: { id: articleId() }, transaction });
        await Article.create({ title: 'created in transaction', authorId: authorId() }, { transaction });
      }),
    () =>
      db.sequelize.transaction(async (transaction) => {
        await Article.update({ published: random() < 0.5, title: `bulk ${int(100)} cache` }, { where: { authorId: authorId(), views: { [Op.gt]: int(1e9) } }, transaction });
        await Comment.destroy({ where: { articleId: articleId() }, transaction });
      }),
    async () => {
      const transaction = await db.sequelize.transaction();
      await Article.update({ title: 'rolled back' }, { where: { authorId: authorId() }, transaction });
      await transaction.rollback();
    },
  ];

  const differences: string[] = [];
  let reads_ = 0;
  for (let op = 0; op < OPS && differences.length < 5; op++) {
    if (random() < 0.1) {
      await pick(writes)();
      continue;
    }
    const read = pick(reads)();
    const cached = plain(await read.run(true));
    const truth = plain(await read.run(false));
    reads_ += 1;
    if (JSON.stringify(cached) !== JSON.stringify(truth)) {
      differences.push(`op ${op}: ${read.label}\n cached: ${JSON.stringify(cached).slice(0, 300)}\n   truth: ${JSON.stringify(truth).slice(0, 300)}`);
    }
  }
  const m = cache.metrics.snapshot();
  t.log(`seed ${SEED}: ${reads_} reads compared; row hits ${m.rowHits}, list hits ${m.listHits}, misses ${m.rowMisses + m.listMisses}`);
  t.deepEqual(differences, [], `seed ${SEED}`);
  t.true(m.rowHits + m.listHits > reads_ / 5, 'the cache was really serving reads');
}
