// ava runs the TypeScript sources through ts-node (type checking happens once,
// in `npm test`'s `tsc --noEmit` step, so each worker only transpiles).
module.exports = {
  files: ['test/**/*.test.ts'],
  extensions: { ts: 'commonjs' },
  require: ['ts-node/register/transpile-only', './test/helpers/global.ts'],
  timeout: '120s',
  workerThreads: false,
  concurrency: 2,
};
