/**
 * The canonical query text (the list, tree, whole and count keys hash it)
 * and the digest. The texts are pinned: a change to either moves every list
 * key, which strands nothing stale (tokens validate entries, not keys) but
 * empties the cache at a deploy, so it must be deliberate.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import { Op, Sequelize } from 'sequelize';
import { canonicalText } from '../../source/lists/query-key';
import { digest, sha256 } from '../../source/util';

const sequelize = new Sequelize('mysql://nobody@127.0.0.1:9/none', { dialect: 'mysql', logging: false });
const Thing = sequelize.define('Thing', { a: { type: 'INTEGER' as never } });

const text = (value: unknown, sql?: string[]) => {
  const result = canonicalText(value, sql);
  return 'text' in result ? result.text : result.why;
};

test('canonical text: a list query\'s options, with undefined options as {"$u":1}', (t) => {
  const options = ['list', 'comments', { article_id: 5 }, [['id', 'ASC']], null, null, [['id', 'id'], ['articleId', 'article_id']], null, undefined, undefined, undefined, false, false, false, undefined, undefined, undefined];
  t.is(text(options), '["list","comments",[["article_id",5]],[["id","ASC"]],null,null,[["id","id"],["articleId","article_id"]],null,{"$u":1},{"$u":1},{"$u":1},false,false,false,{"$u":1},{"$u":1},{"$u":1}]');
});

test('canonical text: operators by name after the fields, sorted; bigints, -0 and fractions; JSON escapes', (t) => {
  const where = { [Op.and]: [{ a: { [Op.gt]: 3, [Op.lt]: 9 } }, { [Op.or]: [{ b: null }, { b: 'x"y\\z\u2028🚀' }] }], c: { [Op.in]: [1, 2n, -0, 1.5] } };
  t.is(text(where), '[["c",[["$op:in",[1,{"$n":"2"},0,1.5]]]],["$op:and",[[["a",[["$op:gt",3],["$op:lt",9]]]],[["$op:or",[[["b",null]],[["b","x\\"y\\\\z 🚀"]]]]]]]]');
  t.is(text({ b: 1, a: 2 }), text({ a: 2, b: 1 }), 'key order does not matter');
  t.not(text({ a: '1' }), text({ a: 1 }), 'a string is not the number');
});

test('canonical text: Dates, Buffers, non-finite numbers and symbols are tagged', (t) => {
  const values = [new Date(0), Buffer.from('hi'), NaN, Infinity, true, Symbol.for('k'), Symbol('d'), { z: 1, a: [undefined, null] }];
  t.is(text(values), '[{"$d":0},{"$b":"aGk="},{"$f":"NaN"},{"$f":"Infinity"},true,{"$s":"k"},{"$s":"d"},[["a",[{"$u":1},null]],["z",1]]]');
});

test('canonical text: Sequelize methods by class and fields; model classes by name', (t) => {
  const methods = [
    sequelize.literal('COUNT(*)'),
    sequelize.fn('lower', sequelize.col('title')),
    sequelize.where(sequelize.fn('lower', sequelize.col('t')), 'x'),
    sequelize.cast(sequelize.col('a'), 'CHAR'),
    sequelize.json('meta.k'),
  ];
  t.is(text(methods), '[[["$class","Literal"],["val","COUNT(*)"]],[["$class","Fn"],["args",[[["$class","Col"],["col","title"]]]],["fn","lower"]],[["$class","Where"],["attribute",[["$class","Fn"],["args",[[["$class","Col"],["col","t"]]]],["fn","lower"]]],["comparator","="],["logic","x"]],[["$class","Cast"],["json",false],["type","CHAR"],["val",[["$class","Col"],["col","a"]]]],[["$class","Json"],["path","meta.k"]]]');
  t.is(text([Thing, { model: Thing, as: 'things' }]), '[{"$m":"Thing"},[["as","things"],["model",{"$m":"Thing"}]]]');
});

test('canonical text: literals\' SQL is collected; volatile SQL functions and unrepresentable values have no text', (t) => {
  const sql: string[] = [];
  text([sequelize.literal('SELECT 1 FROM t'), { x: sequelize.literal('b') }], sql);
  t.deepEqual(sql, ['SELECT 1 FROM t', 'b']);
  t.is(text([sequelize.literal('NOW()')]), 'volatile-sql');
  t.is(text(['now']), '["now"]', 'outside SQL, the word is a value');
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  t.is(text({ x: cycle }), 'unrepresentable-value');
  t.is(text({ f: () => 1 }), 'unrepresentable-value');
  t.is(text(new Map()), 'unrepresentable-value');
  const shared = { k: 1 };
  t.is(text([shared, shared]), '[[["k",1]],[["k",1]]]', 'the same object twice is not a cycle');
});

test('digest: SHA-256 in base64url of the UTF-8 text, cut to length', (t) => {
  for (const input of ['', 'list', 'é 🚀 \u2028', 'x'.repeat(5000)]) {
    const full = createHash('sha256').update(input, 'utf8').digest('base64url');
    t.is(sha256(input), full);
    t.is(sha256(input, 24), full.slice(0, 24));
    t.is(digest(input), full.slice(0, 32));
  }
});
