/**
 * What a list, tree or count reads of its model's columns besides its rows
 * (hooks/select/reads.ts), and how a scheme that names them is registered
 * and skipped by updates (source/tokens/conjunctions.ts).
 */
import test from 'ava';
import { Op, Sequelize } from 'sequelize';
import { aggregateReads, listReads } from '../../hooks/select/reads';
import type { IncludeInfo } from '../../hooks/select/includes';
import { modelSchema } from '../../source/model-schema';
import { conjunctionOf, READS, rowTuple, schemeFields, schemeTouched, withReads } from '../../source/tokens/conjunctions';
import { articleModel } from './kit';

const schema = modelSchema(articleModel(), []);
const sequelize = new Sequelize('mysql://nobody@127.0.0.1:9/none', { dialect: 'mysql', logging: false });
const names = (reads: Set<string> | undefined) => (reads ? [...reads].sort() : undefined);

test('list reads: the where and a total order, with the primary key', (t) => {
  t.deepEqual(names(listReads(schema, { where: { authorId: 3 }, order: [['id', 'DESC']] })), ['authorId', 'id']);
  t.deepEqual(names(listReads(schema, { where: { [Op.or]: [{ authorId: 3 }, { title: { [Op.like]: 'a%' } }] }, order: [['title', 'ASC'], ['id', 'ASC']] })), ['authorId', 'id', 'title']);
  t.deepEqual(names(listReads(schema, { where: { title: { [Op.or]: ['a', 'b'] } }, order: ['id'] })), ['id', 'title'], 'operators on one column read only it');
  t.deepEqual(names(listReads(schema, { where: { [Op.and]: [{ authorId: 1 }, { deletedAt: null } as never] }, order: [['id', 'ASC']] })), undefined, 'an attribute the model does not have: every column');
});

test('list reads: every column when an order is missing or not total, or anything names columns in SQL', (t) => {
  const cases: [string, object][] = [
    ['no order', { where: { authorId: 3 } }],
    ['an order without the key', { order: [['title', 'ASC']] }],
    ['an order by SQL', { order: [[sequelize.fn('lower', sequelize.col('title')), 'ASC'], ['id', 'ASC']] }],
    ['an order by an included column', { order: [['author', 'name', 'ASC'], ['id', 'ASC']] }],
    ['an order as text', { order: 'title DESC' }],
    ['a literal where', { where: sequelize.literal('title > id'), order: [['id', 'ASC']] }],
    ['a column operand', { where: { authorId: { [Op.gte]: sequelize.col('id') } }, order: [['id', 'ASC']] }],
    ['Op.col', { where: { authorId: { [Op.col]: 'id' } }, order: [['id', 'ASC']] }],
    ['an operator alias', { where: { authorId: { $col: 'id' } }, order: [['id', 'ASC']] }],
    ['a nested path', { where: { '$author.name$': 'x' }, order: [['id', 'ASC']] }],
  ];
  for (const [label, options] of cases) t.is(listReads(schema, options as never), undefined, label);
});

test('tree reads: the keys its includes join on; every column when an include filters', (t) => {
  const include = (over: Partial<IncludeInfo>): IncludeInfo => ({ as: 'x', model: {} as never, schema, single: false, columns: [], filters: false, children: [], ...over });
  const options = { where: { authorId: 1 }, order: [['id', 'ASC']] };
  const belongsTo = include({ belongsTo: { foreignKey: 'authorId', targetKey: 'id' } });
  const hasMany = include({ relation: { schema, field: 'authorId', sourceKey: 'id' } });
  t.deepEqual(names(listReads(schema, options as never, [belongsTo, hasMany])), ['authorId', 'id']);
  t.is(listReads(schema, options as never, [include({ ...hasMany, filters: true })]), undefined);
  t.is(listReads(schema, options as never, [include({ ...hasMany, children: [include({ filters: true })] })]), undefined, 'at any depth');
});

test('aggregate reads: its where and the columns its function takes', (t) => {
  const count = [[sequelize.fn('count', sequelize.col('*')), 'count']];
  t.deepEqual(names(aggregateReads(schema, { where: { authorId: 2 }, attributes: count } as never)), ['authorId']);
  const distinct = [[sequelize.fn('count', sequelize.fn('DISTINCT', sequelize.col('title'))), 'count']];
  t.deepEqual(names(aggregateReads(schema, { attributes: distinct } as never)), ['title']);
  t.is(aggregateReads(schema, { attributes: [[sequelize.literal('max(title)'), 'max']] } as never), undefined);
  t.is(aggregateReads(schema, { attributes: count, group: ['authorId'] } as never), undefined);
  t.is(aggregateReads(schema, { attributes: count, include: [{}] } as never), undefined);
});

test('schemes with reads: tokens of their own, pinned fields for tuples, skipped only by updates that set none of them', (t) => {
  const plain = conjunctionOf(schema, { authorId: 3 });
  const narrow = withReads(schema, plain, new Set(['authorId', 'id']));
  t.deepEqual(narrow.scheme, ['authorId', READS, 'id']);
  t.deepEqual(narrow.tuples, plain.tuples);
  t.is(withReads(schema, plain, undefined), plain, 'every column: the scheme as before');
  t.deepEqual(schemeFields(narrow.scheme), ['authorId']);
  t.deepEqual(rowTuple(schema, narrow.scheme, { id: 1, authorId: 3 }), rowTuple(schema, plain.scheme, { id: 1, authorId: 3 }));
  t.false(schemeTouched(narrow.scheme, new Set(['title'])));
  t.true(schemeTouched(narrow.scheme, new Set(['title', 'id'])));
  t.true(schemeTouched(narrow.scheme, undefined), 'what was set is not known');
  t.true(schemeTouched(plain.scheme, new Set(['title'])), 'a scheme without reads reads every column');
  // A writer that does not know the marker looks for an attribute named
  // like it, finds none, and invalidates every list of the model instead.
  t.is(schema.byName.get(READS), undefined);
});
