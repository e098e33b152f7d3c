import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import test from 'ava';

const root = join(__dirname, '..', '..');
const FOLDERS = ['source', 'hooks', 'stampede'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

const files = FOLDERS.flatMap((folder) => sources(join(root, folder)));

/** The files a source file imports (type-only imports too: a cycle of types is still a tangle to read). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const targets: string[] = [];
  for (const match of text.matchAll(/(?:from|import)\s+'(\.{1,2}\/[^']+)'/g)) {
    const base = resolve(dirname(file), match[1] as string);
    const found = [`${base}.ts`, join(base, 'index.ts')].find((candidate) => files.includes(candidate));
    if (found) targets.push(found);
  }
  return targets;
}

test('no source file is over 400 lines', (t) => {
  const long = files.map((f) => [relative(root, f), readFileSync(f, 'utf8').split('\n').length] as const).filter(([, n]) => n > 400);
  t.deepEqual(long, []);
});

test('no import cycle among the source files', (t) => {
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].map((f) => relative(root, f)).join(' → '));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  t.deepEqual(cycles, []);
});

test('the cache core and the stampede protocols know nothing of the Sequelize glue (only the package entry joins them)', (t) => {
  const reaching = files
    .filter((f) => !relative(root, f).startsWith('hooks') && relative(root, f) !== join('source', 'index.ts'))
    .flatMap((f) => importsOf(f).filter((target) => relative(root, target).startsWith('hooks')).map((target) => `${relative(root, f)} → ${relative(root, target)}`));
  t.deepEqual(reaching, []);
});

test('nothing cites a document outside the repository', (t) => {
  const outside = [...files, ...sources(join(root, 'test')), join(root, 'README.md'), ...readdirSync(join(root, 'docs')).map((n) => join(root, 'docs', n))]
    .filter((f) => /DESIGN\.md|STYLE\.md|SEQUELIZE-NOTES|LAYOUT-EXAMPLE|\.\.\/shared\/seeds|the seed's|the brief's/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(root, f));
  t.deepEqual(outside.filter((f) => f !== 'test/unit/layout.test.ts'), []);
});
