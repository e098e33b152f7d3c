/**
 * Unit tests of the value format and key canonicalisation, on a schema read
 * from a real model definition (no database needed).
 */
import test from 'ava';
import { Sequelize } from 'sequelize-typescript';
import { decodeEntry, encodeRow, encodeTombstone } from '../../source/codec';
import { KeySpace, keyValueText, primaryKeyText } from '../../source/keys';
import { modelSchema, type ModelLike } from '../../source/model-schema';
import { addBlogModels } from '../../fixtures/blog';

const sequelize = new Sequelize('mysql://nobody@127.0.0.1:9/none', { dialect: 'mysql', logging: false });
const models = addBlogModels(sequelize);
const article = modelSchema(models.Article as unknown as ModelLike);
const tag = modelSchema(models.Tag as unknown as ModelLike);
const link = modelSchema(models.ArticleTag as unknown as ModelLike);

const row = {
  id: 7,
  title: 'line\r\nbreak "quoted" 🚀',
  body: null,
  published: true,
  authorId: 3,
  rating: '12.50',
  views: '9007199254740993',
  metadata: { nested: { list: [1, 'two', null] }, b: { n: 'not a tag: json is stored as is' } },
  cover: Buffer.from([0, 13, 10, 255]),
  publishedAt: new Date(Date.UTC(2026, 4, 3, 2, 1, 0, 123)),
  createdAt: new Date(0),
  updatedAt: new Date(1),
};

test('a full row round-trips with every type intact', (t) => {
  const encoded = encodeRow(article, row, ['tokA', 'tokB'])!;
  t.false(/[\r\n]/.test(encoded), 'no raw CR/LF reaches the protocol');
  const entry = decodeEntry(article, encoded);
  t.is(entry?.type, 'row');
  if (entry?.type !== 'row') return;
  t.deepEqual(entry.tokens, ['tokA', 'tokB']);
  t.deepEqual(entry.values, row);
  t.true(Buffer.isBuffer(entry.values.cover));
  t.true(entry.values.publishedAt instanceof Date);
});

test('bigint and non-finite numbers are tagged and come back as themselves', (t) => {
  const entry = decodeEntry(article, encodeRow(article, { ...row, views: 12n, rating: Number.NaN }, []));
  t.is(entry?.type === 'row' && entry.values.views, 12n);
  t.true(entry?.type === 'row' && Number.isNaN(entry.values.rating));
});

test('partial rows and unencodable values are not cached', (t) => {
  const { title: _title, ...partial } = row;
  t.is(encodeRow(article, partial, []), undefined);
  t.is(encodeRow(article, { ...row, title: { object: 'in a string column' } }, []), undefined);
  t.is(encodeRow(article, { ...row, publishedAt: new Date(Number.NaN) }, []), undefined);
  t.is(encodeRow(article, { ...row, metadata: 5n }, []), undefined);
});

test('garbage and foreign values decode as a miss', (t) => {
  for (const garbage of ['', 'not json', '{"a":1}', '["r"]', '["r",[1],1]', '\u0000\u00ff', JSON.stringify(['r', [], ...Array(12).fill({ z: 1 })])]) {
    t.is(decodeEntry(article, garbage), undefined, garbage);
  }
  t.deepEqual(decodeEntry(article, encodeTombstone('m')), { type: 'tombstone', generation: undefined });
  t.deepEqual(decodeEntry(article, encodeTombstone('m', 7)), { type: 'tombstone', generation: 7 });
  t.deepEqual(decodeEntry(article, '["x","m",1.5]'), undefined, 'a generation is a whole number');
});

test('primary key values the database treats as one row share one key text', (t) => {
  const id = article.primaryKeys[0]!;
  t.is(keyValueText(id, 5), '5');
  t.is(keyValueText(id, '5'), '5');
  t.is(keyValueText(id, 5n), '5');
  t.is(keyValueText(id, '05'), undefined, "'05' is not looked up: the database would match 5");
  t.is(keyValueText(id, 5.5), undefined);
  t.is(keyValueText(id, '5 OR 1=1'), undefined);
  const uuid = tag.primaryKeys[0]!;
  t.is(keyValueText(uuid, 'ABCDEF00-0000-4000-A000-000000000000'), 'abcdef00-0000-4000-a000-000000000000');
  t.is(keyValueText(uuid, 'not-a-uuid'), undefined);
});

test('composite keys and odd values become digests, never raw key text', (t) => {
  const text = primaryKeyText(link, [1, 'abcdef00-0000-4000-a000-000000000000'])!;
  t.regex(text, /^~[A-Za-z0-9_-]{32}$/);
  t.not(text, primaryKeyText(link, [1, 'abcdef00-0000-4000-a000-000000000001']));
  t.is(primaryKeyText(link, [1]), undefined);
  const key = new KeySpace('app').row(article, '5');
  t.regex(key, /^app:Article:[A-Za-z0-9_-]{10}:r:5$/);
});

test('the schema hash changes when the model changes shape', (t) => {
  const other = new Sequelize('mysql://nobody@127.0.0.1:9/none', { dialect: 'mysql', logging: false });
  const changed = other.define('Article', { id: { type: 'INTEGER', primaryKey: true }, title: 'TEXT' } as never);
  t.not(modelSchema(changed as unknown as ModelLike).hash, article.hash);
});
