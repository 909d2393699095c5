import t from 'tap';
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CredentialsError, findCredentials, readCredentials, writeCredentials } from '../../src/common/credentials.js';
import { caPin, certIdentity, createCa, createKeyAndCsr, identityUri, issueCertificate, parseIdentityUri, signCsr, signedBy } from '../../src/common/pki.js';
import { parseJoinToken } from '../../src/common/join-token.js';
import { JoinTokens } from '../../src/master/security/join-tokens.js';
import { tempDir } from '../helpers/cluster.js';

const now = new Date();
const ca = await createCa('c1', now, 10);
const identity = { cluster: 'c1', kind: 'framework' as const, name: 'spark' };

t.test('the CA is a P-256 CA certificate; certificates name their holder in one orbit:// URI SAN', async (t) => {
  const caCert = new X509Certificate(ca.certPem);
  t.ok(caCert.ca, 'basicConstraints CA:TRUE');
  t.equal(caCert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const issued = await issueCertificate(ca, { identity, now, validDays: 1 });
  t.same(certIdentity(issued.certPem), identity);
  t.ok(await signedBy(issued.certPem, ca.certPem), 'signed by the CA');
  t.notOk(await signedBy(issued.certPem, (await createCa('c1', now, 1)).certPem), 'not by another');
  t.notOk(new X509Certificate(issued.certPem).ca, 'an end-entity certificate cannot sign');
  t.equal(identityUri(identity), 'orbit://c1/framework/spark');
});

t.test('parseIdentityUri takes only a known kind and valid names', async (t) => {
  t.same(parseIdentityUri('orbit://c1/agent/a-1'), { cluster: 'c1', kind: 'agent', name: 'a-1' });
  for (const bad of ['orbit://c1/root/a', 'orbit://c1/agent/../x', 'orbit://c1/agent/a/b', 'https://c1/agent/a', 'orbit:///agent/a', 'orbit://c1/agent/a b']) {
    t.equal(parseIdentityUri(bad), undefined, `${bad} is no identity`);
  }
});

t.test('a CSR is signed for the identity the signer chooses, never the one it asks for', async (t) => {
  const { csrPem, keyPem } = await createKeyAndCsr({ cluster: 'x', kind: 'operator', name: 'root' });
  const certPem = await signCsr(ca, csrPem, { identity: { cluster: 'c1', kind: 'agent', name: 'host-1' }, now, validDays: 1 });
  t.same(certIdentity(certPem), { cluster: 'c1', kind: 'agent', name: 'host-1' });
  t.ok(new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem)), 'for the key the CSR holds');
});

t.test('a CSR that is not one, is too big, or holds another kind of key is refused, saying why', async (t) => {
  const request = { identity, now, validDays: 1 };
  await t.rejects(signCsr(ca, 'hello', request), /not a PEM PKCS#10 request/);
  await t.rejects(signCsr(ca, 'x'.repeat(20_000), request), /at most 16384/);
  // A CSR for a P-384 key, made with the same X.509 library.
  const x509 = await import('@peculiar/x509');
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys: keys as never, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' } });
  await t.rejects(signCsr(ca, csr.toString('pem'), request), /ECDSA P-384; Orbit signs ECDSA P-256 keys only/);
});

t.test('the CA pin is the SHA-256 of its public key, the same for a re-issued CA certificate', async (t) => {
  t.match(caPin(ca.certPem), /^sha256:[0-9a-f]{64}$/);
  t.not(caPin(ca.certPem), caPin((await createCa('c1', now, 10)).certPem));
});

t.test('a credentials file is written 0600 and read back only when whole, signed, and in date', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'creds.json');
  const written = writeCredentials(path, ca.certPem, await issueCertificate(ca, { identity, now, validDays: 1 }));
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.same(readCredentials(path).identity, written.identity);
  const file = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const cases: [string, string, RegExp][] = [
    ['missing', join(dir, 'none.json'), /none\.json: does not exist/],
    ['not JSON', 'nope', /is not JSON/],
    ['another format', JSON.stringify({ ...file, orbit_credentials: 2 }), /this build reads format 1/],
    ['no key', JSON.stringify({ ...file, key: 42 }), /field 'key' is not a PEM block/],
    ['a certificate of another CA', JSON.stringify({ ...file, ca: (await createCa('c1', now, 1)).certPem }), /not signed by the CA beside it/],
    ['an expired certificate', JSON.stringify({ ...file, cert: (await issueCertificate(ca, { identity, now: new Date(now.getTime() - 5 * 86_400_000), validDays: 1 })).certPem }), /expired at .*; renew it/],
  ];
  for (const [what, content, message] of cases) {
    const target = what === 'missing' ? content : join(dir, `${what}.json`);
    if (what !== 'missing') writeFileSync(target, content);
    t.throws(() => readCredentials(target), message, what);
    t.throws(() => readCredentials(target), CredentialsError);
  }
});

t.test('credentials are found from the flag, then $ORBIT_CREDENTIALS; --insecure needs none and takes no file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'c.json');
  writeCredentials(path, ca.certPem, await issueCertificate(ca, { identity, now, validDays: 1 }));
  t.equal(findCredentials({ flag: path, env: {} }).mode, 'tls');
  t.equal(findCredentials({ env: { ORBIT_CREDENTIALS: path } }).mode, 'tls');
  t.equal(findCredentials({ insecure: true, env: {} }).mode, 'insecure');
  t.throws(() => findCredentials({ insecure: true, flag: path, env: {} }), /contradict/);
  t.throws(() => findCredentials({ flag: join(dir, 'missing.json'), env: { ORBIT_CREDENTIALS: path } }), /missing\.json: does not exist/, 'a named file that is missing is an error, not a fall back');
});

t.test('join tokens: kept hashed, checked against the CA pin, expiring and revocable', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'tokens.json');
  const pin = caPin(ca.certPem);
  const tokens = JoinTokens.open(file);
  const made = await tokens.create({ ttlMs: 60_000, description: 'rack 1', nowMs: 1_000, pin });
  const parsed = parseJoinToken(made.token);
  t.equal(parsed.pin, pin, 'the token carries the pin');
  t.notOk(readFileSync(file, 'utf8').includes(parsed.secret), 'the secret is not kept, only its hash');
  t.equal(tokens.check(made.token, 2_000, pin).id, made.info.id);
  t.same(JoinTokens.open(file).list(2_000).map((x) => x.description), ['rack 1'], 'kept across a restart');
  t.throws(() => tokens.check(made.token, 61_001, pin), /expired at/);
  t.throws(() => tokens.check(made.token.replace(/\.([a-z0-9]{24})\./, '.aaaaaaaaaaaaaaaaaaaaaaaa.'), 2_000, pin), /unknown or revoked/, 'a wrong secret');
  const otherPin = caPin((await createCa('c1', now, 1)).certPem);
  t.throws(() => tokens.check(made.token, 2_000, otherPin), /not this cluster's CA/);
  t.throws(() => tokens.check('garbage', 2_000, pin), /is not a join token/);
  t.ok(await tokens.revoke(made.info.id));
  t.notOk(await tokens.revoke(made.info.id), 'revoking twice is false');
  t.throws(() => tokens.check(made.token, 2_000, pin), /unknown or revoked/);
  await t.rejects(tokens.create({ ttlMs: 400 * 86_400_000, description: '', nowMs: 0, pin }), /to 365 days/);
  writeFileSync(file, '{');
  t.throws(() => JoinTokens.open(file), /is corrupt/);
});
