// Entry point of `npm test` / `npm run demo`, in plain JS so it starts before
// anything is compiled; the harness itself is TypeScript run through ts-node.
require('ts-node').register({ transpileOnly: true });
require('./run.ts');
