import test from 'ava';
import type { Model, ModelStatic } from 'sequelize';
import { primaryKeyText } from '../../source/keys';
import { type ModelLike, modelSchema } from '../../source/model-schema';
import type { IncludeInfo } from '../../hooks/select/includes';
import { encodeTree, rebuildTree, type RowIndex, treeKeys } from '../../hooks/select/pointer-tree';
import { articleModel } from './kit';

const type = (key: string) => ({ key });
const authorModel: ModelLike = {
  name: 'Author',
  rawAttributes: { id: { type: type('INTEGER'), primaryKey: true }, name: { type: type('STRING') } },
  primaryKeyAttributes: ['id'],
  options: {},
};
const commentModel: ModelLike = {
  name: 'Comment',
  rawAttributes: { id: { type: type('INTEGER'), primaryKey: true }, articleId: { type: type('INTEGER') }, body: { type: type('STRING') } },
  primaryKeyAttributes: ['id'],
  options: {},
};
const article = modelSchema(articleModel(), []);
const author = modelSchema(authorModel, []);
const comment = modelSchema(commentModel, []);
const all = (schema: typeof article) => schema.attributes.map((a) => ({ as: a.name, from: a.name }));
const fake = {} as ModelStatic<Model>;

/** Article belongsTo Author (as author), hasMany Comment (as comments, by articleId). */
const includes: IncludeInfo[] = [
  { as: 'author', model: fake, schema: author, single: true, columns: all(author), belongsTo: { foreignKey: 'authorId', targetKey: 'id' }, filters: false, children: [] },
  {
    as: 'comments', model: fake, schema: comment, single: false, columns: all(comment),
    relation: { schema: comment, field: 'articleId', sourceKey: 'id' }, filters: false, children: [],
  },
];

const grouped = () => [
  { id: 1, authorId: 7, title: 'a', author: { id: 7, name: 'Ann' }, comments: [{ id: 11, articleId: 1, body: 'x' }, { id: 12, articleId: 1, body: 'y' }] },
  // An unmatched LEFT JOIN: grouping leaves all-NULL objects.
  { id: 2, authorId: 8, title: 'b', author: { id: null, name: null }, comments: [{ id: null, articleId: null, body: null }] },
];

/** The rows the encoding collected, indexed as the hit path indexes what it fetched. */
function indexOf(rows: Map<typeof article, Record<string, unknown>[]>): RowIndex {
  return new Map([...rows].map(([s, list]) => [s, new Map(list.map((row) => [primaryKeyText(s, s.primaryKeys.map((a) => row[a.name])) as string, row]))]));
}

test('pointer tree: the nested objects come back from the tree and the rows, in the database order, nulls and empty lists kept', (t) => {
  const encoded = encodeTree(article, grouped(), includes);
  if (!encoded) return t.fail('encodable');
  t.is(encoded.tree.length, 2);
  const keys = treeKeys(article, encoded.tree, includes);
  t.deepEqual(keys.get(article), [[1], [2]]);
  t.deepEqual(keys.get(author), [[7]]);
  t.deepEqual(keys.get(comment), [[11], [12]]);
  const rebuilt = rebuildTree(article, all(article), encoded.tree, includes, indexOf(encoded.rows));
  t.deepEqual(rebuilt, [
    { id: 1, authorId: 7, title: 'a', author: { id: 7, name: 'Ann' }, comments: [{ id: 11, articleId: 1, body: 'x' }, { id: 12, articleId: 1, body: 'y' }] },
    { id: 2, authorId: 8, title: 'b', author: null, comments: [] },
  ]);
});

test('pointer tree: a child row that no longer joins its parent (written between the two lookups) makes the rebuild fail', (t) => {
  const encoded = encodeTree(article, grouped(), includes);
  if (!encoded) return t.fail();
  const index = indexOf(encoded.rows);
  index.get(comment)?.set('12', { id: 12, articleId: 5, body: 'moved' });
  t.is(rebuildTree(article, all(article), encoded.tree, includes, index), undefined);
  const reauthored = indexOf(encoded.rows);
  reauthored.get(article)?.set('1', { id: 1, authorId: 9, title: 'a' });
  t.is(rebuildTree(article, all(article), encoded.tree, includes, reauthored), undefined, 'belongsTo: the parent now points elsewhere');
});

test('pointer tree: a row without a usable key is not encoded (the query stays uncached)', (t) => {
  const rows = grouped();
  (rows[0] as Record<string, unknown>).id = null;
  t.is(encodeTree(article, rows, includes), undefined);
});
