// A separate OS process for the TLS test: NODE_EXTRA_CA_CERTS (the test's own
// CA) is read at start-up only. Writes and reads one key through a RedisStore
// made from the URL in argv, and prints what it read (or the error).
import { RedisStore } from '../../source';

async function main() {
  const store = new RedisStore(process.argv[2] as string, { timeoutMs: 2000, connectTimeoutMs: 3000 });
  try {
    await store.set('tls:probe', 'over TLS', 60);
    process.stdout.write(JSON.stringify({ read: await store.get('tls:probe') }));
  } catch (error) {
    process.stdout.write(JSON.stringify({ error: String(error) }));
  } finally {
    await store.close();
  }
}

void main();
