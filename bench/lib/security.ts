/**
 * Credentials for benchmarks, as an operator would have them: in-process masters issue them from
 * their own CA; spawned masters leave admin credentials and a join token in their work dir.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { INSECURE, readCredentials, type ClientSecurity } from '../../src/common/credentials.js';
import { issueCertificate, type Identity, type IdentityKind } from '../../src/common/pki.js';
import type { RunningMaster } from '../../src/master/master.js';
import { orbitFetch, type OrbitFetch } from '../../src/common/http-client.js';

/** Client security as `kind:name`, signed by an in-process master's CA (insecure for an --insecure master). */
export async function issuedBy(master: RunningMaster, kind: IdentityKind, name: string): Promise<ClientSecurity> {
  const pki = master.security.pki;
  if (!pki) return INSECURE;
  const identity: Identity = { cluster: pki.cluster, kind, name };
  const issued = await issueCertificate(pki.ca, { identity, now: new Date(), validDays: 1 });
  return { mode: 'tls', credentials: { identity, caPem: pki.ca.certPem, ...issued } };
}

/** The admin credentials file a spawned master wrote in `workDir`. */
export function adminCredentialsPath(workDir: string): string {
  return join(workDir, 'security', 'admin.credentials.json');
}

/** The admin's client security for a spawned master. */
export function adminOf(workDir: string): ClientSecurity {
  return { mode: 'tls', credentials: readCredentials(adminCredentialsPath(workDir)) };
}

/** The join token a spawned master made at its first start. */
export function joinTokenOf(workDir: string): string {
  return readFileSync(join(workDir, 'security', 'join-token'), 'utf8').trim();
}

let admin: ReturnType<typeof orbitFetch> | undefined;

/**
 * GET from a master's (or agent's) HTTP port as the admin whose credentials are in
 * $ORBIT_CREDENTIALS (set when a bench starts its master); `http://` is read as `https://`.
 */
export function benchFetch(url: string): ReturnType<OrbitFetch> {
  const path = process.env.ORBIT_CREDENTIALS;
  if (!path) return orbitFetch(INSECURE).fetch(url);
  admin ??= orbitFetch({ mode: 'tls', credentials: readCredentials(path) });
  return admin.fetch(url.replace(/^http:\/\//, 'https://'));
}
