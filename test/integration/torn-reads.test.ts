/**
 * A hit is two lookups: the entry (list pointers or include tree), then the
 * rows it points to. A write landing between them leaves a valid-looking
 * entry next to fresh rows that no longer belong in it; returning the mix
 * would give an answer no database read could (found by the soak: an article
 * with another author's row included). Each case holds the reader between
 * the two lookups while the write completes.
 */
import anyTest, { type TestFn } from 'ava';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'torn', { authors: 3, articles: 24 });

/** The multi-get of Article rows (not the one of the entry, which reads a `:q:` key). */
const articleRows = (key: string) => key.includes(':Article:') && key.includes(':r:') && !key.includes(':q:');

/** Run `read`, holding it at its Article row lookup while `write` runs to completion. */
async function writeBetweenLookups<T>(probe: CachedBlog['probe'], read: () => Promise<T>, write: () => Promise<unknown>): Promise<T> {
  const gate = probe.pauseNext('getMulti', articleRows);
  const reading = read();
  await gate.reached;
  await write();
  gate.release();
  return reading;
}

test.serial('a list hit whose row left the list meanwhile is read from the database', async (t) => {
  const { db, probe } = t.context;
  const { Article } = db.models;
  const query = { where: { authorId: 1 }, order: [['id', 'ASC']] as [string, string][] };
  await Article.findAll(query);
  const [moved] = await Article.findAll(query);
  t.truthy(moved);
  const result = await writeBetweenLookups(probe, () => Article.findAll(query), () => Article.update({ authorId: 2 }, { where: { id: moved!.id } }));
  t.true(result.every((a) => a.authorId === 1), `authors ${result.map((a) => a.authorId).join(',')}`);
  t.deepEqual(result.map((a) => a.id), (await Article.findAll({ ...query, cache: false })).map((a) => a.id));
});

test.serial('an include hit whose child row changed parent meanwhile is read from the database', async (t) => {
  const { db, probe } = t.context;
  const { Article, Author } = db.models;
  const query = { where: { published: true }, include: [Author], order: [['id', 'ASC']] as [string, string][] };
  await Article.findAll(query);
  const [moved] = await Article.findAll(query);
  t.truthy(moved);
  const otherAuthor = moved!.authorId === 3 ? 2 : 3;
  const result = await writeBetweenLookups(probe, () => Article.findAll(query), () =>
    Article.update({ authorId: otherAuthor }, { where: { id: moved!.id } }),
  );
  for (const article of result) t.is(article.author?.id, article.authorId, `article ${article.id}`);
  t.is(result.find((a) => a.id === moved!.id)?.author?.id, otherAuthor);
});
