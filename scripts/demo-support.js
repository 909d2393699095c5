// What `npm run demo` and `npm run demo -- --ha` share: the build check, free ports, whether a
// Docker engine answers (and the test image when it does), and the processes a demo starts, each
// stopped by its PID at the end.
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
export const cli = join(root, 'bin/orbit.js');
/** How long a process has after SIGTERM before it gets SIGKILL. */
const STOP_GRACE_MS = 15_000;

/** Exits 1 with a one-line message when the compiled code the demos import is missing. */
export function requireBuild() {
  if (!existsSync(join(root, 'dist/examples/demo-framework.js'))) {
    console.error('demo: build first (npm ci builds; or run npm run build)');
    process.exit(1);
  }
}

/**
 * A new temp dir for a demo's work dirs. Searchable by all (0711, not listable): a root agent runs
 * process tasks as its task user (nobody), who must reach the sandboxes under it.
 */
export function demoWorkDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o711);
  return dir;
}

/** A free TCP port on 127.0.0.1 (free when asked; the caller binds it right after). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** `n` distinct free TCP ports on 127.0.0.1: all bound at once (so they differ), then closed for the caller. */
export async function freePorts(n) {
  const servers = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve(s));
      }),
    ),
  );
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export function dockerAnswers() {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * How the demo's tasks run: `{ docker: true, image }` when a Docker engine answers (the test image
 * is built first if missing), else `{ docker: false }` (plain processes).
 */
export function taskRuntime() {
  if (!dockerAnswers()) return { docker: false };
  execFileSync(join(root, 'scripts/build-test-images'), { stdio: 'inherit' });
  return { docker: true, image: 'orbit-test/busybox:latest' };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** What `probe` first returns that is not undefined or false, asked every `everyMs`; throws naming `what` after `timeoutMs`. */
export async function waitFor(what, probe, timeoutMs, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(everyMs);
  }
}

/**
 * The processes a demo started. A process that exits before stopAll() (or kill()) is reported with
 * the end of its output, and settles `failed`, so a demo can stop waiting for it.
 */
export class DemoProcesses {
  constructor() {
    /** @type {{ name: string, child: import('node:child_process').ChildProcess, pid: number, expectExit: boolean, logs: () => string }[]} */
    this.started = [];
    this.stopping = false;
    /** Rejects with the first process that exited on its own. */
    this.failed = new Promise((_, reject) => (this.fail = reject));
    this.failed.catch(() => undefined);
  }

  /** Starts `orbit ...args` (or `command ...args` when `command` is given); stdout and stderr are kept, not shown. */
  start(name, args, command = process.execPath) {
    const child = spawn(command, command === process.execPath ? [cli, ...args] : args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) throw new Error(`could not start ${name}`);
    let logs = '';
    child.stdout.on('data', (d) => (logs = (logs + d).slice(-20_000)));
    child.stderr.on('data', (d) => (logs = (logs + d).slice(-20_000)));
    const proc = { name, child, pid: child.pid, expectExit: false, logs: () => logs };
    this.started.push(proc);
    child.on('error', (err) => {
      if (!this.stopping) this.fail(new Error(`${name}: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      if (this.stopping || proc.expectExit) return;
      console.error(`demo: ${name} exited early (${code ?? signal})\n${logs.slice(-2000)}`);
      this.fail(new Error(`${name} exited early (${code ?? signal})`));
    });
    return proc;
  }

  /** Sends `signal` to `proc` by PID and resolves once it has exited; a no-op for one already gone. */
  async kill(proc, signal) {
    proc.expectExit = true;
    const { child } = proc;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  /** Stops every process still running, the last started first (agents kill their tasks before the masters go). */
  async stopAll() {
    this.stopping = true;
    for (const proc of [...this.started].reverse()) await this.kill(proc, 'SIGTERM');
  }

  /** The PIDs of every process started, killed or not. */
  pids() {
    return this.started.map((p) => p.pid);
  }
}
