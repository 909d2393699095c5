/**
 * The CLI's reads from agents' HTTP ports (task output): HTTPS with the CLI's credentials, the
 * agent checked to hold an agent certificate of the cluster (common/http-client.ts).
 */
import { baseUrl, orbitFetch, type OrbitFetch, type Response } from '../common/http-client.js';
import { cliSecurity } from './cli-security.js';

let client: { fetch: OrbitFetch } | undefined;

/** The base URL of an agent's HTTP port, with the scheme the CLI's credentials call for. */
export function agentBaseUrl(host: string, port: number): string {
  return baseUrl(cliSecurity(), host, port);
}

/** GET from an agent as the CLI's principal. */
export function agentFetch(url: string, init?: { signal?: AbortSignal }): Promise<Response> {
  client ??= orbitFetch(cliSecurity(), ['agent']);
  return client.fetch(url, init);
}
