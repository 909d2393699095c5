/**
 * The Certificates service: agents join with a token and a CSR; anyone renews their own
 * certificate; operators (as the policy allows) issue certificates and manage join tokens. The
 * master signs public keys only: private keys never cross the wire. Everything is audited.
 */
import type * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { quote } from '../../common/echo.js';
import { identityKindFromProto } from '../../common/enum-codec.js';
import { errorMessage, FailedPreconditionError, InvalidArgumentError, reasonOf } from '../../common/errors.js';
import { checkName } from '../../common/names.js';
import { identityNameProblem, principalText, signCsr, type Identity } from '../../common/pki.js';
import { parsePrincipal, principalProblem } from '../security/policy-request.js';
import type { CertificatesHandlers } from '../../gen/orbit/v1/Certificates.js';
import type { CertificateReply } from '../../gen/orbit/v1/CertificateReply.js';
import type { TokenInfo } from '../../gen/orbit/v1/TokenInfo.js';
import type { ClusterPki } from '../security/cluster-pki.js';
import type { JoinTokenInfo, JoinTokens } from '../security/join-tokens.js';
import { MAX_TOKEN_TTL_MS } from '../security/join-tokens.js';
import type { MasterSecurity } from '../security/master-security.js';
import type { Principal } from '../security/policy.js';
import { peerAddress, toServiceError } from './status-codes.js';

/** The longest validity a certificate may be issued for: the CA's own is ten years. */
export const MAX_CERT_VALID_DAYS = 3_650;
/** The longest token description kept. */
const MAX_DESCRIPTION_CHARS = 256;

export interface CertificateSettings {
  /** Validity of certificates issued when a call does not say (`--cert-valid-days`). */
  certValidDays: number;
  /** Lifetime of a token made when a call does not say (`--join-token-ttl`), ms; 0 never expires. */
  joinTokenTtlMs: number;
  now: () => number;
}

function tokenInfo(info: JoinTokenInfo): TokenInfo {
  return { id: info.id, kind: info.kind ?? 'join', principal: info.principal ?? '', description: info.description, createdMs: String(info.createdMs), expiresMs: String(info.expiresMs) };
}

/** An agent's principal: its hostname and a random suffix, so agents that share a hostname stay apart. */
function agentName(hostname: string): string {
  const base = hostname.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[.-]+/, '').slice(0, 100) || 'agent';
  return `${base}-${randomBytes(4).toString('hex')}`;
}

