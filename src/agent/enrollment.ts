/**
 * How an agent gets and keeps its certificate. First start: `--join TOKEN` — the agent reads the
 * master's TLS chain, keeps the CA only if its key matches the pin in the token (kubeadm's
 * discovery), makes a key pair, and sends a CSR with the token over TLS to that CA; the signed
 * certificate is kept in its work dir with the key (agent.credentials.json, mode 0600). Later
 * starts reuse it, and renew it through the Certificates service when it is near its end.
 */
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { certificatesClients, joinClient, NOT_LEADER_RETRY_MS, notLeaderHint, type MasterList } from '../common/connection.js';
import { CredentialsError, INSECURE, readCredentials, writeCredentials, type ClientSecurity, type Credentials } from '../common/credentials.js';
import type { Logger } from '../common/logging.js';
import { caPin, certNotAfter, createKeyAndCsr, principalText } from '../common/pki.js';
import type { CertificateReply__Output } from '../gen/orbit/v1/CertificateReply.js';
import { parseJoinToken } from '../common/join-token.js';

/** The agent's credentials, in its work dir. */
export const AGENT_CREDENTIALS_FILE = 'agent.credentials.json';
/** A certificate this close to its end is renewed at start. */
export const RENEW_WITHIN_MS = 30 * 86_400_000;
const CALL_TIMEOUT_MS = 10_000;

/** The agent could not get or use a certificate; the message says what to do. */
export class EnrollmentError extends Error {
  override readonly name = 'EnrollmentError';
}

export interface EnrollmentOptions {
  workDir: string;
  masters: MasterList;
  hostname: string;
  /** `--join TOKEN`. */
  join?: string | undefined;
  /** `--credentials FILE`: an agent certificate made by `orbit cert issue agent NAME`. */
  credentials?: string | undefined;
  insecure?: boolean | undefined;
  log: Logger;
  now?: () => number;
}

function hostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
}

function pem(raw: Buffer): string {
  return new X509Certificate(raw).toString();
}

/**
 * The CA certificate in the chain a master at `address` presents whose key matches `pin`; throws
 * when the master cannot be reached or no certificate in its chain matches (someone else's server).
 */
