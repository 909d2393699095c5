/**
 * A small HTTP server over fixed GET routes, for the master's operator endpoints. An unknown
 * path is a JSON 404 listing the endpoints, another method a JSON 405, a malformed request a JSON
 * 400 and a handler that throws a JSON 500 (createJsonServer): scripts always get JSON back when
 * something is wrong, and no request can stop the master.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createJsonServer, sendJson, type JsonServerOptions } from '../../common/http-json.js';
import { quote } from '../../common/echo.js';
import type { RequestTarget } from '../../common/http-request.js';

/** Answers one request; may be async (a scrape) or keep the response open (an event stream). */
export type Handler = (req: IncomingMessage, res: ServerResponse, target: RequestTarget) => void | Promise<void>;

export type Routes = Record<string, Handler>;

/** A route that serves what `fn` returns as JSON, built fresh per request. */
export function jsonRoute(fn: (target: RequestTarget) => unknown): Handler {
  return (_req, res, target) => sendJson(res, 200, fn(target));
}

/** A route that serves text (Prometheus exposition, say) with the given content type. */
export function textRoute(contentType: string, fn: () => string | Promise<string>): Handler {
  return async (_req, res) => {
    const body = await fn();
    res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  };
}

/** A handler that dispatches GET and HEAD requests by exact path. */
export function routeRequest(routes: Routes): Handler {
  return (req, res, target) => {
    const route = routes[target.pathname];
    if (!route) return sendJson(res, 404, { error: `no such endpoint ${quote(target.pathname)}`, endpoints: Object.keys(routes) });
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: `${req.method} is not allowed on ${target.pathname}; use GET` });
    return route(req, res, target);
  };
}

/** An HTTP server that dispatches GET and HEAD requests by exact path. */
export function createRouter(routes: Routes, options: JsonServerOptions = {}): Server {
  return createJsonServer(routeRequest(routes), options);
}
