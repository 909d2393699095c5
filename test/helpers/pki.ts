/**
 * The tests' one fast PKI: a cluster CA made once per test process (ECDSA P-256, a few ms),
 * written to a temp dir, and credentials signed by it. Every master a test starts uses this CA
 * (`testMasterSecurity()`, or `masterCaFlags()` for a spawned `orbit master`), so every credential
 * made here is trusted by every test master.
 *
 * Loading this module also points `$ORBIT_CREDENTIALS` at an operator's credentials file, so SDK
 * clients made without `security` and `orbit` commands spawned by tests (they inherit the
 * environment) authenticate as `operator:admin`, as an operator on the master host would.
 */
import * as grpc from '@grpc/grpc-js';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { channelCredentials } from '../../src/common/connection.js';
import { writeCredentials, type ClientSecurity, type Credentials } from '../../src/common/credentials.js';
import { createCa, issueCertificate, type CertAndKey, type IdentityKind } from '../../src/common/pki.js';
import type { SecurityConfig } from '../../src/master/security/setup.js';

/** The cluster name of every test master and credential. */
export const TEST_CLUSTER = 'orbit';

const dir = mkdtempSync(join(tmpdir(), 'orbit-test-pki-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

/** The test CA. */
export const testCa: CertAndKey = await createCa(TEST_CLUSTER, new Date(), 30);
const caCertPath = join(dir, 'ca.crt');
const caKeyPath = join(dir, 'ca.key');
writeFileSync(caCertPath, testCa.certPem);
writeFileSync(caKeyPath, testCa.keyPem, { mode: 0o600 });

const files = new Map<string, string>();
/** Credentials made for the same identity, validity and start are made once. */
const credentialsKey = (kind: IdentityKind, name: string, validDays: number, now: Date | undefined): string => `${kind}:${name}:${validDays}:${now?.getTime() ?? 'now'}`;
const made = new Map<string, Credentials>();

/** Credentials for `kind:name`, signed by the test CA, valid `validDays` (made once per identity and validity). */
export async function testCredentials(kind: IdentityKind, name: string, validDays = 30, now?: Date): Promise<Credentials> {
  const key = credentialsKey(kind, name, validDays, now);
  const known = made.get(key);
  if (known) return known;
  const issued = await issueCertificate(testCa, { identity: { cluster: TEST_CLUSTER, kind, name }, now: now ?? new Date(), validDays });
  const path = join(dir, 'creds', `${kind}-${name}-${made.size}.json`);
  mkdirSync(join(dir, 'creds'), { recursive: true });
  const creds = writeCredentials(path, testCa.certPem, issued);
  made.set(key, creds);
  files.set(key, path);
  return creds;
}

/** A credentials file for `kind:name` (for `--credentials` of a spawned `orbit`). */
export async function testCredentialsFile(kind: IdentityKind, name: string): Promise<string> {
  await testCredentials(kind, name);
  return files.get(credentialsKey(kind, name, 30, undefined))!;
}

/** TLS client security as `kind:name`. */
export async function testSecurity(kind: IdentityKind = 'operator', name = 'admin'): Promise<ClientSecurity> {
  return { mode: 'tls', credentials: await testCredentials(kind, name) };
}

/** What startMaster takes to serve with the test CA. */
export function testMasterSecurity(extra: SecurityConfig = {}): SecurityConfig {
  return { cluster: TEST_CLUSTER, caCertPath, caKeyPath, ...extra };
}

/** The flags that make a spawned `orbit master` serve with the test CA. */
export function masterCaFlags(): string[] {
  return ['--ca-cert', caCertPath, '--ca-key', caKeyPath];
}

/** An operator's client security (operator:admin), for SDK clients and CLI calls. */
export const OPERATOR: ClientSecurity = await testSecurity('operator', 'admin');
/** An agent's client security (agent:test-agent). */
export const AGENT: ClientSecurity = await testSecurity('agent', 'test-agent');
/** The agent's credentials file, for `orbit agent --credentials`. */
export const AGENT_CREDENTIALS_FILE: string = await testCredentialsFile('agent', 'test-agent');
/** The operator's credentials file, also in $ORBIT_CREDENTIALS. */
export const OPERATOR_CREDENTIALS_FILE: string = await testCredentialsFile('operator', 'admin');
process.env.ORBIT_CREDENTIALS = OPERATOR_CREDENTIALS_FILE;

/** A master certificate of the test CA, for fake masters and schedulers that tests stand up. */
export const MASTER_CERT: CertAndKey = await issueCertificate(testCa, {
  identity: { cluster: TEST_CLUSTER, kind: 'master', name: 'fake-master' },
  now: new Date(),
  validDays: 30,
  dnsNames: ['localhost'],
  ipAddresses: ['127.0.0.1'],
});

/** Server credentials for a fake master: TLS with the test CA, client certificates asked for but not required. */
export function testServerCredentials(): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(Buffer.from(testCa.certPem), [{ private_key: Buffer.from(MASTER_CERT.keyPem), cert_chain: Buffer.from(MASTER_CERT.certPem) }], false);
}

/** A TLS connection to 127.0.0.1:port as `security` (the operator by default), the server not checked: for raw bytes over TLS. */
export function testTlsConnect(port: number, security: ClientSecurity = OPERATOR, options: ConnectionOptions = {}, onSecure?: () => void): TLSSocket {
  const creds = security.mode === 'tls' ? security.credentials : undefined;
  return tlsConnect({ host: '127.0.0.1', port, ca: creds?.caPem, cert: creds?.certPem, key: creds?.keyPem, checkServerIdentity: () => undefined, ...options }, onSecure);
}

/** Channel credentials as `security` (default: the operator), for raw gRPC clients of a test master. */
export function testChannel(security: ClientSecurity = OPERATOR): grpc.ChannelCredentials {
  return channelCredentials(security);
}
