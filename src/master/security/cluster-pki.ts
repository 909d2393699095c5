/**
 * The master's certificates, with no manual step: on first start a cluster CA is made in the work
 * dir (unless `--ca-cert/--ca-key` name one), and at every start the master issues itself a
 * serving certificate for its addresses and makes sure the admin credentials it keeps for the
 * operator on this host are valid. Files (`WORK_DIR/security/`, keys mode 0600):
 *   ca.crt, ca.key            the cluster CA (when the master made it)
 *   master.crt, master.key    this master's certificate, re-issued at each start
 *   admin.credentials.json    an operator:admin credentials file for the CLI on this host
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { TlsOptions } from 'node:tls';
import { isIP } from 'node:net';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { ADMIN_CREDENTIALS_FILE, CredentialsError, readCredentials, writeCredentials } from '../../common/credentials.js';
import type { Logger } from '../../common/logging.js';
import { caPin, createCa, issueCertificate, type CertAndKey, type Identity } from '../../common/pki.js';

/** How long the CA the master makes is valid. */
export const CA_VALID_DAYS = 3_650;
/** The master's own serving certificate (re-issued at every start). */
export const MASTER_CERT_VALID_DAYS = 365;
/** Admin credentials are re-issued when they would expire within this many days. */
const ADMIN_RENEW_DAYS = 30;

/** What the master serves TLS with and signs certificates with. */
export interface ClusterPki {
  cluster: string;
  ca: CertAndKey;
  /** The CA's pin (`sha256:...`), as join tokens carry it. */
  pin: string;
  serving: CertAndKey;
  /** What the gRPC listener serves TLS with. */
  tlsOptions: TlsOptions;
  /** The admin credentials file the master keeps for the CLI on its host. */
  adminCredentialsPath: string;
}

export interface PkiOptions {
  workDir: string;
  cluster: string;
  /** `--ca-cert` and `--ca-key`: a CA the operator made; both or neither. */
  caCertPath?: string | undefined;
  caKeyPath?: string | undefined;
  /** The address the master listens on; its serving certificate names it too (unless a wildcard). */
  listenIp: string;
  /** More names and addresses the serving certificate should carry (`--advertise`...). */
  extraNames?: readonly string[];
  /** Validity of the admin credentials (days). */
  certValidDays: number;
  now: Date;
  log: Logger;
}

/** A CA that cannot be used; the message names the file and the problem. */
export class PkiError extends Error {
  override readonly name = 'PkiError';
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new PkiError(`${what} ${path} cannot be read: ${(err as Error).message}`);
  }
}

/** Checks that `ca` is a CA certificate whose key is `ca.keyPem`. */
function checkCa(ca: CertAndKey, where: string, now: Date): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(ca.certPem);
  } catch (err) {
    throw new PkiError(`${where}: the CA certificate does not parse (${(err as Error).message})`);
  }
  if (!cert.ca) throw new PkiError(`${where}: the certificate is not a CA (basicConstraints CA:FALSE)`);
  if (new Date(cert.validTo).getTime() <= now.getTime()) throw new PkiError(`${where}: the CA expired at ${new Date(cert.validTo).toISOString()}`);
  try {
    if (!cert.checkPrivateKey(createPrivateKey(ca.keyPem))) throw new PkiError(`${where}: the key is not the CA certificate's key`);
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw new PkiError(`${where}: the CA key does not parse (${(err as Error).message})`);
  }
}

/** The CA: the operator's, the one made on an earlier start, or a new one. */
async function clusterCa(options: PkiOptions, dir: string): Promise<CertAndKey> {
  const { caCertPath, caKeyPath } = options;
  if ((caCertPath === undefined) !== (caKeyPath === undefined)) throw new PkiError('--ca-cert and --ca-key go together: give both or neither');
  if (caCertPath !== undefined && caKeyPath !== undefined) {
    const ca = { certPem: readPem(caCertPath, '--ca-cert'), keyPem: readPem(caKeyPath, '--ca-key') };
    checkCa(ca, `--ca-cert ${caCertPath} / --ca-key ${caKeyPath}`, options.now);
    return ca;
  }
  const certPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'ca.key');
  if (existsSync(certPath) || existsSync(keyPath)) {
    const ca = { certPem: readPem(certPath, 'the cluster CA'), keyPem: readPem(keyPath, 'the cluster CA key') };
    checkCa(ca, `the cluster CA in ${dir}`, options.now);
    return ca;
  }
  const ca = await createCa(options.cluster, options.now, CA_VALID_DAYS);
  writeFileAtomic(keyPath, ca.keyPem);
  writeFileAtomic(certPath, ca.certPem);
  options.log.info({ path: certPath }, 'created the cluster CA');
  return ca;
}

/** The names a master's serving certificate carries: its listen address, loopback, its hostname. */
function servingNames(options: PkiOptions): { dnsNames: string[]; ipAddresses: string[] } {
  const names = new Set(['localhost', hostname(), ...(options.extraNames ?? [])]);
  const ips = new Set(['127.0.0.1', '::1']);
  if (options.listenIp !== '0.0.0.0' && options.listenIp !== '::') ips.add(options.listenIp);
  for (const n of [...names]) {
    if (isIP(n)) {
      names.delete(n);
      ips.add(n);
    }
  }
  return { dnsNames: [...names], ipAddresses: [...ips] };
}

/** Admin credentials, kept valid: re-issued when missing, unreadable, near expiry or of another CA. */
async function adminCredentials(options: PkiOptions, ca: CertAndKey, path: string): Promise<void> {
  const soon = new Date(options.now.getTime() + ADMIN_RENEW_DAYS * 86_400_000);
  if (existsSync(path)) {
    try {
      const creds = readCredentials(path, soon);
      if (creds.caPem.trim() === ca.certPem.trim() && creds.identity.cluster === options.cluster) return;
    } catch (err) {
      if (!(err instanceof CredentialsError)) throw err;
      options.log.info({ path, reason: (err as Error).message }, 're-issuing the admin credentials');
    }
  }
  const identity: Identity = { cluster: options.cluster, kind: 'operator', name: 'admin' };
  writeCredentials(path, ca.certPem, await issueCertificate(ca, { identity, now: options.now, validDays: options.certValidDays }));
}

/** Loads or makes the CA, issues this master's certificate and keeps the admin credentials valid. */
export async function prepareClusterPki(options: PkiOptions): Promise<ClusterPki> {
  const dir = join(options.workDir, 'security');
  const ca = await clusterCa(options, dir);
  const identity: Identity = { cluster: options.cluster, kind: 'master', name: hostname().replace(/[^A-Za-z0-9_.@-]/g, '-') || 'master' };
  const serving = await issueCertificate(ca, { identity, now: options.now, validDays: MASTER_CERT_VALID_DAYS, ...servingNames(options) });
  writeFileAtomic(join(dir, 'master.key'), serving.keyPem);
  writeFileAtomic(join(dir, 'master.crt'), serving.certPem);
  const adminCredentialsPath = join(options.workDir, ADMIN_CREDENTIALS_FILE);
  await adminCredentials(options, ca, adminCredentialsPath);
  // The chain sent to clients includes the CA, so a joining agent can check the pin against it.
  const tlsOptions: TlsOptions = { key: serving.keyPem, cert: `${serving.certPem}${ca.certPem}`, ca: ca.certPem, minVersion: 'TLSv1.2' };
  return { cluster: options.cluster, ca, pin: caPin(ca.certPem), serving, tlsOptions, adminCredentialsPath };
}
