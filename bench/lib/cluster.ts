/**
 * What the scale benchmarks share: the machine line, a master and a simulated fleet as real
 * `orbit` processes (pinned to a core with taskset where there is one), and reading a process's
 * CPU time and memory from /proc. Nothing here measures; the benchmarks do.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminCredentialsPath, benchFetch } from './security.js';

/** The repo root (this file is at bench/lib/ in the source and dist/bench/lib/ compiled). */
const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../' : '../../', import.meta.url));
const ORBIT = join(ROOT, 'bin/orbit.js');

/** One line naming the machine, Node and the date, printed with every result. */
export function machineLine(): string {
  const cores = cpus();
  return `${cores[0]?.model ?? 'unknown CPU'}, ${cores.length} cores, Node ${process.version}, ${new Date().toISOString()}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
}

/** The value at percentile `p` (0–100) of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Free TCP ports on 127.0.0.1 (closed again before they are returned). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<import('node:net').Server>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

const hasTaskset = spawnSync('taskset', ['-V']).status === 0;
const coreCount = cpus().length;

/** A child process with its output kept, for waiting on what it prints. */
export interface BenchProcess {
  child: ChildProcess;
  pid: number;
  output(): string;
  /** How much output there has been so far: pass it to waitFor to look only at what comes after. */
  mark(): number;
  /**
   * Resolves with the first match of `pattern` in the output after `since` (default: all of it,
   * what comes later included); rejects after `timeoutMs` or if the process exits.
   */
  waitFor(pattern: RegExp, timeoutMs: number, since?: number): Promise<RegExpMatchArray>;
  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

export interface SpawnOptions {
  /** Pin to this core with taskset (when the machine has it and more than one core). */
  core?: number;
  /** Flags for node itself, e.g. --cpu-prof or --max-old-space-size=8192. */
  nodeArgs?: readonly string[];
}

/** Starts `orbit ...args` as a child process. */
export function spawnOrbitProcess(args: string[], options: SpawnOptions = {}): BenchProcess {
  return spawnNodeProcess(ORBIT, args, options, `orbit ${args[0] ?? ''}`);
}

/** Starts `node [nodeArgs] script ...args` as a child process (pinned to `core` where possible), its output kept. */
export function spawnNodeProcess(script: string, args: string[], options: SpawnOptions = {}, name = script): BenchProcess {
  const node = [process.execPath, ...(options.nodeArgs ?? []), script, ...args];
  const pinned = options.core !== undefined && hasTaskset && coreCount > 1;
  const [cmd, ...argv] = pinned ? ['taskset', '-c', String(options.core), ...node] : node;
  const child = spawn(cmd!, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ORBIT_MASTER: undefined } });
  if (child.pid === undefined) throw new Error(`could not start ${name} ${args.join(' ')}`);
  let out = '';
  /** Characters dropped from the front of `out` to keep it small. */
  let dropped = 0;
  const listeners = new Set<() => void>();
  const take = (s: string) => {
    out += s;
    if (out.length > 1_000_000) {
      dropped += out.length - 500_000;
      out = out.slice(-500_000);
    }
    for (const l of listeners) l();
  };
  child.stdout!.setEncoding('utf8').on('data', take);
  child.stderr!.setEncoding('utf8').on('data', take);
  let done = false;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    done = true;
    for (const l of listeners) l();
    resolve(code);
  }));
  return {
    child,
    pid: child.pid,
    output: () => out,
    mark: () => dropped + out.length,
    exited,
    waitFor(pattern, timeoutMs, since = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.slice(Math.max(0, since - dropped)).match(pattern);
          if (m) finish(() => resolve(m));
          else if (done) finish(() => reject(new Error(`${name} exited before printing ${pattern}:\n${out.slice(-2000)}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`${name} did not print ${pattern} within ${timeoutMs} ms:\n${out.slice(-2000)}`))), timeoutMs);
        const finish = (then: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          then();
        };
        listeners.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      if (done) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** CPU time (user + system) a process has used so far, in ms, from /proc (Linux). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at state = field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100;
}

/** Resident memory of a process, in KiB, from /proc (Linux). */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

export interface MasterProcess extends BenchProcess {
  address: string;
  grpcPort: number;
  httpPort: number;
  workDir: string;
  /** GET a path of the master's HTTP endpoint, parsed as JSON. */
  json<T = unknown>(path: string): Promise<T>;
}

