/**
 * The cluster's X.509 material, through one well-kept library (@peculiar/x509 on Node's WebCrypto):
 * the CA, key pairs and CSRs, certificates signed for an identity, and the identity a certificate
 * names. Every Orbit certificate carries its holder's kind and principal in one URI SAN,
 * `orbit://CLUSTER/KIND/NAME`; that SAN, not the subject's CN, is what the master trusts.
 * Keys are ECDSA P-256 (fast to make, small to send, accepted by every TLS stack).
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type X509Crypto = Parameters<typeof x509.cryptoProvider.set>[0];
import { quote } from './echo.js';
import { nameProblem } from './names.js';

x509.cryptoProvider.set(webcrypto as unknown as X509Crypto);

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** A certificate's start is backdated this much, so a peer whose clock runs a little behind accepts it. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** What a certificate's holder is. */
export type IdentityKind = 'master' | 'agent' | 'framework' | 'operator';
export const IDENTITY_KINDS: readonly IdentityKind[] = ['master', 'agent', 'framework', 'operator'];

/** Who holds a certificate: its cluster, its kind and its principal name. */
export interface Identity {
  cluster: string;
  kind: IdentityKind;
  name: string;
}

/** A PEM certificate with the PEM PKCS#8 key that goes with it. */
export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

/** The URI SAN naming `identity`. */
export function identityUri(identity: Identity): string {
  return `orbit://${identity.cluster}/${identity.kind}/${identity.name}`;
}

/** `kind:name`, the way principals are written in policies, logs and the audit log. */
export function principalText(identity: Pick<Identity, 'kind' | 'name'>): string {
  return `${identity.kind}:${identity.name}`;
}

/** Why `name` cannot be an identity's cluster or principal name, or undefined when it can. */
export function identityNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  return nameProblem('principal name', name);
}

/** The identity an `orbit://` URI names, or undefined for any other URI or a malformed one. */
export function parseIdentityUri(uri: string): Identity | undefined {
  const match = /^orbit:\/\/([^/]+)\/([a-z]+)\/([^/]+)$/.exec(uri);
  if (!match) return undefined;
  const [, cluster, kind, name] = match as unknown as [string, string, string, string];
  if (!(IDENTITY_KINDS as readonly string[]).includes(kind)) return undefined;
  if (identityNameProblem(cluster) !== undefined || identityNameProblem(name) !== undefined) return undefined;
  return { cluster, kind: kind as IdentityKind, name };
}

/**
 * The identity in Node's rendering of a certificate's SANs (`URI:orbit://..., DNS:...`, as
 * `tls` and `crypto.X509Certificate` give it); undefined when there is not exactly one.
 */
export function identityFromAltNames(subjectAltName: string | undefined): Identity | undefined {
  if (!subjectAltName) return undefined;
  const found = subjectAltName
    .split(', ')
    .filter((entry) => entry.startsWith('URI:orbit://'))
    .map((entry) => parseIdentityUri(entry.slice(4)));
  return found.length === 1 ? found[0] : undefined;
}

/** The identity a PEM certificate names (see identityFromAltNames). */
export function certIdentity(certPem: string): Identity | undefined {
  return identityFromAltNames(new NodeX509(certPem).subjectAltName);
}

/** When a PEM certificate stops being valid. */
export function certNotAfter(certPem: string): Date {
  return new Date(new NodeX509(certPem).validTo);
}

/**
 * The pin of a CA, as a join token carries it: `sha256:` and the hex SHA-256 of the CA's
 * SubjectPublicKeyInfo (kubeadm's discovery-token-ca-cert-hash), so it survives re-issuing the CA
 * certificate with the same key.
 */
