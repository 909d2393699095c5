/**
 * The master's HTTP port under TLS: who may call it (operator certificates, and bearer API tokens
 * an operator made), and `/login?token=T`, which checks an API token and keeps it in an HttpOnly
 * cookie, so a browser can open the dashboard with nothing but the token.
 */
import type { HttpSecurity } from '../../common/http-auth.js';
import { TOKEN_COOKIE } from '../../common/http-auth.js';
import { sendJson } from '../../common/http-json.js';
import type { MasterSecurity } from '../security/master-security.js';
import type { Handler, Routes } from './router.js';

/** The paths anyone may GET: liveness, and the login that checks a token itself. */
const OPEN_PATHS = ['/health', '/login'];

/** The HTTP port's security, or undefined under --insecure. */
export function masterHttpSecurity(security: MasterSecurity, now: () => number): HttpSecurity | undefined {
  const pki = security.pki;
  if (!pki) return undefined;
  return {
    tls: pki.tlsOptions,
    cluster: pki.cluster,
    kinds: ['operator'],
    bearer: (token) => {
      const principal = security.tokens?.apiPrincipal(token, now());
      return principal?.startsWith('operator:') ? { kind: 'operator', name: principal.slice('operator:'.length) } : undefined;
    },
    open: OPEN_PATHS,
  };
}

/** `/login?token=T`: a live API token goes into the cookie and the browser on to the dashboard; anything else is 401. */
function login(http: HttpSecurity): Handler {
  return (_req, res, target) => {
    const token = target.searchParams.get('token') ?? '';
    if (!http.bearer?.(token)) return sendJson(res, 401, { error: "the token is unknown, revoked or expired: make one with 'orbit token create --api'" });
    res.writeHead(303, {
      location: '/',
      'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; Secure; SameSite=Strict; Path=/`,
      'cache-control': 'no-store',
    });
    res.end();
  };
}

/** `routes` with /login when the port is secured. */
export function withLogin(routes: Routes, http: HttpSecurity | undefined): Routes {
  return http ? { ...routes, '/login': login(http) } : routes;
}
