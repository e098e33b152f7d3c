/**
 * The README's TypeScript compiles under `strict`, against the package's own
 * types, as a new user would paste it (no servers needed).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';

const root = join(__dirname, '..', '..');
const vendorTypes = join(root, 'source', 'vendor-types');

test('every TypeScript block of the README type-checks under strict', (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  t.true(blocks.length > 0, 'the README has a Quick start');
  const dir = join(root, '.tmp', `readme-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  blocks.forEach((block, i) => writeFileSync(join(dir, `block${i}.ts`), block));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true, target: 'ES2022', module: 'commonjs', moduleResolution: 'node', esModuleInterop: true, skipLibCheck: true,
        noEmit: true, types: ['node'], typeRoots: [join(root, 'node_modules', '@types')],
        baseUrl: root, paths: { 'sequelize-orm-cache': ['source/index.ts'] },
      },
      // The package's own declarations of untyped dependencies come along, as in its build.
      files: [...blocks.map((_, i) => `block${i}.ts`), ...readdirSync(vendorTypes).map((f) => join(vendorTypes, f))],
    }),
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', stdio: 'pipe' });
    t.pass();
  } catch (error) {
    t.fail(String((error as { stdout?: string }).stdout ?? error));
  }
});
