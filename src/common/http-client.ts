/**
 * How Orbit's clients reach the masters' and agents' HTTP ports: HTTPS with the client's
 * certificate, trusting only the cluster CA and only a server of the expected kind (the check
 * that connection.ts makes for gRPC), through undici's fetch with a dispatcher of its own. Under
 * --insecure, plain HTTP. URLs are built here, so callers never choose the scheme.
 */
import { Agent, fetch as undiciFetch, type Response } from 'undici';
import { checkServerIdentity } from './connection.js';
import type { ClientSecurity } from './credentials.js';
import type { IdentityKind } from './pki.js';

export type { Response } from 'undici';

/** A fetch that presents `security`'s certificate. */
export type OrbitFetch = (url: string, init?: { signal?: AbortSignal; method?: string; headers?: Record<string, string>; redirect?: 'follow' | 'manual' | 'error' }) => Promise<Response>;

/** `https://HOST:PORT` (or `http://` under --insecure), with an IPv6 host in brackets. */
export function baseUrl(security: ClientSecurity, host: string, port: number): string {
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${security.mode === 'tls' ? 'https' : 'http'}://${shown}:${port}`;
}

/**
 * A fetch for Orbit's HTTP ports as `security`: its certificate presented, the server checked to be
 * one of `serverKinds` of the same cluster. Close the returned `close` when done.
 */
export function orbitFetch(security: ClientSecurity, serverKinds: readonly IdentityKind[] = ['master', 'agent']): { fetch: OrbitFetch; close(): Promise<void> } {
  if (security.mode === 'insecure') {
    return { fetch: (url, init) => undiciFetch(url, init), close: async () => undefined };
  }
  const { caPem, certPem, keyPem, identity } = security.credentials;
  const dispatcher = new Agent({
    // Idle connections go soon, so a short-lived CLI is not kept waiting on them.
    keepAliveTimeout: 1_000,
    connect: {
      ca: caPem,
      cert: certPem,
      key: keyPem,
      // Servers are checked by identity, not host name, as on gRPC.
      checkServerIdentity: (_host, cert) => checkServerIdentity(identity.cluster, serverKinds, cert.subjectaltname),
    },
  });
  return { fetch: (url, init) => undiciFetch(url, { ...init, dispatcher }), close: () => dispatcher.close() };
}