export function certificatesHandlers(security: MasterSecurity, settings: CertificateSettings): CertificatesHandlers {
  const secured = (): { pki: ClusterPki; tokens: JoinTokens } => {
    const { pki, tokens } = security;
    if (!pki || !tokens) throw new FailedPreconditionError('UNIMPLEMENTED', 'this master runs with --insecure: it has no CA and issues no certificates');
    return { pki, tokens };
  };
  const sign = async (csrPem: string, identity: Identity, validDays: number): Promise<CertificateReply> => {
    const { pki } = secured();
    if (!csrPem) throw new InvalidArgumentError('csr_pem', 'is required');
    let certPem: string;
    try {
      certPem = await signCsr(pki.ca, csrPem, { identity, now: new Date(settings.now()), validDays });
    } catch (err) {
      throw new InvalidArgumentError('csr_pem', errorMessage(err));
    }
    return { certPem, caPem: pki.ca.certPem, cluster: pki.cluster };
  };
  const validDays = (asked: number): number => {
    if (asked > MAX_CERT_VALID_DAYS) throw new InvalidArgumentError('valid_days', `is ${asked}; at most ${MAX_CERT_VALID_DAYS}`);
    return asked === 0 ? settings.certValidDays : asked;
  };
  /** Runs `fn` for the call's principal (anonymous for Join), auditing how it went. */
  function audited<Req, Res>(action: string, anonymous: boolean, fn: (req: Req, principal: Principal | undefined, object: (o: string) => void) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      let principal: Principal | undefined;
      let object = anonymous ? peerAddress(call.getPeer()) : '';
      const fail = (err: unknown) => {
        const reason = reasonOf(err);
        const denied = reason === 'PERMISSION_DENIED' || reason === 'UNAUTHENTICATED' || reason === 'INVALID_TOKEN';
        security.audit(principal, action, object, denied ? 'denied' : 'failed', errorMessage(err));
        callback(toServiceError(err));
      };
      try {
        principal = anonymous ? undefined : security.caller(call);
        fn(call.request, principal, (o) => (object = o)).then((res) => {
          security.audit(principal, action, object, 'allowed');
          callback(null, res);
        }, fail);
      } catch (err) {
        fail(err);
      }
    };
  }

  return {
    Join: audited('join', true, async (req, _principal, object) => {
      const { tokens, pki } = secured();
      if (!req.hostname) throw new InvalidArgumentError('hostname', 'is required');
      const hostname = checkName('hostname', req.hostname, 'hostname');
      const token = tokens.check(req.token, settings.now(), pki.pin);
      const identity: Identity = { cluster: pki.cluster, kind: 'agent', name: agentName(hostname) };
      object(`agent:${identity.name} with token ${token.id}`);
      return sign(req.csrPem, identity, settings.certValidDays);
    }),
    Renew: audited('renew_certificate', false, async (req, principal, object) => {
      const { pki } = secured();
      // Under TLS every caller here has a principal (caller() throws otherwise).
      const identity: Identity = { cluster: pki.cluster, kind: principal!.kind as Identity['kind'], name: principal!.name };
      if (identity.kind === 'master') throw new InvalidArgumentError('csr_pem', 'a master issues its own certificate at start');
      object(`${identity.kind}:${identity.name}`);
      return sign(req.csrPem, identity, settings.certValidDays);
    }),
    Issue: audited('issue_certificate', false, async (req, principal, object) => {
      const { pki } = secured();
      const kind = identityKindFromProto(req.kind, 'kind');
      const problem = identityNameProblem(req.name);
      if (problem !== undefined) throw new InvalidArgumentError('name', `${quote(req.name)} ${problem}`);
      object(`${kind}:${req.name}`);
      security.authorize(principal, { action: 'issue_certificate', kind, name: req.name }, `issue a certificate for ${kind}:${req.name}`);
      return sign(req.csrPem, { cluster: pki.cluster, kind, name: req.name }, validDays(req.validDays));
    }),
    CreateToken: audited('create_token', false, async (req, principal, object) => {
      const { tokens, pki } = secured();
      security.authorize(principal, { action: 'manage_tokens' }, 'make join tokens');
      const ttlMs = req.ttlSeconds === 0 ? settings.joinTokenTtlMs : req.ttlSeconds * 1000;
      if (ttlMs > MAX_TOKEN_TTL_MS) throw new InvalidArgumentError('ttl_seconds', `is ${req.ttlSeconds}; at most ${MAX_TOKEN_TTL_MS / 1000} (a year)`);
      if (req.description.length > MAX_DESCRIPTION_CHARS) throw new InvalidArgumentError('description', `is ${req.description.length} characters; at most ${MAX_DESCRIPTION_CHARS}`);
      let api: { principal: string } | undefined;
      if (req.api) {
        const owner = req.principal || (principal ? principalText(principal) : '');
        const kind = principalProblem(owner) === undefined ? parsePrincipal(owner).kind : undefined;
        if (kind !== 'operator') throw new InvalidArgumentError('principal', `${quote(owner)}: an API token stands for an operator principal, operator:NAME`);
        api = { principal: owner };
      }
      const made = await tokens.create({ ttlMs, description: req.description, nowMs: settings.now(), pin: pki.pin, ...(api ? { api } : {}) });
      object(made.info.id);
      return { token: made.token, info: tokenInfo(made.info) };
    }),
    ListTokens: audited('list_tokens', false, async (_req, principal) => {
      const { tokens } = secured();
      security.authorize(principal, { action: 'manage_tokens' }, 'list join tokens');
      return { tokens: tokens.list(settings.now()).map(tokenInfo) };
    }),
    RevokeToken: audited('revoke_token', false, async (req, principal, object) => {
      const { tokens } = secured();
      object(req.id);
      security.authorize(principal, { action: 'manage_tokens' }, 'revoke join tokens');
      if (!/^[a-z0-9]{6}$/.test(req.id)) throw new InvalidArgumentError('id', `${quote(req.id)} is not a token id (six letters and digits)`);
      if (!(await tokens.revoke(req.id))) throw new InvalidArgumentError('id', `there is no join token ${quote(req.id)}`);
      return { message: `join token ${req.id} revoked` };
    }),
  };
}
