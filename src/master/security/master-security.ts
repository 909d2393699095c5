/**
 * The master's security, as the rpc and http layers use it: who is calling (from the client
 * certificate, never from a message), whether the policy allows what they ask, and the audit log.
 * Under `--insecure` nobody is identified and everything is allowed, which the master logs loudly
 * at every start.
 */
import type * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { PermissionDeniedError, UnauthenticatedError } from '../../common/errors.js';
import { quote } from '../../common/echo.js';
import type { Logger } from '../../common/logging.js';
import { identityFromAltNames, principalText } from '../../common/pki.js';
import type { AuditSink } from './audit-log.js';
import type { ClusterPki } from './cluster-pki.js';
import type { JoinTokens } from './join-tokens.js';
import { decide, type Decision, type Policy, type Principal, type PrincipalKind, type Request } from './policy.js';
import { parsePrincipal } from './policy-request.js';

/** A call as the security layer sees it: grpc-js' auth context. */
export type AuthenticatedCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext' | 'getPeer'>;

/** The identity behind a verified peer certificate, cached by fingerprint with its expiry. */
interface KnownCert {
  principal: Principal | undefined;
  notAfterMs: number;
}
/** Distinct certificates remembered; past this the cache starts over (it only saves parsing). */
const MAX_CACHED_CERTS = 10_000;

export interface MasterSecurityOptions {
  /** Undefined under --insecure. */
  pki: ClusterPki | undefined;
  tokens: JoinTokens | undefined;
  policy: Policy;
  /** Where the policy came from, for `describe` and reloads: a file path or undefined (the default policy). */
  policyFile: string | undefined;
  audit: AuditSink;
  log: Logger;
  now: () => number;
}

export class MasterSecurity {
  private certs = new Map<string, KnownCert>();
  /** The listener's record of each connection's certificate, once it listens (rpc/connection-guard.ts). */
  peers: { get(peer: string): PeerCertificate | null | undefined } | undefined;
  policy: Policy;

  constructor(private readonly o: MasterSecurityOptions) {
    this.policy = o.policy;
  }

  /** True under --insecure. */
  get insecure(): boolean {
    return this.o.pki === undefined;
  }

  get pki(): ClusterPki | undefined {
    return this.o.pki;
  }

  get tokens(): JoinTokens | undefined {
    return this.o.tokens;
  }

  /** Uses `tokens` from now on (a master in HA, at the start of each term it leads: the registry's); a no-op under --insecure. */
  useTokens(tokens: JoinTokens): void {
    if (this.o.pki) this.o.tokens = tokens;
  }

  get policyFile(): string | undefined {
    return this.o.policyFile;
  }

  /**
   * The principal of a call's verified client certificate; undefined under --insecure. Throws
   * UnauthenticatedError when there is none, or it names no identity of this cluster, or it expired
   * since the connection was made.
   */
  caller(call: AuthenticatedCall): Principal | undefined {
    const pki = this.o.pki;
    if (!pki) return undefined;
    const recorded = this.peers?.get(call.getPeer());
    const cert = recorded !== undefined ? (recorded ?? undefined) : call.getAuthContext()?.sslPeerCertificate;
    if (!cert) {
      throw new UnauthenticatedError('no client certificate signed by this cluster\'s CA (none was sent, or it is another CA\'s, or it has expired): use credentials made by \'orbit cert issue\', or join an agent with --join');
    }
    let known = this.certs.get(cert.fingerprint256);
    if (!known) {
      const identity = identityFromAltNames(cert.subjectaltname);
      const principal = identity && identity.cluster === pki.cluster ? { kind: identity.kind, name: identity.name } : undefined;
      known = { principal, notAfterMs: new Date(cert.valid_to).getTime() };
      if (this.certs.size >= MAX_CACHED_CERTS) this.certs.clear();
      this.certs.set(cert.fingerprint256, known);
    }
    if (!known.principal) throw new UnauthenticatedError(`the client certificate names no identity of cluster ${quote(pki.cluster)} (a URI SAN orbit://${pki.cluster}/KIND/NAME)`);
    if (known.notAfterMs <= this.o.now()) throw new UnauthenticatedError(`the client certificate of ${principalText(known.principal)} expired at ${new Date(known.notAfterMs).toISOString()}`);
    return known.principal;
  }

  /** The caller, who must be one of `kinds` (an agent on AgentLink, say). */
  callerOfKind(call: AuthenticatedCall, kinds: readonly PrincipalKind[], service: string): Principal | undefined {
    const principal = this.caller(call);
    if (principal && !kinds.includes(principal.kind)) {
      throw new PermissionDeniedError(`${principalText(principal)} may not use ${service}: it is for ${kinds.join(' and ')} principals`);
    }
    return principal;
  }

  /** The policy's answer; under --insecure everything is allowed. */
  decide(principal: Principal | undefined, request: Request): Decision {
    if (!principal) return { allowed: true, rule: '--insecure: no identities, everything allowed' };
    return decide(this.policy, principal, request);
  }

  /**
   * Throws PermissionDeniedError (naming the principal, `what` was asked and the rule) unless the
   * policy allows it; `what` may be a function, so the Accept path builds no text for allowed tasks.
   */
  authorize(principal: Principal | undefined, request: Request, what: string | (() => string)): void {
    const decision = this.decide(principal, request);
    if (decision.allowed) return;
    throw new PermissionDeniedError(`${principal ? principalText(principal) : 'anonymous'} may not ${typeof what === 'string' ? what : what()}: ${decision.rule}`);
  }

  /**
   * Checks that `principal` is the owner recorded for a framework (`kind:name`). Identity is bound,
   * not claimed: a framework id belongs to the principal that created it.
   */
  checkOwner(principal: Principal | undefined, owner: string, frameworkId: string): void {
    if (!principal) return;
    if (owner !== principalText(principal)) {
      throw new PermissionDeniedError(`framework ${quote(frameworkId)} belongs to ${owner ? quote(owner) : 'no principal'}, not ${principalText(principal)}`);
    }
  }

  /** The owner of a framework as a principal, for view/teardown decisions; undefined if it has none. */
  ownerOf(owner: string): Principal | undefined {
    try {
      return parsePrincipal(owner);
    } catch {
      return undefined;
    }
  }

  /** Appends to the audit log. */
  audit(principal: Principal | undefined, action: string, object: string, result: 'allowed' | 'denied' | 'failed', detail?: string): void {
    this.o.audit.record({ principal: principal ? principalText(principal) : 'anonymous', action, object, result, ...(detail !== undefined ? { detail } : {}) });
  }

  close(): Promise<void> {
    return this.o.audit.close();
  }
}
