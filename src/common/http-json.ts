/**
 * Orbit's small JSON HTTP servers (master status, agent, framework APIs): JSON responses, and one
 * way to make the server so that no request can take the process down. A malformed target is a
 * JSON 400 before any route sees it; HTTP that Node's parser refuses (a bad header, garbage bytes,
 * headers too large or too slow) is answered on the socket, which is then closed; a route that
 * throws or rejects answers 500 for that request only, and is logged at error level with its
 * stack, because it is a bug to fix, not a client to blame. Process-wide handlers are left alone.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { httpCaller, rememberCaller, type HttpSecurity } from './http-auth.js';
import type { Duplex } from 'node:stream';
import { silentLogger, type Logger } from './logging.js';
import { quote, truncateText } from './echo.js';
import { errorMessage } from './errors.js';
import { parseRequestTarget, type RequestTarget } from './http-request.js';

/** Answers with `body` as JSON, never to be cached. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), 'cache-control': 'no-store' });
  res.end(payload);
}

/** What one HTTP client may cost a server. */
export interface HttpLimits {
  /** Until a request's headers have all arrived; then 408 and the connection is closed. */
  headersTimeoutMs: number;
  /**
   * Until the whole request (headers and body) has arrived. It does not limit the response: an
   * event stream or a slow answer to a complete request is not cut.
   */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** The request line and headers together; past it, 431 and the connection is closed. */
  maxHeaderBytes: number;
  /** How often connections are checked against the two request timeouts, which fire up to this late. */
  timeoutCheckMs: number;
}

/** Node's defaults are 60 s, 300 s, 5 s, 16 KiB and 30 s: too patient with a client that trickles its headers. */
export const HTTP_LIMITS: Readonly<HttpLimits> = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderBytes: 16 * 1024,
  timeoutCheckMs: 1_000,
};

/**
 * HTTP_LIMITS with `overrides` applied, in whole milliseconds (Node refuses fractions). Throws
 * RangeError for a value that is not positive, or a headers timeout longer than the request
 * timeout (Node refuses that too, later and less clearly). Range bounds are the flags' business.
 */
export function httpLimits(overrides: Partial<HttpLimits> = {}): HttpLimits {
  const limits = { ...HTTP_LIMITS };
  for (const key of Object.keys(HTTP_LIMITS) as (keyof HttpLimits)[]) {
    const value = overrides[key] ?? HTTP_LIMITS[key];
    if (!(value > 0 && Number.isFinite(value))) throw new RangeError(`HTTP limit ${key} must be a positive number, got ${value}`);
    limits[key] = Math.round(value);
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new RangeError(`the HTTP headers timeout (${limits.headersTimeoutMs} ms) must not be longer than the request timeout (${limits.requestTimeoutMs} ms)`);
  }
  return limits;
}

/** Answers one request whose target has parsed; may return a promise, or keep the response open. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse, target: RequestTarget) => void | Promise<void>;

export interface JsonServerOptions {
  /** Where handler faults (error) and refused malformed requests (debug) are logged. */
  log?: Logger;
  /** Overrides of HTTP_LIMITS (tests shorten the timeouts). */
  limits?: Partial<HttpLimits>;
  /** HTTPS and who may call (common/http-auth.ts); absent only under --insecure (plain HTTP, open). */
  security?: HttpSecurity | undefined;
  /**
   * Answers a request before its caller is checked, when it returns true: a standby master's
   * redirect to the leader, which alone can check tokens. Given only well-formed targets.
   */
  beforeAuth?: (req: IncomingMessage, res: ServerResponse, target: RequestTarget) => boolean;
}

/** The request's method and target, cut short, for log lines about it. */
function requestContext(req: IncomingMessage): { method: string; path: string } {
  return { method: req.method ?? '', path: quote(req.url ?? '') };
}

