/**
 * What bench/state.ts and bench/storm.ts share beyond bench/lib/cluster.ts: node flags that let a
 * benchmark collect a child's garbage before reading its memory, settled memory readings, a bare
 * grpc-js server with N idle streams (the per-stream floor), Prometheus text parsing, formatting.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import { newAgentLinkClient } from '../src/common/connection.js';
import { INSECURE } from '../src/common/credentials.js';
import type { AgentMessage } from '../src/gen/orbit/v1/AgentMessage.js';
import type { MasterMessage__Output } from '../src/gen/orbit/v1/MasterMessage.js';
import { rssKiB, sleep, spawnNodeProcess, type BenchProcess } from './lib/cluster.js';
import { benchFetch } from './lib/security.js';

/** Node flags for a child whose memory a benchmark reads: gc on SIGUSR2 (see state-gc.ts). */
export const GC_NODE_ARGS: readonly string[] = ['--expose-gc', `--import=${new URL('./state-gc.js', import.meta.url).href}`];

/** Memory of a process after a full collection and a pause, in KiB. */
export interface SettledMemory {
  /** Median of the RSS samples taken after the collection. */
  rssKiB: number;
  /** V8 heap in use right after the collection: live objects only. */
  heapUsedKiB: number;
  /** Memory outside the V8 heap that V8 knows about (Buffers, among them gRPC's). */
  externalKiB: number;
}

/**
 * Collects garbage in `proc` (started with GC_NODE_ARGS), waits `pauseMs`, then samples RSS
 * `samples` times `gapMs` apart and keeps the median. RSS still holds pages V8 has freed but not
 * returned, so heap-used is the sharper figure; the targets are in RSS.
 */
export async function settledMemory(proc: BenchProcess, { pauseMs = 1000, samples = 5, gapMs = 300 } = {}): Promise<SettledMemory> {
  const since = proc.mark();
  proc.child.kill('SIGUSR2');
  const m = await proc.waitFor(/orbit-bench-gc (\{.*\})/, 60_000, since);
  const usage = JSON.parse(m[1]!) as { heapUsed: number; external: number };
  await sleep(pauseMs);
  const rss: number[] = [];
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(gapMs);
    rss.push(rssKiB(proc.pid));
  }
  rss.sort((a, b) => a - b);
  return { rssKiB: rss[Math.floor(rss.length / 2)]!, heapUsedKiB: usage.heapUsed / 1024, externalKiB: usage.external / 1024 };
}

/** Starts `node [nodeArgs] dist/bench/<script> [args]` (pinned to `core` where possible), with its output kept. */
export function spawnBenchScript(script: string, args: string[], options: { core?: number; nodeArgs?: readonly string[] } = {}): BenchProcess {
  return spawnNodeProcess(fileURLToPath(new URL(script, import.meta.url)), args, options, script);
}

/** What N idle AgentLink streams cost a bare grpc-js server (state-bare-server.ts). */
export interface BareStreamCost {
  streams: number;
  idle: SettledMemory;
  loaded: SettledMemory;
}

/**
 * Opens `streams` AgentLink streams from this process to a bare grpc-js server (one connection per
 * 2,500 streams, as `orbit fleet`), each sending one heartbeat, and reads the server's settled
 * memory before and after. The streams are closed again before this returns.
 */
export async function measureBareStreams(streams: number, core?: number): Promise<BareStreamCost> {
  const server = spawnBenchScript('./state-bare-server.js', [], { nodeArgs: GC_NODE_ARGS, ...(core !== undefined ? { core } : {}) });
  try {
    const port = Number((await server.waitFor(/bare-server listening (\d+)/, 30_000))[1]);
    await sleep(1000);
    const idle = await settledMemory(server);
    const clients = Array.from({ length: Math.max(1, Math.ceil(streams / 2500)) }, () => newAgentLinkClient(`127.0.0.1:${port}`, INSECURE));
    const calls: grpc.ClientDuplexStream<AgentMessage, MasterMessage__Output>[] = [];
    for (let i = 0; i < streams; i++) {
      const call = clients[i % clients.length]!.Connect();
      call.on('error', () => {});
      call.write({ heartbeat: { timestamp: 0 } });
      calls.push(call);
      if (i % 500 === 499) await sleep(0);
    }
    await server.waitFor(new RegExp(`bare-server streams ${streams}\\n`), 120_000);
    await sleep(1000);
    const loaded = await settledMemory(server);
    for (const c of calls) c.cancel();
    for (const c of clients) c.close();
    return { streams, idle, loaded };
  } finally {
    await server.stop();
  }
}

/**
 * How long a process's main thread has waited for a CPU while runnable, in ms (Linux schedstat):
 * on a busy machine, event-loop delay includes this, which is the machine's doing, not the code's.
 */
export function runQueueWaitMs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
  } catch {
    return NaN;
  }
}

/** Prometheus text as a map from `name{labels}` (and plain `name` for unlabelled series) to value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** GETs a path of a master's HTTP endpoint as text. */
export async function getText(httpPort: number, path: string): Promise<string> {
  const res = await benchFetch(`http://127.0.0.1:${httpPort}${path}`);
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return res.text();
}

export const fmtMs = (x: number): string => (Number.isNaN(x) ? 'n/a' : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(x < 10 ? 2 : 1)} ms`);
export const fmtS = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
export const fmtKiB = (k: number): string => (k >= 1024 * 10 ? `${(k / 1024).toFixed(0)} MB` : k >= 1024 ? `${(k / 1024).toFixed(1)} MB` : `${k.toFixed(1)} KB`);
export const fmtBytes = (b: number): string => fmtKiB(b / 1024);
export const count = (n: number): string => n.toLocaleString('en-US');
/** One indented `label  value` line. */
export const line = (label: string, value: string): void => console.log(`  ${label.padEnd(44)} ${value}`);
/** "met" / "MISSED" against a target where lower is better. */
export const verdict = (value: number, target: number): string => (value <= target ? 'met' : 'MISSED');

/** Parses `--flag a,b,c` as positive integers; `fallback` when absent. */
export function listFlag(argv: readonly string[], flag: string, fallback: number[]): number[] {
  const i = argv.indexOf(flag);
  if (i < 0) return fallback;
  const values = (argv[i + 1] ?? '').split(',').map(Number);
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v <= 0)) throw new Error(`${flag} needs positive integers separated by commas`);
  return values;
}

/** Parses `--flag N` as a positive number; `fallback` when absent. */
export function numberFlag(argv: readonly string[], flag: string, fallback: number): number {
  const i = argv.indexOf(flag);
  if (i < 0) return fallback;
  const v = Number(argv[i + 1]);
  if (!(v > 0)) throw new Error(`${flag} needs a positive number`);
  return v;
}

/** Parses `--flag TEXT`; undefined when absent. */
export function textFlag(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i < 0 ? undefined : argv[i + 1];
}
