// Loaded by mocha as a spec file, without the cache: registers the suite's
// test files named by ORM_CACHE_RERUN_FILES (a JSON list of absolute paths)
// ORM_CACHE_RERUN_TIMES times over, so that one process runs a test that
// failed only with the cache again and again (with --grep naming it). The
// harness counts it against the cache only if it never fails here
// (test/harness/sequelize-suite.ts).
'use strict';
const files = JSON.parse(process.env.ORM_CACHE_RERUN_FILES || '[]');
const times = Number(process.env.ORM_CACHE_RERUN_TIMES || 1);
for (let i = 0; i < times; i++) {
  for (const file of files) {
    delete require.cache[require.resolve(file)];
    require(file);
  }
}
