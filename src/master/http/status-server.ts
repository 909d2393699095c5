/**
 * The master's HTTP endpoint for operators: GET /health, GET /state (JSON). Anything else is a
 * JSON 404 (or 405 for another method), so scripts always get JSON back.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { sendJson } from '../../common/http-json.js';
import type { ClusterStateView } from '../../common/state-view.js';

export type Routes = Record<string, () => unknown>;

/** A small JSON-only HTTP server over fixed GET routes. */
export function createJsonServer(routes: Routes): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const route = routes[path];
    if (!route) return sendJson(res, 404, { error: `no such endpoint '${path}'`, endpoints: Object.keys(routes) });
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: `${req.method} is not allowed on ${path}; use GET` });
    try {
      sendJson(res, 200, route());
    } catch (err) {
      sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
    }
  });
}

export function statusRoutes(state: () => ClusterStateView): Routes {
  return {
    '/health': () => ({ status: 'ok' }),
    '/state': state,
  };
}
