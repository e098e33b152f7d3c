/**
 * The soak's history checker on hand-written histories (each anomaly it must
 * find, and the concurrent cases it must allow), and the soak itself run
 * with its writes sabotaged (they bypass the cache), which must fail: the
 * checker is only worth its zero if it can see a stale read. The real soak
 * runs in `npm test` after the ava suite (short) and as `npm run soak`.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { checkHistory, type Op, type RowState } from '../soak/history';

const row = (views: number, authorId = 1, published = true): RowState => ({ views, authorId, published });
const initial = () => new Map<number, RowState>([[1, row(0)], [2, row(0, 2, false)]]);
const write = (s: number, e: number | null, id: number, state: RowState): Op => ({ k: 'w', op: 'save', s, e, rows: [[id, state]] });
const pk = (s: number, e: number, id: number, state: RowState): Op => ({ k: 'pk', op: 'findByPk', s, e, id, row: state });

test('a read that starts after a write returned and misses it is stale', (t) => {
  const result = checkHistory(initial(), [write(10, 20, 1, row(1)), pk(30, 40, 1, row(0))]);
  t.is(result.stale, 1);
  t.is(result.anomalies[0]?.kind, 'stale');
});

test('a read overlapping a write may see either side of it', (t) => {
  const result = checkHistory(initial(), [write(10, 20, 1, row(1)), pk(15, 25, 1, row(0)), pk(12, 18, 1, row(1)), pk(21, 22, 1, row(1))]);
  t.is(result.stale + result.impossible, 0);
});

test('a value no write produced, or one a rolled-back transaction wrote, is impossible', (t) => {
  const rollback: Op = { k: 'rb', op: 'rollback', s: 10, e: 20, rows: [[1, row(7)]] };
  const result = checkHistory(initial(), [rollback, pk(30, 40, 1, row(7)), pk(30, 40, 2, row(0, 3, false))]);
  t.is(result.impossible, 2);
  t.is(result.stale, 0);
});

test('a write whose outcome is unknown may be seen or not, until a later write returns', (t) => {
  const ops = [write(10, null, 1, row(1)), pk(30, 40, 1, row(0)), pk(30, 40, 1, row(1)), write(50, 60, 1, row(2)), pk(70, 80, 1, row(1))];
  const result = checkHistory(initial(), ops);
  t.is(result.indeterminate, 1);
  t.is(result.stale, 1, 'only the read after the later write is stale');
});

test('deletes and re-creates: a read of a deleted row after the delete returned must be null', (t) => {
  const ops = [write(10, 20, 1, null), pk(30, 40, 1, null), pk(30, 40, 1, row(0)), write(50, 60, 1, row(3)), pk(70, 80, 1, null)];
  const result = checkHistory(initial(), ops);
  t.is(result.stale, 2);
});

test('lists: a row missing from, or left in, a list after a write returned is stale', (t) => {
  const list = (s: number, e: number, rows: [number, RowState][]): Op => ({ k: 'list', op: 'findAll', s, e, filter: { authorId: 1 }, rows });
  const move = write(10, 20, 2, row(1, 1, false));
  t.is(checkHistory(initial(), [move, list(30, 40, [[1, row(0)], [2, row(1, 1, false)]])]).stale, 0);
  t.is(checkHistory(initial(), [move, list(30, 40, [[1, row(0)]])]).stale, 1, 'row 2 joined the list');
  const leave = write(10, 20, 1, row(1, 2));
  t.is(checkHistory(initial(), [leave, list(30, 40, [[1, row(0)]])]).stale, 1, 'row 1 left the list');
  t.is(checkHistory(initial(), [leave, list(15, 40, [[1, row(0)]])]).stale, 0, 'concurrent with the move');
});

test('counts are checked against the range the legal versions allow', (t) => {
  const count = (s: number, e: number, n: number): Op => ({ k: 'count', op: 'count', s, e, filter: { published: true }, n });
  const publish = write(10, 20, 2, row(1, 2, true));
  t.is(checkHistory(initial(), [publish, count(30, 40, 2)]).stale, 0);
  t.is(checkHistory(initial(), [publish, count(30, 40, 1)]).stale, 1);
  t.is(checkHistory(initial(), [publish, count(15, 40, 1)]).stale, 0);
  t.is(checkHistory(initial(), [publish, count(30, 40, 5)]).impossible, 1);
});

test('flip-flops are counted: a newer version seen, then an older one by a later read', (t) => {
  const ops = [write(10, 100, 1, row(1)), pk(20, 30, 1, row(1)), pk(40, 50, 1, row(0))];
  const result = checkHistory(initial(), ops);
  t.is(result.flipFlops, 1);
  t.is(result.stale, 0, 'both reads overlap the write');
});

test('errors are split into the database’s and the cache’s', (t) => {
  const ops: Op[] = [
    { k: 'x', op: 'findAll', s: 1, e: 2, cause: 'db', message: 'connect ECONNREFUSED' },
    { k: 'x', op: 'findAll', s: 1, e: 2, cause: 'cache', message: 'boom' },
  ];
  const result = checkHistory(initial(), ops);
  t.is(result.dbErrors, 1);
  t.is(result.cacheErrors, 1);
  t.deepEqual(result.cacheErrorMessages, { 'findAll: boom': 1 });
});

test('the soak fails when writes bypass the cache (it can see stale reads)', async (t) => {
  t.timeout(180_000);
  const root = join(__dirname, '..', '..');
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', join('test', 'soak', 'run.ts'), '--only', 'baseline', '--seconds', '3', '--processes', '2', '--loops', '2', '--sabotage'],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.is(code, 1, output);
  const line = output.split('\n').find((l) => l.startsWith('| baseline |'));
  const stale = Number(line?.split('|')[6]?.trim());
  t.true(stale > 0, `stale-after-return ${stale}: ${line}`);
  t.regex(output, /soak FAILED in baseline/);
});
