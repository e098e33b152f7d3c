/**
 * The built-in memcached client's reply reader: values are taken by their
 * declared length however the bytes are split into packets, and anything that
 * is not a reply to the waiting request kills the reader.
 */
import test from 'ava';
import { type Reply, type ReplyKind, ReplyReader } from '../../source/store/text-replies';

/** Feed `chunks` to a reader whose requests expect `kinds`; the replies and the reason it died, if it did. */
function read(kinds: ReplyKind[], chunks: Buffer[]): { replies: Reply[]; lost: string | undefined } {
  const replies: Reply[] = [];
  let lost: string | undefined;
  const reader = new ReplyReader(
    () => kinds[replies.length],
    (reply) => replies.push(reply),
    (why) => (lost = why),
  );
  for (const chunk of chunks) reader.feed(chunk);
  return { replies, lost };
}

const tricky = 'a\r\nEND\r\nVALUE x 0 1\r\ny\r\n';
const stream = Buffer.concat([
  Buffer.from(`VALUE k1 0 ${Buffer.byteLength(tricky)}\r\n${tricky}\r\nVALUE k2 0 0\r\n\r\nVALUE k3 0 4\r\néé\r\nEND\r\n`),
  Buffer.from('STORED\r\nNOT_STORED\r\n42\r\n'),
  Buffer.from('VALUE c 0 3 987\r\nabc\r\nEND\r\n'),
  Buffer.from('SERVER_ERROR out of memory storing object\r\nEND\r\n'),
]);
const kinds: ReplyKind[] = ['values', 'line', 'line', 'line', 'values', 'line', 'values'];
const expected: Reply[] = [
  { type: 'values', values: new Map([['k1', tricky], ['k2', ''], ['k3', 'éé']]), cas: undefined },
  { type: 'line', line: 'STORED' },
  { type: 'line', line: 'NOT_STORED' },
  { type: 'line', line: '42' },
  { type: 'values', values: new Map([['c', 'abc']]), cas: '987' },
  { type: 'error', line: 'SERVER_ERROR out of memory storing object' },
  { type: 'values', values: new Map(), cas: undefined },
];

test('replies read whole are taken by declared length, CR LF and END inside values included', (t) => {
  const { replies, lost } = read(kinds, [stream]);
  t.is(lost, undefined);
  t.deepEqual(replies, expected);
});

test('the same replies come out however the stream is split into packets', (t) => {
  t.deepEqual(read(kinds, [...stream].map((byte) => Buffer.from([byte]))).replies, expected, 'byte by byte');
  for (let cut = 1; cut < stream.length; cut++) {
    const { replies, lost } = read(kinds, [stream.subarray(0, cut), stream.subarray(cut)]);
    t.is(lost, undefined, `cut at ${cut}`);
    t.deepEqual(replies, expected, `cut at ${cut}`);
  }
});

test('a value that is not UTF-8 reads as absent and the rest of the reply is kept', (t) => {
  const bytes = Buffer.concat([Buffer.from('VALUE bad 0 2\r\n'), Buffer.from([0xc3, 0x28]), Buffer.from('\r\nVALUE good 0 2\r\nok\r\nEND\r\n')]);
  const { replies, lost } = read(['values'], [bytes]);
  t.is(lost, undefined);
  t.deepEqual(replies, [{ type: 'values', values: new Map([['good', 'ok']]), cas: undefined }]);
});

test('bytes that cannot answer the waiting request kill the reader', (t) => {
  const cases: [string, ReplyKind[], string, RegExp][] = [
    ['no request waiting', [], 'STORED\r\n', /no request/],
    ['a value for a store', ['line'], 'VALUE k 0 1\r\nx\r\nEND\r\n', /VALUE k 0 1/],
    ['END for a delete', ['line'], 'END\r\n', /END/],
    ['a status line for a get', ['values'], 'STORED\r\n', /STORED/],
    ['a malformed length', ['values'], 'VALUE k 0 -1\r\n', /malformed/],
    ['a value longer than declared', ['values'], 'VALUE k 0 1\r\nxy\r\nEND\r\n', /not followed by CR LF/],
    ['an unknown command', ['line'], 'ERROR\r\n', /did not recognise/],
    ['a line without end', ['values'], 'x'.repeat(9000), /without CR LF/],
  ];
  for (const [label, expecting, text, why] of cases) {
    const { replies, lost } = read(expecting, [Buffer.from(text)]);
    t.deepEqual(replies, [], label);
    t.regex(lost ?? '', why, label);
  }
});

test('a dead reader ignores whatever arrives later', (t) => {
  const { replies, lost } = read(['line', 'line'], [Buffer.from('END\r\n'), Buffer.from('STORED\r\n')]);
  t.deepEqual(replies, []);
  t.truthy(lost);
});