export interface MasterSpawnOptions extends SpawnOptions {
  /** Reuse a work dir (a restart); default: a new temporary one. */
  workDir?: string;
  grpcPort?: number;
  httpPort?: number;
  /** More `orbit master` flags. */
  args?: string[];
  /**
   * What the master prints once it listens (default `listening: gRPC`, a leader's greeting; a master
   * in HA that starts as a standby or candidate says `listening as a standby (...): gRPC`).
   */
  readyPattern?: RegExp;
  /** Leave $ORBIT_CREDENTIALS alone (default: point it at this master's admin credentials). */
  keepCredentialsEnv?: boolean;
  /** Called with the process as soon as it is spawned, before the wait: a caller can stop it even if the wait fails. */
  onSpawn?: (proc: BenchProcess) => void;
}

/** Starts `orbit master` and waits until it listens. */
export async function startMasterProcess(options: MasterSpawnOptions = {}): Promise<MasterProcess> {
  const [grpc, http] = options.grpcPort && options.httpPort ? [options.grpcPort, options.httpPort] : await freePorts(2);
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), 'orbit-bench-master-'));
  const proc = spawnOrbitProcess(['master', '--port', String(grpc), '--http-port', String(http), '--work-dir', workDir, '--log-level', 'warn', ...(options.args ?? [])], options);
  options.onSpawn?.(proc);
  await proc.waitFor(options.readyPattern ?? /listening: gRPC/, 60_000);
  // This process's SDK clients and the `orbit` processes it spawns act as the master's admin.
  if (!options.args?.includes('--insecure') && !options.keepCredentialsEnv) process.env.ORBIT_CREDENTIALS = adminCredentialsPath(workDir);
  return {
    ...proc,
    address: `127.0.0.1:${grpc}`,
    grpcPort: grpc!,
    httpPort: http!,
    workDir,
    async json<T>(path: string) {
      const res = await benchFetch(`http://127.0.0.1:${http}${path}`);
      if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
      return (await res.json()) as T;
    },
  };
}

export interface FleetSpawnOptions extends SpawnOptions {
  master: string;
  /** The master's work dir, to issue the fleet's certificate from; absent for a master run with --insecure. */
  masterWorkDir?: string;
  /** An agent credentials file to use instead of issuing one from `masterWorkDir`. */
  credentials?: string;
  agents: number;
  resources?: string;
  connections?: number;
  /** More `orbit fleet` flags. */
  args?: string[];
  /** How long to wait for every agent to register (default 10 min). */
  timeoutMs?: number;
  /** Called with the process and its work dir as soon as it is spawned, before the wait: a caller can stop it even if the wait fails. */
  onSpawn?: (proc: BenchProcess, workDir: string) => void;
}

export interface FleetProcess extends BenchProcess {
  workDir: string;
  /** Seconds the fleet took to have every agent registered, as it reported. */
  registeredAfterS: number;
}

/** Starts `orbit fleet` and waits until every agent is registered. */
export async function startFleetProcess(options: FleetSpawnOptions): Promise<FleetProcess> {
  const workDir = mkdtempSync(join(tmpdir(), 'orbit-bench-fleet-'));
  // A fleet's agents share one agent certificate, issued on the master's host from its work dir.
  const credentials = options.credentials ?? join(workDir, 'fleet.credentials.json');
  if (options.masterWorkDir && !options.credentials) {
    spawnSync(process.execPath, [join(ROOT, 'bin/orbit.js'), 'cert', 'issue', 'agent', 'bench-fleet', '--work-dir', options.masterWorkDir, '--out', credentials], { stdio: 'ignore' });
  }
  const proc = spawnOrbitProcess(
    [
      'fleet',
      ...(options.masterWorkDir || options.credentials ? ['--credentials', credentials] : ['--insecure']),
      '--master', options.master,
      '--agents', String(options.agents),
      '--work-dir', workDir,
      ...(options.resources ? ['--resources', options.resources] : []),
      ...(options.connections ? ['--connections', String(options.connections)] : []),
      ...(options.args ?? []),
    ],
    options,
  );
  options.onSpawn?.(proc, workDir);
  const m = await proc.waitFor(/all \d+ agents registered after ([\d.]+) s/, options.timeoutMs ?? 600_000);
  return { ...proc, workDir, registeredAfterS: Number(m[1]) };
}

/** Removes a temporary directory a benchmark made. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
