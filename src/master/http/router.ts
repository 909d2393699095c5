/**
 * A small HTTP server over fixed GET routes, for the master's operator endpoints. An unknown
 * path is a JSON 404 listing the endpoints, another method a JSON 405, a handler that throws a
 * JSON 500: scripts always get JSON back when something is wrong.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { sendJson } from '../../common/http-json.js';

/** Answers one request; may be async (a scrape) or keep the response open (an event stream). */
export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

export type Routes = Record<string, Handler>;

/** A route that serves what `fn` returns as JSON, built fresh per request. */
export function jsonRoute(fn: (url: URL) => unknown): Handler {
  return (_req, res, url) => sendJson(res, 200, fn(url));
}

/** A route that serves text (Prometheus exposition, say) with the given content type. */
export function textRoute(contentType: string, fn: () => string | Promise<string>): Handler {
  return async (_req, res) => {
    const body = await fn();
    res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  };
}

function fail(res: ServerResponse, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  if (!res.headersSent) sendJson(res, 500, { error: message });
  else res.destroy();
}

/** An HTTP server that dispatches GET and HEAD requests by exact path. */
export function createRouter(routes: Routes): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = routes[url.pathname];
    if (!route) return sendJson(res, 404, { error: `no such endpoint '${url.pathname}'`, endpoints: Object.keys(routes) });
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: `${req.method} is not allowed on ${url.pathname}; use GET` });
    try {
      const done = route(req, res, url);
      if (done instanceof Promise) done.catch((err: unknown) => fail(res, err));
    } catch (err) {
      fail(res, err);
    }
  });
}