/** An HTTP server bounded by `limits` that hands `handle` only requests with a parsed target (see the file comment). */
export function createJsonServer(handle: RequestHandler, options: JsonServerOptions = {}): Server {
  const limits = httpLimits(options.limits);
  const log = options.log ?? silentLogger;
  // Responses not yet finished, per connection: a refusal must not be written into one under way.
  const open = new WeakMap<Duplex, Set<ServerResponse>>();
  const security = options.security;
  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    const responses = open.get(req.socket) ?? new Set();
    open.set(req.socket, responses.add(res));
    res.once('close', () => responses.delete(res));
    // A write after end emits 'error' on the response; unheard, it would be an uncaught exception.
    res.on('error', (err) => log.error({ err, ...requestContext(req) }, 'HTTP response failed'));
    if (req.httpVersion === '1.1' && req.headers.host === undefined) return sendJson(res, 400, { error: 'an HTTP/1.1 request needs a Host header' });
    const target = parseRequestTarget(req.url);
    if (!target.ok) return sendJson(res, target.status, { error: target.problem });
    if (options.beforeAuth?.(req, res, target)) return;
    if (security && !security.open.includes(target.pathname)) {
      const caller = httpCaller(req, security);
      if ('problem' in caller) {
        res.setHeader('www-authenticate', 'Bearer realm="orbit"');
        return sendJson(res, 401, { error: caller.problem });
      }
      rememberCaller(req, caller.principal);
    }
    answer(handle, req, res, target, log);
  };
  const settings = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxHeaderSize: limits.maxHeaderBytes,
    connectionsCheckingInterval: limits.timeoutCheckMs,
    // Node's own answer to a missing Host is an empty 400; this one says why.
    requireHostHeader: false,
  };
  // Client certificates are asked for, not required: /health stays open, and a bearer token may stand in.
  const server: Server = security
    ? (createHttpsServer({ ...settings, ...security.tls, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, serve) as unknown as Server)
    : createServer(settings, serve);
  // Node's own answer to an Expect other than 100-continue is an empty 417.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => sendJson(res, 417, { error: `Expect: ${quote(req.headers.expect ?? '')} is not supported; only 100-continue is` }));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const underWay = [...(open.get(socket) ?? [])].some((res) => res.headersSent);
    refuse(err, socket, underWay, limits, log);
  });
  return server;
}

/** Runs the handler; a throw or a rejection answers 500 (or cuts a response already under way). */
function answer(handle: RequestHandler, req: IncomingMessage, res: ServerResponse, target: RequestTarget, log: Logger): void {
  const fail = (err: unknown): void => {
    log.error({ err, ...requestContext(req) }, 'HTTP handler failed; answered 500');
    try {
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, { error: truncateText(`internal error: ${errorMessage(err)}`, 500) });
    } catch {
      res.destroy();
    }
  };
  try {
    const done = handle(req, res, target);
    if (done) done.catch(fail);
  } catch (err) {
    fail(err);
  }
}

/** The status Node itself would answer a parser error with, and the problem in words. */
function refusal(err: NodeJS.ErrnoException & { reason?: string }, limits: HttpLimits): [status: number, text: string, problem: string] {
  const code = err.code ?? 'no code';
  if (code === 'HPE_HEADER_OVERFLOW') return [431, 'Request Header Fields Too Large', `the request line and headers are over ${limits.maxHeaderBytes} bytes (${code})`];
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'Request Timeout', `the request did not arrive in time: headers within ${limits.headersTimeoutMs} ms, all of it within ${limits.requestTimeoutMs} ms (${code})`];
  return [400, 'Bad Request', `malformed HTTP request: ${err.reason ?? err.message} (${code})`];
}

/**
 * Answers HTTP that Node's parser refused (or a request too slow to arrive), as Node's docs advise:
 * a response on the socket if it is writable and no response has started on it, then close. A
 * reset connection is just closed.
 */
function refuse(err: NodeJS.ErrnoException & { reason?: string }, socket: Duplex, underWay: boolean, limits: HttpLimits, log: Logger): void {
  log.debug({ code: err.code, reason: err.reason }, 'malformed HTTP request refused');
  if (err.code === 'ECONNRESET' || !socket.writable || underWay) {
    socket.destroy();
    return;
  }
  const [status, text, problem] = refusal(err, limits);
  const body = JSON.stringify({ error: problem });
  const head = `HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`;
  socket.end(head + body, () => socket.destroy());
}
