/**
 * Who may use an HTTP port (the master's, an agent's): HTTPS, and on every path but the open ones
 * (`/health`) either a client certificate of this cluster of an allowed kind, or a bearer token an
 * operator issued (the master's only; `Authorization: Bearer T`, or the `orbit_token` cookie that
 * the dashboard's `/login` sets). Anything else is 401, saying what is needed.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket, TlsOptions } from 'node:tls';
import { identityFromAltNames, principalText, type IdentityKind } from './pki.js';

/** A principal as the HTTP port knows it. */
export interface HttpPrincipal {
  kind: IdentityKind;
  name: string;
}

export interface HttpSecurity {
  /** The server's certificate chain and key, and the cluster CA to check clients against. */
  tls: TlsOptions;
  cluster: string;
  /** Kinds of client certificate allowed. */
  kinds: readonly IdentityKind[];
  /** The principal of a bearer token, when it is a live one (the master's API tokens). */
  bearer?: (token: string) => HttpPrincipal | undefined;
  /** Paths that need nothing. */
  open: readonly string[];
}

/** The cookie the dashboard's /login sets. */
export const TOKEN_COOKIE = 'orbit_token';
/** The longest token read from a header or cookie; tokens are far shorter. */
const MAX_TOKEN_CHARS = 256;

function bearerToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^Bearer /i.test(auth)) return auth.slice(7).trim().slice(0, MAX_TOKEN_CHARS);
  const cookies = req.headers.cookie ?? '';
  for (const part of cookies.split(';')) {
    const [name, value] = part.trim().split('=', 2);
    if (name === TOKEN_COOKIE && value) return decodeURIComponent(value).slice(0, MAX_TOKEN_CHARS);
  }
  return undefined;
}

const callers = new WeakMap<IncomingMessage, HttpPrincipal>();

/** Who made `req`, once createJsonServer has let it through; undefined on a plain-HTTP port. */
export function callerOf(req: IncomingMessage): HttpPrincipal | undefined {
  return callers.get(req);
}

/** Records who made `req` (createJsonServer, after httpCaller). */
export function rememberCaller(req: IncomingMessage, principal: HttpPrincipal): void {
  callers.set(req, principal);
}

/** The caller of a request, or the problem to answer 401 with. */
export function httpCaller(req: IncomingMessage, security: HttpSecurity): { principal: HttpPrincipal } | { problem: string } {
  const socket = req.socket as TLSSocket;
  // `authorized` is also true when the client sent no certificate at all: look for one.
  const cert = socket.authorized ? socket.getPeerCertificate() : undefined;
  if (cert?.raw) {
    const identity = identityFromAltNames(cert.subjectaltname);
    if (identity && identity.cluster === security.cluster && security.kinds.includes(identity.kind)) return { principal: { kind: identity.kind, name: identity.name } };
    return { problem: `the client certificate of ${identity ? principalText(identity) : 'no Orbit identity'} may not use this port: it is for ${security.kinds.join(' and ')} certificates of cluster '${security.cluster}'` };
  }
  const token = bearerToken(req);
  if (token !== undefined) {
    const principal = security.bearer?.(token);
    if (principal) return { principal };
    return { problem: security.bearer ? 'the bearer token is unknown, revoked or expired' : 'this port takes no bearer tokens: present a client certificate' };
  }
  return { problem: `this port needs a client certificate of cluster '${security.cluster}'${security.bearer ? " or an operator's bearer token ('orbit token create --api')" : ''}` };
}
