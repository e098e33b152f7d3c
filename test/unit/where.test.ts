import test from 'ava';
import { Op } from 'sequelize';
import { conditionText, conjunctionOf, rowTuple } from '../../source/tokens/conjunctions';
import { modelSchema } from '../../source/model-schema';
import { primaryKeyWhere, rowsOfWhere } from '../../hooks/where';
import { articleModel } from './kit';

const schema = modelSchema(articleModel(), []);
/** A value as conjunction tokens name it (type-tagged text). */
const text = (field: string, value: unknown) => conditionText(schema.byName.get(field)!, value) as string;

test('conjunctions: equality and IN conditions pin fields to value tuples; others pin nothing', (t) => {
  t.deepEqual(conjunctionOf(schema, { authorId: 3 }), { scheme: ['authorId'], tuples: [[text('authorId', 3)]] });
  t.deepEqual(conjunctionOf(schema, { authorId: { [Op.in]: [1, 2] }, title: 'x' }).tuples, [
    [text('authorId', 1), text('title', 'x')],
    [text('authorId', 2), text('title', 'x')],
  ]);
  t.deepEqual(conjunctionOf(schema, { authorId: { [Op.gt]: 3 } }), { scheme: [], tuples: [[]] });
  t.deepEqual(conjunctionOf(schema, { [Op.and]: [{ authorId: 3 }, { title: 'x' }] }).scheme, ['authorId', 'title']);
  t.deepEqual(conjunctionOf(schema, { [Op.or]: [{ authorId: 3 }, { authorId: 4 }] }).scheme, [], 'an OR pins nothing');
});

test('conjunctions: wide IN lists are dropped until the combinations fit, keeping the list valid (fewer pins, more invalidations)', (t) => {
  const wide = Array.from({ length: 100 }, (_, i) => i);
  const c = conjunctionOf(schema, { authorId: { [Op.in]: wide }, title: 'x' });
  t.deepEqual(c.scheme, ['title']);
});

test('conjunctions: a row version belongs to the tuple of its values, or to none when a value is unknown', (t) => {
  t.deepEqual(rowTuple(schema, ['authorId'], { id: 1, authorId: 3 }), [text('authorId', 3)]);
  t.is(rowTuple(schema, ['authorId'], { id: 1 }), undefined, 'missing value: the caller invalidates every list');
});

test('where: a primary-key where (plain, Op.eq, AND with a paranoid clause) names one row', (t) => {
  t.is(primaryKeyWhere(schema, { id: 5 })?.pkText, '5');
  t.is(primaryKeyWhere(schema, { id: { [Op.eq]: '7' } })?.pkText, '7');
  t.is(primaryKeyWhere(schema, { id: 5, authorId: 3 }), undefined, 'another condition: not a row read');
  t.is(primaryKeyWhere(schema, { id: { [Op.gt]: 5 } }), undefined);
  t.is(primaryKeyWhere(schema, { title: 'x' }), undefined);
});

test('where: the rows a bulk write by key touches, or undefined when the where is not by key', (t) => {
  t.deepEqual(rowsOfWhere(schema, { id: [1, 2] }), ['1', '2']);
  t.deepEqual(rowsOfWhere(schema, { id: { [Op.in]: [3] } }), ['3']);
  t.is(rowsOfWhere(schema, { authorId: 3 }), undefined);
});
