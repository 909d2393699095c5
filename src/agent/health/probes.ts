/**
 * The three kinds of health check as probes (see health-checker.ts): a command (inside the
 * container when the containerizer can exec, else on the host in the task's sandbox with its
 * environment, as the task's user), an HTTP GET on 127.0.0.1 (2xx and 3xx are healthy), and a TCP
 * connect to 127.0.0.1. Tasks use the host's network, so the task's ports are on 127.0.0.1 for
 * every kind.
 */
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import type { CommandSpec, HealthCheckSpec } from '../../common/tasks.js';
import type { ExecResult } from '../containerizer/containerizer.js';
import type { Probe, ProbeResult } from './health-checker.js';

/** Keep this much of a command's output for the status message. */
const MAX_OUTPUT_CHARS = 200;

/** Where a task's command checks run. */
export interface ProbeTarget {
  /** Runs a command in the task's container (Docker); absent for process tasks. */
  exec?: (command: readonly string[], timeoutMs: number) => Promise<ExecResult>;
  /** The task's sandbox and environment, for checks run on the host. */
  sandboxDir: string;
  env: Record<string, string>;
}

/** The probe for a task's health check. */
export function probeFor(spec: HealthCheckSpec, target: ProbeTarget): Probe {
  switch (spec.type) {
    case 'tcp':
      return (signal) => tcpProbe(spec.port ?? 0, signal);
    case 'http':
      return (signal) => httpProbe(spec.port ?? 0, spec.path ?? '/', signal);
    case 'command': {
      const command = spec.command ?? { shell: true, value: 'false', arguments: [], env: {} };
      if (target.exec) {
        const exec = target.exec;
        return async (_signal, timeoutMs) => commandResult(await exec(argvOf(command), timeoutMs));
      }
      return (signal) => hostCommandProbe(command, target.sandboxDir, { ...target.env, ...command.env }, signal);
    }
  }
}

/** Healthy when a TCP connection to 127.0.0.1:`port` opens. */
export function tcpProbe(port: number, signal: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (result: ProbeResult) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    const onAbort = () => done({ ok: false, message: `TCP 127.0.0.1:${port}: no connection in time` });
    signal.addEventListener('abort', onAbort);
    socket.once('connect', () => done({ ok: true, message: `TCP 127.0.0.1:${port} accepts connections` }));
    socket.once('error', (err) => done({ ok: false, message: `TCP 127.0.0.1:${port}: ${err.message}` }));
  });
}

/** Healthy when GET http://127.0.0.1:`port``path` answers 2xx or 3xx. */
export function httpProbe(port: number, path: string, signal: AbortSignal): Promise<ProbeResult> {
  const url = `http://127.0.0.1:${port}${path.startsWith('/') ? path : `/${path}`}`;
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', signal }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve({ ok: code >= 200 && code < 400, message: `GET ${url}: HTTP ${code}` });
    });
    req.once('error', (err) => resolve({ ok: false, message: `GET ${url}: ${err.message}` }));
    req.end();
  });
}

/**
 * Healthy when the command exits 0. It runs on the host in its own process group, which is
 * SIGKILLed when the check is aborted (timed out). It runs as its task does: with PATH and HOME
 * (the sandbox) when `env` has none, and, when the agent is root, as the owner of the sandbox,
 * which the process containerizer made the task's user (a task cannot hand its sandbox to another
 * user: that takes root, and the directory above it is the agent's).
 */
export async function hostCommandProbe(command: CommandSpec, cwd: string, env: Record<string, string>, signal: AbortSignal): Promise<ProbeResult> {
  const [program, ...args] = argvOf(command);
  const fullEnv = { ...env };
  if (fullEnv['PATH'] === undefined && process.env['PATH'] !== undefined) fullEnv['PATH'] = process.env['PATH'];
  fullEnv['HOME'] ??= cwd;
  let user: { uid: number; gid: number } | undefined;
  if (process.getuid?.() === 0) {
    const sandbox = await stat(cwd).catch(() => undefined);
    if (sandbox === undefined) return { ok: false, message: `cannot run the check: the sandbox ${cwd} is gone` };
    user = { uid: sandbox.uid, gid: sandbox.gid };
  }
  // Timed out while looking: its abort listener would come too late to kill what spawns now.
  if (signal.aborted) return { ok: false, message: 'the check was aborted before it started' };
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(program ?? 'false', args, { cwd, env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...user });
    const keep = (chunk: Buffer) => {
      if (output.length < MAX_OUTPUT_CHARS) output += chunk.toString('utf8').slice(0, MAX_OUTPUT_CHARS - output.length);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const onAbort = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    signal.addEventListener('abort', onAbort);
    child.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      resolve({ ok: false, message: `cannot run the check: ${err.message}` });
    });
    child.once('close', (code, sig) => {
      signal.removeEventListener('abort', onAbort);
      resolve(commandResult({ exitCode: code, output: sig ? `killed by ${sig}` : output }));
    });
  });
}

function commandResult(result: ExecResult): ProbeResult {
  const said = result.output.trim() ? `: ${result.output.trim()}` : '';
  if (result.exitCode === 0) return { ok: true, message: `command exited 0${said}` };
  return { ok: false, message: result.exitCode === null ? `command did not finish${said}` : `command exited ${result.exitCode}${said}` };
}

/** The program and its arguments: `/bin/sh -c value` for a shell command. */
function argvOf(command: CommandSpec): string[] {
  return command.shell ? ['/bin/sh', '-c', command.value] : [command.value, ...command.arguments];
}
