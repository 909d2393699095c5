/**
 * A real etcd for a benchmark (Debian's `etcd`, 3.4): one member on 127.0.0.1 with free ports and
 * a temporary data dir, as test/helpers/etcd.ts starts one for tests. `stop()` ends it by its PID
 * (SIGTERM, then SIGKILL) and removes the data dir; it is idempotent.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, sleep } from './cluster.js';

export interface BenchEtcd {
  /** etcd://127.0.0.1:PORT, as `orbit master --registry` takes it. */
  url: string;
  /** http://127.0.0.1:PORT */
  endpoint: string;
  pid: number;
  dataDir: string;
  /** Stops it by PID and removes its data dir; idempotent. */
  stop(): Promise<void>;
}

/** Starts etcd and waits (up to 20 s) until it says it is healthy. */
export async function startBenchEtcd(): Promise<BenchEtcd> {
  if (spawnSync('sh', ['-c', 'command -v etcd']).status !== 0) throw new Error('etcd is not installed: apt-get install -y etcd-server');
  const dataDir = mkdtempSync(join(tmpdir(), 'orbit-bench-etcd-'));
  const [port, peerPort] = await freePorts(2);
  const endpoint = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child = spawn(
    'etcd',
    [
      '--name', 'orbit-bench', '--data-dir', join(dataDir, 'data'),
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `orbit-bench=${peer}`, '--initial-cluster-state', 'new',
      '--log-level', 'error', '--logger', 'zap',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (child.pid === undefined) {
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error('could not start etcd');
  }
  const pid = child.pid;
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  const done = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (!exited) {
        process.kill(pid, 'SIGTERM');
        const timer = setTimeout(() => !exited && process.kill(pid, 'SIGKILL'), 5_000);
        await done;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    })();
    return stopped;
  };
  const started = Date.now();
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`etcd exited: ${output}`);
    }
    const health = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) })
      .then((r) => r.json() as Promise<{ health?: string }>)
      .catch(() => undefined);
    if (health?.health === 'true') break;
    if (Date.now() - started > 20_000) {
      await stop();
      throw new Error(`etcd did not become healthy in 20 s: ${output}`);
    }
    await sleep(100);
  }
  return { url: `etcd://127.0.0.1:${port}`, endpoint, pid, dataDir, stop };
}
