/**
 * A real etcd (Debian's etcd-server) for a test: one member on 127.0.0.1, free ports, a temp data
 * dir; stop() ends it by PID and removes the dir. Tests skip nothing: without `etcd` on the PATH
 * they fail, naming the package (.ci/run installs it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestEtcd {
  /** etcd://127.0.0.1:PORT, as `orbit master --registry` takes it. */
  url: string;
  /** http://127.0.0.1:PORT */
  endpoint: string;
  port: number;
  /** Stops it (SIGTERM, then SIGKILL) keeping its data; start() brings it back on the same ports. */
  halt(signal?: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
  /** SIGSTOP: etcd stays up but answers nothing (a hung or partitioned etcd). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Stops it for good and removes its data. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (free when asked; etcd binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startEtcd(): Promise<TestEtcd> {
  if (spawnSync('sh', ['-c', 'command -v etcd']).status !== 0) throw new Error('etcd is not installed: apt-get install -y etcd-server');
  const dir = mkdtempSync(join(tmpdir(), 'orbit-etcd-'));
  const port = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  let child: ChildProcess | undefined;
  let output = '';
  const start = async (): Promise<void> => {
    child = spawn(
      'etcd',
      [
        '--name', 'orbit-test', '--data-dir', join(dir, 'data'),
        '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
        '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `orbit-test=${peer}`, '--initial-cluster-state', 'new',
        '--log-level', 'error', '--logger', 'zap',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    const started = Date.now();
    for (;;) {
      if (child.exitCode !== null) throw new Error(`etcd exited (${child.exitCode}): ${output}`);
      const health = await fetch(`${endpoint}/health`).then((r) => r.json() as Promise<{ health?: string }>).catch(() => undefined);
      if (health?.health === 'true') return;
      if (Date.now() - started > 20_000) throw new Error(`etcd did not become healthy in 20 s: ${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const halt = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    url: `etcd://127.0.0.1:${port}`,
    endpoint,
    port,
    halt,
    start,
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
