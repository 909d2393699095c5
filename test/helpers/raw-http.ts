/**
 * HTTP from outside, byte for byte: a raw TCP connection that writes exactly what a test says
 * (malformed request lines, bad headers, garbage) and reads back whatever the server answers,
 * which fetch and http.request would refuse to send.
 */
import { connect, type Socket } from 'node:net';
import type { ClientSecurity } from '../../src/common/credentials.js';
import { testFetch } from './http-client.js';
import { testTlsConnect } from './pki.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** How an exchange ended: a response; the server closing (or resetting) without one; or nothing by the deadline. */
export type RawOutcome = { kind: 'response'; response: RawResponse; closedAfterMs: number | undefined } | { kind: 'closed'; afterMs: number } | { kind: 'timeout' };

export interface RawOptions {
  /** Give up after this long (default 5 s). */
  timeoutMs?: number;
  /** After a response, wait this long to see whether the server closes the connection. */
  watchCloseMs?: number;
  /** Whether the request was a HEAD (its response has a content-length but no body). */
  head?: boolean;
  /** Over TLS with this client certificate (the master's and agents' ports); plain TCP without (a framework's API). */
  tls?: ClientSecurity;
}

/** The first final response in `raw` (past any 100 Continue) once all of it has arrived, else undefined. */
function parseResponse(raw: Buffer, head: boolean): RawResponse | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine = '', ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? NaN);
  if (status >= 100 && status < 200) return parseResponse(raw.subarray(end + 4), head);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = head || status === 304 ? 0 : Number(headers['content-length'] ?? 0);
  const body = raw.subarray(end + 4);
  if (body.length < length) return undefined;
  return { status, headers, body: body.subarray(0, length).toString('utf8') };
}

/** Writes `request` to 127.0.0.1:port as it is (a string is sent as latin1, one byte per char) and reads the outcome. */
export function rawExchange(port: number, request: string | Buffer, options: RawOptions = {}): Promise<RawOutcome> {
  const { timeoutMs = 5_000, watchCloseMs = 0, head = false, tls } = options;
  return new Promise((resolve) => {
    const started = performance.now();
    const socket: Socket =
      tls?.mode === 'tls'
        ? testTlsConnect(port, tls)
        : connect({ host: '127.0.0.1', port });
    let raw = Buffer.alloc(0);
    let response: RawResponse | undefined;
    let respondedAt = 0;
    let done = false;
    const finish = (outcome: RawOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      socket.destroy();
      resolve(outcome);
    };
    const deadline = setTimeout(() => finish(response ? { kind: 'response', response, closedAfterMs: undefined } : { kind: 'timeout' }), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      raw = Buffer.concat([raw, chunk]);
      if (response) return;
      response = parseResponse(raw, head);
      if (!response) return;
      respondedAt = performance.now();
      if (watchCloseMs === 0) finish({ kind: 'response', response, closedAfterMs: undefined });
      else setTimeout(() => response && finish({ kind: 'response', response, closedAfterMs: undefined }), watchCloseMs);
    });
    // A reset (the server closing with our bytes unread) is a close; the answer may be lost with it.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const now = performance.now();
      response ??= parseResponse(raw, head);
      finish(response ? { kind: 'response', response, closedAfterMs: now - (respondedAt || now) } : { kind: 'closed', afterMs: now - started });
    });
    const bytes = typeof request === 'string' ? Buffer.from(request, 'latin1') : request;
    if (tls?.mode === 'tls') socket.once('secureConnect', () => socket.write(bytes));
    else socket.write(bytes);
  });
}

/** A GET (or another method) of `target` as a complete HTTP/1.1 request that asks the server to close afterwards. */
export function requestLine(target: string, method = 'GET', headers = ''): string {
  return `${method} ${target} HTTP/1.1\r\nHost: localhost\r\n${headers}Connection: close\r\n\r\n`;
}

/** The JSON error of a response, or undefined when its body is not a JSON object with an `error` string. */
export function jsonError(response: RawResponse): string | undefined {
  try {
    const body = JSON.parse(response.body) as { error?: unknown };
    return typeof body.error === 'string' ? body.error : undefined;
  } catch {
    return undefined;
  }
}

/** The status of GET /health on 127.0.0.1:port (over TLS unless `tls` is false), or the reason it failed. */
export async function healthStatus(port: number, tls = true): Promise<number | string> {
  try {
    const url = `http://127.0.0.1:${port}/health`;
    const res = tls ? await testFetch(url, { signal: AbortSignal.timeout(5_000) }) : await fetch(url, { signal: AbortSignal.timeout(5_000) });
    await res.arrayBuffer();
    return res.status;
  } catch (err) {
    return String(err);
  }
}
