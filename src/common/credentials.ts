/**
 * A client's credentials: one file holding the cluster CA's certificate, the client's certificate
 * and its key (JSON, mode 0600), and where a client finds it: a flag, `$ORBIT_CREDENTIALS`, the
 * user's default path, or on the master host the admin credentials the master wrote.
 * `--insecure` is the only way to go without, and it is always said out loud.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { quote } from './echo.js';
import { certIdentity, type CertAndKey, type Identity, principalText } from './pki.js';

/** What a client presents and whom it trusts. */
export interface Credentials {
  /** The identity in `cert`. */
  identity: Identity;
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** How a client talks to the masters: mutual TLS with credentials, or (only when asked for) plaintext. */
export type ClientSecurity = { mode: 'tls'; credentials: Credentials } | { mode: 'insecure' };

export const INSECURE: ClientSecurity = { mode: 'insecure' };

/** The file format's version, in the file so a later format can be told apart. */
const FORMAT = 1;
/** A credentials file is a few KiB; anything much bigger is not one. */
const MAX_FILE_BYTES = 256 * 1024;
/** Where the master's install puts its work dir (deploy/), so the CLI finds its admin credentials on that host. */
export const DEFAULT_MASTER_WORK_DIR = '/var/lib/orbit/master';
/** The admin credentials' file, relative to the master's work dir. */
export const ADMIN_CREDENTIALS_FILE = join('security', 'admin.credentials.json');

/** A credentials file that cannot be used; the message names the file and what is wrong. */
export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
}

/** The user's own credentials file: `~/.orbit/credentials.json`. */
export function defaultCredentialsPath(): string {
  return join(homedir(), '.orbit', 'credentials.json');
}

/** Writes `credentials` to `path` (mode 0600, atomically). */
export function writeCredentials(path: string, caPem: string, issued: CertAndKey): Credentials {
  const identity = certIdentity(issued.certPem);
  if (!identity) throw new CredentialsError(`the certificate for ${path} names no Orbit identity`);
  const file = { orbit_credentials: FORMAT, principal: principalText(identity), cluster: identity.cluster, ca: caPem, cert: issued.certPem, key: issued.keyPem };
  writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`);
  return { identity, caPem, certPem: issued.certPem, keyPem: issued.keyPem };
}

/**
 * Reads and checks a credentials file: its format, a certificate of an Orbit identity signed by the
 * CA beside it, and dates that hold at `now`. Throws CredentialsError naming the file and the problem.
 */
export function readCredentials(path: string, now = new Date()): Credentials {
  const fail = (problem: string): never => {
    throw new CredentialsError(`credentials file ${path}: ${problem}`);
  };
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    return fail((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(err as Error).message})`);
  }
  if (size > MAX_FILE_BYTES) fail(`is ${size} bytes; a credentials file is at most ${MAX_FILE_BYTES}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return fail(`is not JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fail('is not a JSON object');
  const file = parsed as Record<string, unknown>;
  if (file.orbit_credentials !== FORMAT) fail(`has orbit_credentials ${quote(String(file.orbit_credentials))}; this build reads format ${FORMAT}`);
  const text = (key: 'ca' | 'cert' | 'key'): string => (typeof file[key] === 'string' && (file[key] as string).includes('-----BEGIN') ? (file[key] as string) : fail(`field '${key}' is not a PEM block`));
  const [caPem, certPem, keyPem] = [text('ca'), text('cert'), text('key')];
  let ca: X509Certificate;
  let cert: X509Certificate;
  try {
    ca = new X509Certificate(caPem);
    cert = new X509Certificate(certPem);
  } catch (err) {
    return fail(`holds a certificate that does not parse (${(err as Error).message})`);
  }
  if (!cert.verify(ca.publicKey)) fail('its certificate is not signed by the CA beside it');
  const identity = certIdentity(certPem) ?? fail('its certificate names no Orbit identity (a URI SAN orbit://CLUSTER/KIND/NAME)');
  const notAfter = new Date(cert.validTo);
  if (notAfter.getTime() <= now.getTime()) fail(`its certificate for ${principalText(identity)} expired at ${notAfter.toISOString()}; renew it (orbit cert renew) or issue a new one (orbit cert issue)`);
  if (new Date(cert.validFrom).getTime() > now.getTime()) fail(`its certificate is not valid before ${new Date(cert.validFrom).toISOString()}: is this machine's clock right?`);
  return { identity, caPem, certPem, keyPem };
}

/** Where a client's credentials come from, in the order they are looked for. */
export interface CredentialSources {
  /** `--credentials FILE`. */
  flag?: string | undefined;
  /** `--insecure`: plaintext, no credentials (the caller logs a warning). */
  insecure?: boolean | undefined;
  env?: NodeJS.ProcessEnv;
  /** Extra places to look last (a master work dir's admin credentials). */
  fallbacks?: readonly string[];
}

/**
 * The credentials a client uses: `--credentials`, else `$ORBIT_CREDENTIALS`, else the first of the
 * default path and the fallbacks that exists. A named file that is unusable is an error (never a
 * silent fall back to another identity); finding none is an error that says where it looked.
 */
export function findCredentials(sources: CredentialSources): ClientSecurity {
  if (sources.insecure) {
    if (sources.flag) throw new CredentialsError('--insecure and --credentials contradict each other: choose one');
    return INSECURE;
  }
  const env = sources.env ?? process.env;
  if (sources.flag) return { mode: 'tls', credentials: readCredentials(sources.flag) };
  if (env.ORBIT_CREDENTIALS) return { mode: 'tls', credentials: readCredentials(env.ORBIT_CREDENTIALS) };
  const candidates = [defaultCredentialsPath(), ...(sources.fallbacks ?? []), join(DEFAULT_MASTER_WORK_DIR, ADMIN_CREDENTIALS_FILE)];
  const found = candidates.find((path) => existsSync(path));
  if (found) return { mode: 'tls', credentials: readCredentials(found) };
  throw new CredentialsError(
    `no credentials: pass --credentials FILE or set ORBIT_CREDENTIALS (looked in ${candidates.join(', ')}). ` +
      `On the master host the master writes admin credentials to WORK_DIR/${ADMIN_CREDENTIALS_FILE}; elsewhere, ` +
      "ask an operator for a file made by 'orbit cert issue'.",
  );
}
