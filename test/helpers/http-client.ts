/**
 * fetch for the master's and agents' HTTP ports in tests: HTTPS with a test credential (the
 * operator's by default), whatever scheme the test wrote (test masters and agents serve TLS).
 */
import type { ClientSecurity } from '../../src/common/credentials.js';
import { orbitFetch, type OrbitFetch, type Response } from '../../src/common/http-client.js';
import { OPERATOR } from './pki.js';

const clients = new Map<ClientSecurity, { fetch: OrbitFetch }>();

/** GET (or `init.method`) `url` over HTTPS as `security`; `http://` is read as `https://`. */
export function testFetch(url: string, init?: Parameters<OrbitFetch>[1], security: ClientSecurity = OPERATOR): Promise<Response> {
  let client = clients.get(security);
  if (!client) clients.set(security, (client = orbitFetch(security)));
  return client.fetch(url.replace(/^http:\/\//, 'https://'), init);
}