export function caPin(caCertPem: string): string {
  const spki = new NodeX509(caCertPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** A PEM block with the newline after its END line, so blocks can be joined into a chain. */
function pemText(pem: string): string {
  const text = pem.replace(/\r\n/g, '\n');
  return text.endsWith('\n') ? text : `${text}\n`;
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return pemText(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  if (!der) throw new Error('the key file holds no PEM block');
  return webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
}

function serialNumber(): string {
  // 16 random bytes, top bit clear so the DER INTEGER stays positive.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

/** Creates a cluster CA: a self-signed ECDSA P-256 certificate that may sign end-entity certificates only. */
export async function createCa(cluster: string, now: Date, validDays: number): Promise<CertAndKey> {
  const keys = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=Orbit cluster CA ${cluster}`,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + validDays * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: pemText(cert.toString('pem')), keyPem: await keyPem(keys.privateKey) };
}

/** A fresh key pair and a CSR for it (the CSR names the identity; the signer decides what it signs). */
export async function createKeyAndCsr(identity: Identity): Promise<{ keyPem: string; csrPem: string }> {
  const keys = await newKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${identity.name}`,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: identityUri(identity) }])],
  });
  return { keyPem: await keyPem(keys.privateKey), csrPem: pemText(csr.toString('pem')) };
}

/** What a certificate is signed for. */
export interface SignRequest {
  identity: Identity;
  now: Date;
  validDays: number;
  /** Extra SANs for a serving certificate (the master's hostnames and addresses). */
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
}

/** The largest CSR accepted, in characters of PEM: a P-256 CSR is under 600. */
export const MAX_CSR_CHARS = 16_384;

/**
 * Signs the public key of `csrPem` for `request.identity`, after checking the CSR's own signature
 * (its holder has the private key). The identity and validity come from the signer, never from the
 * CSR. Throws an Error naming the problem for a CSR that is not one.
 */
export async function signCsr(ca: CertAndKey, csrPem: string, request: SignRequest): Promise<string> {
  if (csrPem.length > MAX_CSR_CHARS) throw new Error(`the CSR is ${csrPem.length} characters; at most ${MAX_CSR_CHARS}`);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch {
    throw new Error(`the CSR is not a PEM PKCS#10 request: ${quote(csrPem)}`);
  }
  const algorithm = csr.publicKey.algorithm as webcrypto.EcKeyAlgorithm;
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') {
    throw new Error(`the CSR's key is ${algorithm.name}${algorithm.namedCurve ? ` ${algorithm.namedCurve}` : ''}; Orbit signs ECDSA P-256 keys only`);
  }
  if (!(await csr.verify())) throw new Error('the CSR is not signed by its own key');
  return signPublicKey(ca, csr.publicKey, request);
}

async function signPublicKey(ca: CertAndKey, publicKey: x509.PublicKey | CryptoKey, request: SignRequest): Promise<string> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const names: x509.JsonGeneralName[] = [{ type: 'url', value: identityUri(request.identity) }];
  for (const dns of request.dnsNames ?? []) names.push({ type: 'dns', value: dns });
  for (const ip of request.ipAddresses ?? []) names.push({ type: 'ip', value: ip });
  // Masters and agents serve (gRPC; the HTTP ports) as well as dial; frameworks and operators only dial.
  const serving = request.identity.kind === 'master' || request.identity.kind === 'agent';
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${request.identity.kind} ${request.identity.name}`,
    issuer: caCert.subject,
    notBefore: new Date(request.now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(request.now.getTime() + request.validDays * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey,
    signingKey: await importKey(ca.keyPem),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(serving ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return pemText(cert.toString('pem'));
}

/** A fresh key and a certificate for it, signed by `ca` (for the master's own certificates and the CLI's `cert issue`). */
export async function issueCertificate(ca: CertAndKey, request: SignRequest): Promise<CertAndKey> {
  const keys = await newKeyPair();
  return { certPem: await signPublicKey(ca, keys.publicKey, request), keyPem: await keyPem(keys.privateKey) };
}

/** True when `certPem` was signed by the CA in `caPem` (its signature, not its dates). */
export async function signedBy(certPem: string, caPem: string): Promise<boolean> {
  try {
    return await new x509.X509Certificate(certPem).verify({ publicKey: new x509.X509Certificate(caPem), signatureOnly: true });
  } catch {
    return false;
  }
}