export async function fetchPinnedCa(address: string, pin: string, timeoutMs = CALL_TIMEOUT_MS): Promise<string> {
  const { host, port } = hostPort(address);
  const chain = await new Promise<PeerCertificate[]>((resolve, reject) => {
    // Unverified on purpose: the chain is checked against the pin below, before anything is sent.
    const socket = connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'], ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake with ${address} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const certs: PeerCertificate[] = [];
      let cert = socket.getPeerCertificate(true) as PeerCertificate & { issuerCertificate?: PeerCertificate };
      while (cert?.raw && !certs.some((c) => c.raw.equals(cert.raw))) {
        certs.push(cert);
        cert = cert.issuerCertificate as typeof cert;
      }
      socket.end();
      resolve(certs);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach the master at ${address} over TLS: ${err.message}`));
    });
  });
  const ca = chain.map((c) => pem(c.raw)).find((certPem) => caPin(certPem) === pin);
  if (!ca) throw new EnrollmentError(`the server at ${address} presents no CA matching the join token's hash ${pin}: is it the right master, or is someone in between?`);
  return ca;
}

function unary<Res>(invoke: (cb: grpc.requestCallback<Res>) => void): Promise<Res> {
  return new Promise((resolve, reject) => invoke((err, res) => (err || !res ? reject(err ?? new Error('no reply')) : resolve(res))));
}

/** Joins with a token: the CSR goes to the master whose CA the token pins. */
async function joinCluster(options: EnrollmentOptions, token: string, path: string): Promise<Credentials> {
  let parsed;
  try {
    parsed = parseJoinToken(token);
  } catch (err) {
    throw new EnrollmentError(`--join: ${(err as Error).message}`);
  }
  const { keyPem, csrPem } = await createKeyAndCsr({ cluster: 'joining', kind: 'agent', name: options.hostname });
  // The first master of the list, or the leader a standby names (masters in HA), a few hops at most.
  let address = options.masters[0];
  for (let hop = 0; ; hop++) {
    let caPem: string;
    try {
      caPem = await fetchPinnedCa(address, parsed.pin);
    } catch (err) {
      // Unreachable: the next master of the list, until each was tried (a pin mismatch is final).
      if (err instanceof EnrollmentError || hop + 1 >= options.masters.length) throw err;
      address = options.masters[(options.masters.indexOf(address) + 1) % options.masters.length]!;
      continue;
    }
    const client = joinClient(address, caPem);
    try {
      const reply = await unary<CertificateReply__Output>((cb) => client.Join({ token, csrPem, hostname: options.hostname }, { deadline: Date.now() + CALL_TIMEOUT_MS }, cb)).catch((err: grpc.ServiceError) => err);
      if (reply instanceof Error) {
        const hint = notLeaderHint(reply);
        const next = hint?.leader ?? (hint ? options.masters[(options.masters.indexOf(address) + 1) % options.masters.length] : undefined);
        if (next !== undefined && hop < JOIN_HOPS) {
          if (!hint?.leader) await new Promise((r) => setTimeout(r, NOT_LEADER_RETRY_MS));
          address = next;
          continue;
        }
        throw new EnrollmentError(`the master refused to join this agent: ${reply.details || reply.message}`);
      }
      if (reply.caPem.trim() !== caPem.trim()) throw new EnrollmentError('the master answered with a CA other than the one the token pins');
      const creds = writeCredentials(path, caPem, { certPem: reply.certPem, keyPem });
      options.log.info({ principal: principalText(creds.identity), cluster: creds.identity.cluster, path }, 'joined the cluster: certificate kept in the work dir');
      return creds;
    } finally {
      client.close();
    }
  }
}

/** How many NOT_LEADER answers a join follows before it gives up. */
const JOIN_HOPS = 20;

/** Renews `creds` (kept at `path`) through the Certificates service; on failure keeps the old one and warns. */
async function renew(options: EnrollmentOptions, creds: Credentials, path: string): Promise<Credentials> {
  const clients = certificatesClients(options.masters, { mode: 'tls', credentials: creds });
  try {
    const { keyPem, csrPem } = await createKeyAndCsr(creds.identity);
    let reply: CertificateReply__Output | undefined;
    for (let hop = 0; !reply; hop++) {
      const client = clients.current;
      reply = await unary<CertificateReply__Output>((cb) => client.Renew({ csrPem }, { deadline: Date.now() + CALL_TIMEOUT_MS }, cb)).catch((err: grpc.ServiceError) => {
        // A standby: the leader it names (or the next master), a few hops at most.
        const hint = notLeaderHint(err);
        if (!hint || hop >= JOIN_HOPS) throw err;
        clients.follow(client, hint.leader);
        return new Promise<undefined>((r) => setTimeout(() => r(undefined), hint.leader ? 0 : NOT_LEADER_RETRY_MS));
      });
    }
    const renewed = writeCredentials(path, creds.caPem, { certPem: reply.certPem, keyPem });
    options.log.info({ principal: principalText(renewed.identity), notAfter: certNotAfter(reply.certPem).toISOString() }, 'renewed the agent certificate');
    return renewed;
  } catch (err) {
    options.log.warn({ err: (err as Error).message, notAfter: certNotAfter(creds.certPem).toISOString() }, 'could not renew the agent certificate; keeping the one it has');
    return creds;
  } finally {
    clients.close();
  }
}

/** `creds` when they are an agent's; else EnrollmentError naming `where` they came from. Only an agent certificate opens AgentLink. */
export function agentCredentials(creds: Credentials, where: string): Credentials {
  if (creds.identity.kind !== 'agent') throw new EnrollmentError(`${where} holds a certificate for ${principalText(creds.identity)}; an agent needs an agent certificate (--join, or 'orbit cert issue agent NAME')`);
  return creds;
}

/**
 * The agent's security: --insecure; --credentials; the certificate kept in its work dir (renewed
 * when near its end); or a new one from --join. Throws EnrollmentError saying which flag to use.
 */
export async function agentSecurity(options: EnrollmentOptions): Promise<ClientSecurity> {
  if (options.insecure) {
    if (options.join || options.credentials) throw new EnrollmentError('--insecure cannot go with --join or --credentials');
    options.log.warn('--insecure: plaintext to the master, no identity; only a master started with --insecure accepts it');
    return INSECURE;
  }
  const now = options.now ?? Date.now;
  const check = agentCredentials;
  if (options.credentials) {
    try {
      return { mode: 'tls', credentials: check(readCredentials(options.credentials, new Date(now())), `--credentials ${options.credentials}`) };
    } catch (err) {
      if (err instanceof CredentialsError) throw new EnrollmentError(err.message);
      throw err;
    }
  }
  const path = join(options.workDir, AGENT_CREDENTIALS_FILE);
  if (existsSync(path)) {
    let creds: Credentials | undefined;
    try {
      creds = check(readCredentials(path, new Date(now())), path);
    } catch (err) {
      if (!(err instanceof CredentialsError) || !options.join) throw err instanceof CredentialsError ? new EnrollmentError(`${err.message}; start with --join TOKEN to get a new one`) : err;
      options.log.warn({ reason: err.message }, 'the kept certificate cannot be used; joining again');
    }
    if (creds) {
      const nearEnd = certNotAfter(creds.certPem).getTime() - now() < RENEW_WITHIN_MS;
      return { mode: 'tls', credentials: nearEnd ? await renew(options, creds, path) : creds };
    }
  }
  if (!options.join) {
    throw new EnrollmentError(`no certificate in ${path}: start the agent once with --join TOKEN (printed by 'orbit master', or made by 'orbit token create'), or give --credentials FILE, or --insecure for a master that runs with --insecure`);
  }
  return { mode: 'tls', credentials: await joinCluster(options, options.join, path) };
}
