/**
 * Helpers for tests that run the real `orbit` command (`node bin/orbit.js ...` from the repo root,
 * which needs the compiled CLI in dist/: `npx tsc -p .`). Every process started here is stopped
 * by its PID in t.teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestLike } from './cluster.js';
import { AGENT_CREDENTIALS_FILE, masterCaFlags } from './pki.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** What bin/orbit.js imports. */
export const CLI_ENTRY = join(REPO_ROOT, 'dist/src/cli/main.js');

/** Undefined when the compiled CLI exists, else a message saying how to build it, for `t.fail`. */
export function cliBuildProblem(): string | undefined {
  return existsSync(CLI_ENTRY) ? undefined : `${CLI_ENTRY} is missing: build the CLI first with 'npx tsc -p .' (npm test does)`;
}

/** Sources under src/ edited after their compiled file in dist/ was written (the build is stale for them). */
export function staleSources(): string[] {
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        const built = join(REPO_ROOT, 'dist', relative(REPO_ROOT, path)).replace(/\.ts$/, '.js');
        if (!existsSync(built) || statSync(built).mtimeMs < statSync(path).mtimeMs) stale.push(relative(REPO_ROOT, path));
      }
    }
  };
  walk(join(REPO_ROOT, 'src'));
  return stale;
}

/**
 * `n` distinct free TCP ports on 127.0.0.1: all bound to port 0 at once (so they differ), read,
 * then closed for the caller to use.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<Server>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server));
      }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    return typeof address === 'object' && address ? address.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

export interface OrbitProcess {
  child: ChildProcess;
  pid: number;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Settles when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnOptions {
  /** Variables on top of this process's environment; `undefined` removes one. */
  env?: Record<string, string | undefined>;
  /** Runs `args` exactly as given, without withTestSecurity's flags (a master making its own CA, an agent reusing its kept certificate). */
  raw?: boolean;
}

function environment(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['ORBIT_MASTER'];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Sends `signal` to a process by PID; false when it has already gone. */
function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts `orbit ...args` from the repo root. At teardown it gets SIGTERM, then SIGKILL if it has
 * not exited within `stopGraceMs`.
 */
/** Flags a test does not state: the test CA for `orbit master`, the test agent's credentials for `orbit agent` and `orbit fleet`. */
const SECURITY_FLAGS = ['--insecure', '--ca-cert', '--credentials', '--join'];

/**
 * `args` with the test PKI's flags added, unless the test chose its own (any of SECURITY_FLAGS):
 * a spawned master serves with the test CA, and a spawned agent or fleet presents agent:test-agent.
 * The CLI's other commands find the operator's credentials in $ORBIT_CREDENTIALS (helpers/pki.ts).
 */
export function withTestSecurity(args: readonly string[]): string[] {
  if (args.some((a) => SECURITY_FLAGS.includes(a))) return [...args];
  const daemon = args[1] === undefined || args[1].startsWith('-');
  if (args[0] === 'master' && daemon) return [...args, ...masterCaFlags()];
  if ((args[0] === 'agent' && daemon) || args[0] === 'fleet') return [...args, '--credentials', AGENT_CREDENTIALS_FILE];
  return [...args];
}

export function spawnOrbit(t: TestLike, args: string[], options: SpawnOptions = {}, stopGraceMs = 5_000): OrbitProcess {
  const child = spawn(process.execPath, ['bin/orbit.js', ...(options.raw ? args : withTestSecurity(args))], { cwd: REPO_ROOT, env: environment(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start orbit ${args.join(' ')}`);
  const pid = child.pid;
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, sig) => resolve({ code, signal: sig }));
  });
  let done = false;
  void exited.then(() => (done = true));
  t.teardown(async () => {
    if (done) return;
    signal(pid, 'SIGTERM');
    const timer = setTimeout(() => signal(pid, 'SIGKILL'), stopGraceMs);
    await exited;
    clearTimeout(timer);
  });
  return { child, pid, stdout: () => out, stderr: () => err, exited };
}

export interface OrbitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
}

/** Runs `orbit ...args` to its end; SIGKILLs it after `timeoutMs` (the result then has signal SIGKILL). */
export async function runOrbit(t: TestLike, args: string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<OrbitResult> {
  const started = Date.now();
  const p = spawnOrbit(t, args, options);
  const timer = setTimeout(() => signal(p.pid, 'SIGKILL'), options.timeoutMs ?? 60_000);
  const { code, signal: sig } = await p.exited;
  clearTimeout(timer);
  return { code, signal: sig, stdout: p.stdout(), stderr: p.stderr(), ms: Date.now() - started };
}

/** What `p` resolves to, or 'timed out' after `ms`; leaves no timer behind. */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
