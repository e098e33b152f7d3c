// Run as a child process by memcached-faults.test.ts: hammer a store whose
// server refuses connections, with `ping` made unavailable, then close it.
// The parent checks that this exits promptly and never tried to spawn ping.
import childProcess from 'node:child_process';
import { MemcachedStore } from '../../source/store/memcached-store';

const spawned: string[] = [];
const originalSpawn = childProcess.spawn;
(childProcess as { spawn: unknown }).spawn = (command: string, ...rest: unknown[]) => {
  spawned.push(command);
  return (originalSpawn as (...a: unknown[]) => unknown)(command, ...rest);
};
process.env.PATH = '/nonexistent';

async function main() {
  const address = process.argv[2] as string;
  const client = process.argv[3] === 'memcached' ? 'memcached' : 'builtin';
  const store = new MemcachedStore(address, { timeoutMs: 50, breakerCooldownMs: 20, client });
  let failures = 0;
  for (let i = 0; i < 40; i++) {
    await store.get(`k${i}`).catch(() => failures++);
    await store.set(`k${i}`, 'v', 10).catch(() => failures++);
    await new Promise((r) => setTimeout(r, 10));
  }
  await store.close();
  process.stdout.write(JSON.stringify({ failures, spawned }));
}

void main();
