/**
 * The agent's HTTP endpoint: GET /health, GET /state, and task output at
 * GET /tasks/TASK_ID/stdout|stderr?offset=N[&framework=ID] — the bytes from offset N (an empty body
 * when there is nothing new), with the file's size in X-Orbit-File-Size so a follower knows where
 * it is.
 */
import { createServer, type Server } from 'node:http';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { sendJson } from '../common/http-json.js';

/** At most this much output per request; a follower asks again from the new offset. */
export const MAX_OUTPUT_CHUNK_BYTES = 1024 * 1024;

export interface AgentHttpSource {
  state(): unknown;
  /** Prometheus text for GET /metrics. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** The sandbox of a task (active or recently ended), or undefined when unknown. */
  sandboxOf(taskId: string, frameworkId?: string): string | undefined;
}

async function readFrom(path: string, offset: number): Promise<{ size: number; data: Buffer }> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.max(0, Math.min(size - offset, MAX_OUTPUT_CHUNK_BYTES));
    const data = Buffer.alloc(length);
    if (length > 0) await handle.read(data, 0, length, offset);
    return { size, data };
  } finally {
    await handle.close();
  }
}

export function createAgentHttpServer(source: AgentHttpSource): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: `${req.method} is not allowed; use GET` });
    if (url.pathname === '/health') return sendJson(res, 200, { status: 'ok' });
    if (url.pathname === '/state') return sendJson(res, 200, source.state());
    if (url.pathname === '/metrics') {
      source.metrics().then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
          res.end(body);
        },
        (err: Error) => sendJson(res, 500, { error: err.message }),
      );
      return;
    }
    const m = /^\/tasks\/([^/]+)\/(stdout|stderr)$/.exec(url.pathname);
    if (!m) return sendJson(res, 404, { error: `no such endpoint '${url.pathname}'`, endpoints: ['/health', '/state', '/metrics', '/tasks/TASK_ID/stdout', '/tasks/TASK_ID/stderr'] });
    const taskId = decodeURIComponent(m[1]!);
    const offsetText = url.searchParams.get('offset') ?? '0';
    const offset = Number(offsetText);
    if (!Number.isSafeInteger(offset) || offset < 0) return sendJson(res, 400, { error: `offset must be a non-negative integer, got '${offsetText}'` });
    const sandbox = source.sandboxOf(taskId, url.searchParams.get('framework') ?? undefined);
    if (!sandbox) return sendJson(res, 404, { error: `this agent knows no task '${taskId}'` });
    readFrom(join(sandbox, m[2]!), offset).then(
      ({ size, data }) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length, 'x-orbit-file-size': String(size), 'cache-control': 'no-store' });
        res.end(data);
      },
      (err: NodeJS.ErrnoException) => {
        // The sandbox exists before the output files do; no file yet means no output yet.
        if (err.code === 'ENOENT') {
          res.writeHead(200, { 'content-length': 0, 'x-orbit-file-size': '0' });
          res.end();
        } else {
          sendJson(res, 500, { error: err.message });
        }
      },
    );
  });
}
