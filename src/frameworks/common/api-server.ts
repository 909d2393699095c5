/**
 * A framework's small local HTTP API: JSON in, JSON out, routes as `METHOD /path/:param`. Bound
 * to 127.0.0.1 by default: it is the control channel for the `orbit services|jobs` commands on the
 * same machine, not a public endpoint. Errors are `{ "error": "..." }` with a status code:
 * 400 bad request, 404 unknown path or object, 409 conflict, 422 a spec refused (with `problems`).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createJsonServer, sendJson, type JsonServerOptions } from '../../common/http-json.js';
import { quote } from '../../common/echo.js';
import { decodePathSegment } from '../../common/http-request.js';
import { silentLogger } from '../../common/logging.js';
import { SpecError } from './spec-reader.js';

/** The largest request body accepted. */
const MAX_BODY_BYTES = 1024 * 1024;

/** An error with the HTTP status it should be answered with. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A request as a handler sees it. */
export interface ApiRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  /** The parsed JSON body, undefined when there was none. */
  body: unknown;
}

export type ApiHandler = (req: ApiRequest) => unknown;

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** `/v1/apps/:id/scale` */
  path: string;
  handler: ApiHandler;
}

/** The status for a thrown error: ApiError's own, SpecError 422, `*NotFoundError` 404, `*RemovingError`/`*ConflictError` 409. */
function defaultStatus(err: Error): number {
  if (err instanceof ApiError) return err.status;
  if (err instanceof SpecError) return 422;
  if (err.name.endsWith('NotFoundError')) return 404;
  if (err.name.endsWith('RemovingError') || err.name.endsWith('ConflictError')) return 409;
  return 500;
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const collect = (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ApiError(413, `the request body is over ${MAX_BODY_BYTES} bytes`));
        // Read the rest and drop it, so the 413 reaches the client (destroying the request would
        // cut the connection before the answer); the request timeout bounds how long that takes.
        req.off('data', collect);
        chunks.length = 0;
        req.resume();
        return;
      }
      chunks.push(c);
    };
    req.on('data', collect);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new ApiError(400, `the request body is not JSON: ${(err as Error).message}`));
      }
    });
    // The client went away (or was cut off for sending too slowly): its fault, not a handler's.
    req.on('error', (err) => reject(new ApiError(400, `the request body did not arrive whole: ${err.message}`)));
  });
}

/** The raw (still percent-encoded) parameters when `path` fits `pattern`, else undefined. */
function match(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (w.startsWith(':')) {
      if (g === '') return undefined;
      params[w.slice(1)] = g;
    } else if (w !== g) {
      return undefined;
    }
  }
  return params;
}

/** Percent-decodes each parameter; a malformed one is an ApiError 400 naming it. */
function decodeParams(raw: Record<string, string>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, segment] of Object.entries(raw)) {
    const decoded = decodePathSegment(segment);
    if (!decoded.ok) throw new ApiError(400, `bad :${name}: ${decoded.problem}`);
    params[name] = decoded.value;
  }
  return params;
}

/** A running API server. */
export interface RunningApi {
  server: Server;
  /** The port it listens on (the chosen one when 0 was asked for). */
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Starts the API on `host:port` (port 0: any free one); handler faults are logged to `options.log`. */
export async function startApiServer(routes: readonly Route[], host: string, port: number, options: JsonServerOptions = {}): Promise<RunningApi> {
  const log = options.log ?? silentLogger;
  const server = createJsonServer(async (req, res, { pathname, searchParams }) => {
    const candidates = routes.filter((r) => match(r.path, pathname) !== undefined);
    const route = candidates.find((r) => r.method === req.method);
    if (!route) {
      if (candidates.length > 0) return sendJson(res, 405, { error: `${req.method} is not allowed on ${quote(pathname)}; use ${candidates.map((r) => r.method).join(' or ')}` });
      return sendJson(res, 404, { error: `no such endpoint ${quote(pathname)}`, endpoints: routes.map((r) => `${r.method} ${r.path}`) });
    }
    try {
      const params = decodeParams(match(route.path, pathname) ?? {});
      const result = await route.handler({ params, query: searchParams, body: await readBody(req) });
      sendJson(res, 200, result ?? { ok: true });
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      const status = defaultStatus(e);
      // An error without a status of its own is a fault here, not a refusal: log it like one.
      if (status === 500) log.error({ err: e, method: req.method, path: quote(pathname) }, 'API handler failed');
      sendJson(res, status, { error: e.message, ...(e instanceof SpecError ? { problems: e.problems } : {}) });
    }
  }, options);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    port: actual,
    url: `http://${shownHost}:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
