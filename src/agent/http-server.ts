/**
 * The agent's HTTP endpoint: GET /health, GET /state, and task output at
 * GET /tasks/TASK_ID/stdout|stderr?offset=N[&framework=ID] — the bytes from offset N (an empty body
 * when there is nothing new), with the file's size in X-Orbit-File-Size so a follower knows where
 * it is.
 */
import type { Server } from 'node:http';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { createJsonServer, sendJson, type JsonServerOptions } from '../common/http-json.js';
import { quote } from '../common/echo.js';
import { decodePathSegment } from '../common/http-request.js';
import { callerOf } from '../common/http-auth.js';

/** At most this much output per request; a follower asks again from the new offset. */
export const MAX_OUTPUT_CHUNK_BYTES = 1024 * 1024;

export interface AgentHttpSource {
  state(): unknown;
  /** Prometheus text for GET /metrics. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** The sandbox of a task (active or recently ended) and its framework's principal, or undefined when unknown. */
  taskOf(taskId: string, frameworkId?: string): { sandbox: string; principal: string } | undefined;
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

const ENDPOINTS = ['/health', '/state', '/metrics', '/tasks/TASK_ID/stdout', '/tasks/TASK_ID/stderr'];

/** The agent's HTTP server (not yet listening); malformed requests are JSON 400s, handler faults 500s logged to `options.log`. */
export function createAgentHttpServer(source: AgentHttpSource, options: JsonServerOptions = {}): Server {
  return createJsonServer(async (req, res, { pathname, searchParams }) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: `${req.method} is not allowed; use GET` });
    if (pathname === '/health') return sendJson(res, 200, { status: 'ok' });
    // A framework principal may read its own tasks' output, nothing else here (on a TLS port).
    const caller = callerOf(req);
    if (caller?.kind === 'framework' && !pathname.startsWith('/tasks/')) return sendJson(res, 403, { error: `framework:${caller.name} may read only its own tasks' output on an agent` });
    if (pathname === '/state') return sendJson(res, 200, source.state());
    if (pathname === '/metrics') {
      const { contentType, body } = await source.metrics();
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    const m = /^\/tasks\/([^/]+)\/(stdout|stderr)$/.exec(pathname);
    if (!m) return sendJson(res, 404, { error: `no such endpoint ${quote(pathname)}`, endpoints: ENDPOINTS });
    const taskId = decodePathSegment(m[1]!);
    if (!taskId.ok) return sendJson(res, 400, { error: `bad task id: ${taskId.problem}` });
    const offsetText = searchParams.get('offset') ?? '0';
    const offset = Number(offsetText);
    if (!Number.isSafeInteger(offset) || offset < 0) return sendJson(res, 400, { error: `offset must be a non-negative integer, got ${quote(offsetText)}` });
    const task = source.taskOf(taskId.value, searchParams.get('framework') ?? undefined);
    // Another principal's task is answered as unknown: its existence is not the caller's business.
    const hidden = caller?.kind === 'framework' && task?.principal !== `framework:${caller.name}`;
    if (!task || hidden) return sendJson(res, 404, { error: `this agent knows no task ${quote(taskId.value)}${hidden ? ' of yours' : ''}` });
    const sandbox = task.sandbox;
    let output: { size: number; data: Buffer };
    try {
      output = await readFrom(join(sandbox, m[2]!), offset);
    } catch (err) {
      // The sandbox exists before the output files do; no file yet means no output yet.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      output = { size: 0, data: Buffer.alloc(0) };
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': output.data.length, 'x-orbit-file-size': String(output.size), 'cache-control': 'no-store' });
    res.end(output.data);
  }, options);
}
