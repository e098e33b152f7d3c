// Loaded by mocha (`--require`) before Sequelize's own integration tests: the
// cache is installed on every Sequelize instance the suite creates, so each
// test runs its reads and writes through it (`npm run test:sequelize`).
//
// One MemcachedStore and one namespace serve every instance, as several
// processes of one app share them: a write through any instance must
// invalidate what the others cached. The plugin is the repository's own
// TypeScript, run through ts-node from the repository's node_modules.
'use strict';
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
require(require.resolve('ts-node', { paths: [root] })).register({ transpileOnly: true, project: path.join(root, 'tsconfig.json') });
const { ormCache, MemcachedStore } = require(path.join(root, 'source', 'index.ts'));

// The very module the suite uses (its own node_modules, not the repository's).
const Sequelize = require(require.resolve('sequelize', { paths: [process.cwd()] }));

const servers = (process.env.ORM_CACHE_MEMCACHED || '').split(',').filter(Boolean);
if (servers.length === 0) throw new Error('install-cache.js: ORM_CACHE_MEMCACHED must name the memcached server(s)');
const store = new MemcachedStore(servers);
const namespace = `suite${process.pid}`;
let installs = 0;

Sequelize.addHook('afterInit', (sequelize) => {
  ormCache.install(sequelize, { store, namespace });
  installs++;
});

process.on('exit', () => {
  if (installs === 0) process.stderr.write('install-cache.js: no Sequelize instance was created\n');
});
