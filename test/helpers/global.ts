// Loaded into every ava worker: an unhandled rejection anywhere fails the run
// instead of passing silently (ioredis' test/helpers/global.ts does the same).
process.on('unhandledRejection', (reason) => {
  throw reason;
});
