/**
 * Processes for fault-injection tests: a framework or agent that a test can kill -9, stop with
 * SIGSTOP and start again. Each is stopped by PID at teardown (SIGKILL: they are test subjects).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './cli.js';

export interface TestLike {
  teardown(fn: () => unknown): void;
}

export interface NodeProcess {
  child: ChildProcess;
  pid: number;
  /** JSON lines printed so far (other lines are ignored). */
  events(): Record<string, unknown>[];
  stderr(): string;
  exited: Promise<unknown>;
  kill(signal?: NodeJS.Signals): void;
}

/** Runs `node SCRIPT ...args` from the repo root. */
export function spawnNode(t: TestLike, script: string, args: string[], env: Record<string, string> = {}): NodeProcess {
  const child = spawn(process.execPath, [join(REPO_ROOT, script), ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${script}`);
  const pid = child.pid;
  const events: Record<string, unknown>[] = [];
  let partial = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        events.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // Not an event line.
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise((resolve) => child.once('close', resolve));
  let done = false;
  void exited.then(() => (done = true));
  const kill = (signal: NodeJS.Signals = 'SIGKILL') => {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  };
  t.teardown(async () => {
    if (done) return;
    kill('SIGCONT');
    kill('SIGKILL');
    await exited;
  });
  return { child, pid, events: () => events, stderr: () => err, exited, kill };
}

/** The framework fixture (test/fixtures/framework-process.mjs) as a process. */
export function spawnFramework(t: TestLike, master: string, options: { id?: string; name?: string; failoverMs?: number; launch?: number; command?: string; image?: string; noAck?: boolean } = {}): NodeProcess {
  const args = ['--master', master, '--name', options.name ?? 'fault-test', '--failover-ms', String(options.failoverMs ?? 60_000)];
  if (options.id) args.push('--id', options.id);
  if (options.launch) args.push('--launch', String(options.launch));
  if (options.command) args.push('--command', options.command);
  if (options.image) args.push('--image', options.image);
  if (options.noAck) args.push('--no-ack');
  return spawnNode(t, 'test/fixtures/framework-process.mjs', args);
}
