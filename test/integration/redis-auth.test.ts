/**
 * RedisStore's connection URL on real servers: an ACL user and password
 * (percent-encoded in the URL), and `rediss://` (TLS, the server's
 * certificate checked against the CA the process trusts). A wrong password
 * or an untrusted certificate fails the store, never a query.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ormCache, RedisStore } from '../../source';
import { RedisServer } from '../harness/redis-server';
import { freePort } from '../harness/servers';
import { createTestDatabase, uniqueNamespace } from '../helpers/test-database';

const run = promisify(execFile);
// An ACL user with a password that needs percent-encoding; the default user is off.
const USER = 'cache';
const PASSWORD = 'p@ss:w/rd';
const ACL = ['--user', 'default', 'off', '--user', USER, 'on', `>${PASSWORD}`, '~*', '&*', '+@all'];
const url = (scheme: string, port: number, password = PASSWORD) => `${scheme}://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}`;

function scratch(t: import('ava').ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'orm-cache-redis-auth-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('an ACL user and password in the URL are used; a wrong password fails the store and no query', async (t) => {
  const dir = scratch(t);
  const server = new RedisServer(await freePort(), join(dir, 'redis'), false, ACL);
  server.cliAuth = ['--user', USER, '--pass', PASSWORD];
  t.teardown(() => server.stop());
  await server.start();
  const good = new RedisStore(url('redis', server.port), { timeoutMs: 1000 });
  t.teardown(() => good.close());
  t.true(await good.set('acl:key', 'for the cache user', 60));
  t.is(await good.get('acl:key'), 'for the cache user');
  const anonymous = new RedisStore(server.url, { timeoutMs: 300 });
  t.teardown(() => anonymous.close());
  await t.throwsAsync(anonymous.set('acl:key', 'x', 60), undefined, 'the default user is off');

  const db = await createTestDatabase('redis_acl', { authors: 2, articles: 4 });
  const wrong = new RedisStore(url('redis', server.port, 'not the password'), { timeoutMs: 300 });
  const cache = ormCache.install(db.sequelize, { store: wrong, namespace: uniqueNamespace() });
  const errors: string[] = [];
  cache.on('error', (e) => errors.push(e.message));
  t.teardown(async () => {
    cache.uninstall();
    await wrong.close();
    await db.drop();
  });
  t.is((await db.models.Article.findByPk(1))?.id, 1);
  await db.models.Article.update({ title: 'with the wrong password' }, { where: { id: 1 } });
  t.is((await db.models.Article.findByPk(1))?.title, 'with the wrong password');
  t.true(errors.some((m) => /WRONGPASS|invalid username-password/.test(m)), `the store failures say why: ${errors[0]}`);
});

test('rediss:// speaks TLS and checks the certificate: trusted, the store works; untrusted, it fails and queries do not', async (t) => {
  const dir = scratch(t);
  // A CA of the test's own, and a certificate for 127.0.0.1 signed by it.
  const file = (name: string) => join(dir, name);
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=orm-cache test CA', '-keyout', file('ca.key'), '-out', file('ca.pem')]);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', file('server.key'), '-out', file('server.csr')]);
  await run('openssl', ['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2', '-out', file('server.pem'), '-extfile', file('san.ext')]);
  const tlsPort = await freePort();
  const server = new RedisServer(await freePort(), join(dir, 'redis'), false, [
    ...ACL, '--tls-port', String(tlsPort), '--tls-cert-file', file('server.pem'), '--tls-key-file', file('server.key'),
    '--tls-ca-cert-file', file('ca.pem'), '--tls-auth-clients', 'no',
  ]);
  server.cliAuth = ['--user', USER, '--pass', PASSWORD];
  t.teardown(() => server.stop());
  await server.start();

  // Another process that trusts the test's CA (Node reads NODE_EXTRA_CA_CERTS at start-up only).
  const { stdout } = await run(process.execPath, ['-r', 'ts-node/register/transpile-only', join(__dirname, '..', 'helpers', 'redis-url-child.ts'), url('rediss', tlsPort)], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: file('ca.pem') },
    cwd: join(__dirname, '..', '..'),
    timeout: 60_000,
  });
  t.deepEqual(JSON.parse(stdout), { read: 'over TLS' });

  // This process does not trust that CA: the handshake fails, queries answer from the database.
  const untrusted = new RedisStore(url('rediss', tlsPort), { timeoutMs: 300, connectTimeoutMs: 500 });
  t.teardown(() => untrusted.close());
  const error = await t.throwsAsync(untrusted.set('tls:probe', 'x', 60));
  t.regex(error?.message ?? '', /certificate/, 'the error says why');
  const db = await createTestDatabase('redis_tls', { authors: 2, articles: 4 });
  const cache = ormCache.install(db.sequelize, { store: untrusted, namespace: uniqueNamespace() });
  cache.on('error', () => undefined);
  t.teardown(async () => {
    cache.uninstall();
    await db.drop();
  });
  t.is((await db.models.Article.findByPk(2))?.id, 2);
});
