import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';

const root = join(__dirname, '..', '..');

// `npm pack --dry-run` runs prepack (the build) and lists what a consumer gets.
const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts=false'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as {
  files: { path: string }[];
}[];
const paths = (packed[0]?.files ?? []).map((f) => f.path);

test('the package holds the built code, its types, the README and LICENSE, and nothing else', (t) => {
  for (const needed of ['dist/source/index.js', 'dist/source/index.d.ts', 'dist/hooks/install.js', 'dist/stampede/entry-cycle.js', 'LICENSE', 'README.md', 'package.json']) {
    t.true(paths.includes(needed), needed);
  }
  t.deepEqual(paths.filter((p) => p.endsWith('.map')), [], 'no source maps pointing at sources the package lacks');
  t.deepEqual(paths.filter((p) => /^(test|bench|examples|fixtures|source|hooks|stampede)\//.test(p)), [], 'no tests, benchmarks or TypeScript sources');
  t.deepEqual(paths.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts')), []);
});

test('the published types expose the API, not the internals', (t) => {
  const declaration = readFileSync(join(root, 'dist', 'hooks', 'orm-cache.d.ts'), 'utf8');
  for (const api of ['invalidate(', 'forget(', 'flush(', 'metricsMiddleware(', 'dashboard(', 'uninstall(', 'settled(']) t.true(declaration.includes(api), api);
  for (const internal of ['readonly rows', 'readonly entries', 'readonly locks', 'readonly flights', 'readonly keys', 'schemaOf(', 'rowsChanged(']) {
    t.false(declaration.includes(internal), internal);
  }
});

test('a consumer can require() it and import it from ESM, by the package name', (t) => {
  const app = mkdtempSync(join(tmpdir(), 'orm-cache-consumer-'));
  try {
    mkdirSync(join(app, 'node_modules'));
    symlinkSync(root, join(app, 'node_modules', 'sequelize-orm-cache'), 'dir');
    writeFileSync(join(app, 'cjs.cjs'), "const m = require('sequelize-orm-cache'); console.log(typeof m.ormCache.install, typeof m.MemoryStore, typeof m.InvalidationWarning);");
    writeFileSync(join(app, 'esm.mjs'), "import { ormCache, MemoryStore, InvalidationWarning } from 'sequelize-orm-cache'; console.log(typeof ormCache.install, typeof MemoryStore, typeof InvalidationWarning);");
    for (const file of ['cjs.cjs', 'esm.mjs']) {
      t.is(execFileSync(process.execPath, [file], { cwd: app, encoding: 'utf8' }).trim(), 'function function function', file);
    }
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
});
