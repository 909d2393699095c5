/**
 * End-to-end throughput and latency (not a test): a master as its own process pinned to core 0,
 * a simulated fleet (`orbit fleet`) pinned to core 1, and F frameworks on the public SDK in this
 * process (also pinned to core 1) launching short simulated tasks as fast as offers allow.
 *
 *   npm run bench:e2e                               # 1k, 5k, 10k agents × 10, 100 frameworks
 *   npm run bench:e2e -- --quick                    # 1k agents × 10 frameworks, short windows
 *   node dist/bench/e2e.js --agents 1000 --frameworks 10 --window-s 10 [--allocation-interval 1,0.1]
 *        [--task 'cpus:0.25;mem:64'] [--agent-resources 'cpus:8;mem:32768;...'] [--task-ms 1000] [--in-flight 4000] [--profile DIR] [--verbose]
 *        [--security tls,insecure]                  # what TLS costs: the same run with and without it
 *
 * Per configuration: (1) peak: after a warm-up, tasks reaching RUNNING per second over a window,
 * the master's CPU over it (a share of its core: under 100% means the limit is elsewhere) and its
 * CPU-ms per task; (2) half of that peak: launches held to half the measured rate by a token
 * bucket, and the time from an offer's arrival at the framework to its task's RUNNING update
 * arriving there, p50/p99. Beside them, the same-run floor: a grpc-js bidi-stream echo rate
 * (bench/grpc-echo.ts) with its server on core 0.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpuMs, machineLine, percentile, rssKiB, sleep, startFleetProcess, startMasterProcess, removeDir } from './lib/cluster.js';
import { CAN_PIN, pinSelf } from './e2e-pin.js';
import { Load, type WindowStats } from './e2e-load.js';
import { formatSelfTimes } from './e2e-profile.js';
import { adminOf } from './lib/security.js';
import { INSECURE } from '../src/common/credentials.js';
import { DEFAULT_ECHO, echoRate, type EchoResult } from './grpc-echo.js';

const TARGET_TASKS_PER_S = 3750;
const TARGET_P99_MS = 100;
const ANCHORS_RATE = 'Nomad ≈3,750/s placing 1M containers; kube-scheduler CI minimum ≈810 pods/s at 5,000 nodes';
const ANCHORS_LATENCY = 'Kubernetes pod-startup SLO p99 ≤ 5 s; Mesos < 1 s launch overhead at 50,000 agents';
const AGENT_RESOURCES = 'cpus:8;mem:32768;disk:100000;ports:[31000-32000]';

interface Args {
  agents: number[];
  frameworks: number[];
  windowS: number;
  warmupS: number;
  allocationIntervalsS: number[];
  agentResources: string;
  task: string;
  taskMs: number;
  inFlight: number;
  refuseS: number;
  echoS: number;
  profileDir: string | undefined;
  /** Each configuration is run once per mode: mutual TLS (the default) and plaintext (--insecure). */
  security: ('tls' | 'insecure')[];
}

function parseArgs(argv: readonly string[]): Args {
  const quick = argv.includes('--quick');
  const raw = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (flag: string, fallback: number): number => {
    const v = raw(flag);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!(n > 0)) throw new Error(`${flag} needs a positive number, got '${v}'`);
    return n;
  };
  const list = (flag: string, fallback: number[], integers = true): number[] => {
    const v = raw(flag);
    if (v === undefined) return fallback;
    const ns = v.split(',').map(Number);
    if (ns.some((n) => !(n > 0) || (integers && !Number.isInteger(n)))) throw new Error(`${flag} needs a comma-separated list of positive numbers, got '${v}'`);
    return ns;
  };
  const profile = raw('--profile');
  return {
    agents: list('--agents', quick ? [1000] : [1000, 5000, 10000]),
    frameworks: list('--frameworks', quick ? [10] : [10, 100]),
    windowS: num('--window-s', quick ? 5 : 10),
    warmupS: num('--warmup-s', quick ? 4 : 6),
    allocationIntervalsS: list('--allocation-interval', [1, 0.1], false),
    agentResources: raw('--agent-resources') ?? AGENT_RESOURCES,
    task: raw('--task') ?? 'cpus:0.25;mem:64',
    taskMs: num('--task-ms', 1000),
    inFlight: num('--in-flight', 4000),
    refuseS: num('--refuse-s', 0.1),
    echoS: num('--echo-s', quick ? 3 : 5),
    profileDir: profile === undefined ? undefined : resolve(profile),
    security: (raw('--security') ?? 'tls').split(',').map((m) => {
      if (m !== 'tls' && m !== 'insecure') throw new Error(`--security takes tls and/or insecure, got '${m}'`);
      return m;
    }),
  };
}

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
const pct = (share: number): string => `${Math.round(share * 100)}%`;

interface Usage {
  master: number;
  fleet: number;
  bench: number;
  wallMs: number;
}

/** CPU of the master, the fleet and this process over a stretch of wall time. */
function cpuMeter(masterPid: number, fleetPid: number): () => Usage {
  const t0 = performance.now();
  const m0 = cpuMs(masterPid);
  const f0 = cpuMs(fleetPid);
  const b0 = cpuMs(process.pid);
  return () => ({ master: cpuMs(masterPid) - m0, fleet: cpuMs(fleetPid) - f0, bench: cpuMs(process.pid) - b0, wallMs: performance.now() - t0 });
}

/** Echoes per second the server could do with all of core 0. */
const echoPerCore = (e: EchoResult): number => e.msgsPerS / Math.max(0.01, e.serverCoreShare);

interface Phase {
  stats: WindowStats;
  usage: Usage;
}

interface Row {
  security: 'tls' | 'insecure';
  agents: number;
  intervalS: number;
  frameworks: number;
  registeredS: number;
  peak: Phase;
  half: Phase & { askedPerS: number };
  problems: string;
  masterRssMiB: number;
}

/** With --verbose: a line per second with the load's counters and the processes' CPU. */
function progress(load: Load, masterPid: number, fleetPid: number): () => void {
  let meter = cpuMeter(masterPid, fleetPid);
  let running = load.running;
  const timer = setInterval(() => {
    const u = meter();
    meter = cpuMeter(masterPid, fleetPid);
    console.log(`    … launched ${load.launched}, RUNNING +${load.running - running}, in flight ${load.inFlight}; master ${pct(u.master / u.wallMs)}, fleet ${pct(u.fleet / u.wallMs)}, frameworks ${pct(u.bench / u.wallMs)}`);
    running = load.running;
  }, 1000);
  return () => clearInterval(timer);
}

let verbose = false;

async function measure(load: Load, masterPid: number, fleetPid: number, warmupS: number, windowS: number): Promise<Phase> {
  const stopProgress = verbose ? progress(load, masterPid, fleetPid) : () => undefined;
  try {
    return await measureQuietly(load, masterPid, fleetPid, warmupS, windowS);
  } finally {
    stopProgress();
  }
}

async function measureQuietly(load: Load, masterPid: number, fleetPid: number, warmupS: number, windowS: number): Promise<Phase> {
  await sleep(warmupS * 1000);
  const end = load.window();
  const usage = cpuMeter(masterPid, fleetPid);
  await sleep(windowS * 1000);
  return { usage: usage(), stats: end() };
}

/**
 * Tasks per second the master could carry with all of core 0: 1000 / its CPU-ms per task. On a
 * shared machine the master may not get its whole core, so this is the steadier figure.
 */
const perCore = (p: Phase): number => (1000 * Math.max(1, p.stats.running)) / Math.max(1, p.usage.master);

function usageLine(p: Phase): string {
  const { usage, stats } = p;
  return (
    `master ${pct(usage.master / usage.wallMs)} of core 0, ${fmt(usage.master / Math.max(1, stats.running), 3)} CPU-ms/task (${fmt(perCore(p))} tasks/s at a whole core); ` +
    `core 1: fleet ${pct(usage.fleet / usage.wallMs)} + frameworks ${pct(usage.bench / usage.wallMs)}`
  );
}

async function runCluster(args: Args, agents: number, intervalS: number, security: 'tls' | 'insecure', echo: EchoResult, rows: Row[]): Promise<void> {
  const profileDir = args.profileDir ? join(args.profileDir, `agents-${agents}-interval-${intervalS}`) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const master = await startMasterProcess({
    core: 0,
    args: ['--allocation-interval', String(intervalS), ...(security === 'insecure' ? ['--insecure'] : [])],
    ...(profileDir ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profileDir] } : {}),
  });
  let fleet: Awaited<ReturnType<typeof startFleetProcess>> | undefined;
  const interrupted = () => {
    fleet?.child.kill('SIGKILL');
    master.child.kill('SIGKILL');
    process.exit(130);
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    fleet = await startFleetProcess({ master: master.address, agents, resources: args.agentResources, core: 1, ...(security === 'tls' ? { masterWorkDir: master.workDir } : {}) });
    for (const frameworks of args.frameworks) {
      console.log(`\n${security === 'tls' ? 'mutual TLS' : 'plaintext (--insecure)'}: agents ${fmt(agents)}, frameworks ${frameworks}, allocation interval ${intervalS} s (fleet registered in ${fleet.registeredAfterS.toFixed(1)} s)`);
      const load = new Load({
        master: master.address, frameworks, task: args.task, taskMs: args.taskMs, maxInFlight: args.inFlight, refuseSeconds: args.refuseS,
        security: security === 'tls' ? adminOf(master.workDir) : INSECURE,
      });
      await load.start();
      load.peak();
      const peak = await measure(load, master.pid, fleet.pid, args.warmupS, args.windowS);
      const s = peak.stats;
      console.log(
        `  peak: ${fmt(s.perS)} tasks/s reach RUNNING (1-s rate ${fmt(s.minPerS)}–${fmt(s.maxPerS)}) over ${fmt(s.wallMs / 1000, 1)} s; ` +
          `target ≥ ${fmt(TARGET_TASKS_PER_S)}; ${ANCHORS_RATE}`,
      );
      console.log(`        ${usageLine(peak)}; floor: ${fmt(echoPerCore(echo))} echo msgs/s at a whole core = ${fmt(echoPerCore(echo) / perCore(peak), 1)} echoes per task`);
      const askedPerS = s.perS / 2;
      load.rate(askedPerS, intervalS + 0.5);
      // What the peak phase left in flight must clear first, or it is measured as latency.
      const drainedBy = performance.now() + 30_000;
      while (load.inFlight > Math.max(50, askedPerS * (intervalS + 0.5)) && performance.now() < drainedBy) await sleep(100);
      const half = await measure(load, master.pid, fleet.pid, args.warmupS, args.windowS);
      const h = half.stats;
      console.log(
        `  half peak (${fmt(askedPerS)}/s asked): ${fmt(h.perS)} tasks/s; offer→RUNNING p50 ${fmt(percentile(h.latencies, 50), 1)} ms, ` +
          `p99 ${fmt(percentile(h.latencies, 99), 1)} ms, max ${fmt(h.latencies[h.latencies.length - 1] ?? NaN, 1)} ms (n=${fmt(h.latencies.length)}); ` +
          `target p99 ≤ ${TARGET_P99_MS} ms; ${ANCHORS_LATENCY}`,
      );
      console.log(`        ${usageLine(half)}`);
      const problems = [...load.problems].map(([what, n]) => `${what} ×${n}`).join(', ') || 'none';
      console.log(`  launched ${fmt(load.launched)} in ${fmt(load.accepts)} accepts, ${fmt(load.declines)} declines; problems: ${problems}`);
      const masterRssMiB = rssKiB(master.pid) / 1024;
      rows.push({ security, agents, intervalS, frameworks, registeredS: fleet.registeredAfterS, peak, half: { ...half, askedPerS }, problems, masterRssMiB });
      await load.stop();
      await sleep(2000);
    }
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    await fleet?.stop();
    await master.stop();
    removeDir(master.workDir);
    if (fleet) removeDir(fleet.workDir);
  }
  if (profileDir) {
    const code = await master.exited;
    const profiles = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'));
    if (profiles.length === 0) console.log(`  (no profile in ${profileDir}: the master exited with ${code})`);
    for (const p of profiles) for (const line of formatSelfTimes(join(profileDir, p), 25)) console.log(`  ${line}`);
  }
}

/**
 * With both modes run: TLS's throughput and latency against plaintext's, per configuration, from
 * the mean over every run of each mode (list a mode twice, `--security insecure,tls,insecure,tls`,
 * to cancel the order a box's warm-up favours).
 */
function tlsCost(rows: readonly Row[]): void {
  const configs = new Map<string, Row[]>();
  for (const r of rows) configs.set(`${r.agents}/${r.frameworks}/${r.intervalS}`, [...(configs.get(`${r.agents}/${r.frameworks}/${r.intervalS}`) ?? []), r]);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  let header = false;
  for (const runs of configs.values()) {
    const tls = runs.filter((r) => r.security === 'tls');
    const plain = runs.filter((r) => r.security === 'insecure');
    if (tls.length === 0 || plain.length === 0) continue;
    if (!header) console.log('\nwhat TLS costs (TLS ÷ plaintext, means over the runs of each, same run; the issue allows at most 10% of throughput)');
    header = true;
    const peak = (rs: Row[]) => mean(rs.map((r) => r.peak.stats.perS));
    const core = (rs: Row[]) => mean(rs.map((r) => perCore(r.peak)));
    const cpuMs = (rs: Row[]) => mean(rs.map((r) => r.peak.usage.master / Math.max(1, r.peak.stats.running)));
    const p50 = (rs: Row[]) => mean(rs.map((r) => percentile(r.half.stats.latencies, 50)));
    const p99 = (rs: Row[]) => mean(rs.map((r) => percentile(r.half.stats.latencies, 99)));
    const r0 = runs[0]!;
    console.log(
      `  agents ${fmt(r0.agents)}, fw ${r0.frameworks}, alloc ${r0.intervalS} s (${tls.length} TLS, ${plain.length} plaintext runs): ` +
        `peak ${fmt(peak(tls))} vs ${fmt(peak(plain))} tasks/s (${fmt((100 * peak(tls)) / peak(plain), 1)}%), ` +
        `at a whole core ${fmt(core(tls))} vs ${fmt(core(plain))} (${fmt((100 * core(tls)) / core(plain), 1)}%), master CPU-ms/task ${fmt(cpuMs(tls), 3)} vs ${fmt(cpuMs(plain), 3)}; ` +
        `offer→RUNNING p50 ${fmt(p50(tls), 1)} vs ${fmt(p50(plain), 1)} ms, p99 ${fmt(p99(tls), 1)} vs ${fmt(p99(plain), 1)} ms`,
    );
  }
}

function summary(rows: readonly Row[], echo: EchoResult): void {
  console.log('\nsummary (targets: ≥ 3,750 tasks/s, p99 ≤ 100 ms at half peak)');
  console.log('  security  agents  fw  alloc s   peak/s  master core  CPU-ms/task  at whole core  core-1 (fleet+fw)  half/s   p50 ms   p99 ms  master RSS');
  for (const r of rows) {
    const p = r.peak;
    const h = r.half;
    console.log(
      `  ${r.security.padEnd(8)}  ${fmt(r.agents).padStart(6)}  ${String(r.frameworks).padStart(3)}  ${String(r.intervalS).padStart(7)}  ${fmt(p.stats.perS).padStart(7)}  ${pct(p.usage.master / p.usage.wallMs).padStart(11)}  ` +
        `${fmt(p.usage.master / Math.max(1, p.stats.running), 3).padStart(11)}  ${fmt(perCore(p)).padStart(13)}  ${pct((p.usage.fleet + p.usage.bench) / p.usage.wallMs).padStart(17)}  ` +
        `${fmt(h.stats.perS).padStart(6)}  ${fmt(percentile(h.stats.latencies, 50), 1).padStart(7)}  ${fmt(percentile(h.stats.latencies, 99), 1).padStart(7)}  ${fmt(r.masterRssMiB)} MiB`,
    );
  }
  console.log(`  floor: grpc-js bidi echo ${fmt(echo.msgsPerS)} msgs/s with the server at ${pct(echo.serverCoreShare)} of core 0, ${fmt((echo.serverCoreShare * 1000) / echo.msgsPerS, 3)} server CPU-ms per message (${fmt(echoPerCore(echo))}/s at a whole core)`);
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv);
  verbose = argv.includes('--verbose');
  const pinned = pinSelf(1);
  console.log('orbit bench/e2e: end-to-end throughput and latency');
  console.log(machineLine());
  console.log(`command: node dist/bench/e2e.js ${argv.join(' ')}`.trimEnd());
  console.log(
    `setup: master on core 0 (--allocation-interval ${args.allocationIntervalsS.join(', ')} s; 1 s is the Mesos default), ` +
      `fleet and frameworks on core 1${CAN_PIN && pinned ? '' : ' (NOT pinned: no taskset or one core)'}; agents ${args.agentResources}; ` +
      `tasks ${args.task} for ${args.taskMs} ms, simulated; in-flight cap ${fmt(args.inFlight)}; refuse ${args.refuseS} s; window ${args.windowS} s after ${args.warmupS} s warm-up`,
  );
  const echo = await echoRate({ ...DEFAULT_ECHO, seconds: args.echoS, serverCore: 0 });
  console.log(
    `floor: grpc-js bidi-stream echo, ${echo.options.size}-byte messages, ${echo.options.window} in flight, server on core 0: ` +
      `${fmt(echo.msgsPerS)} msgs/s (server ${pct(echo.serverCoreShare)} of its core: ${fmt(echoPerCore(echo))}/s at a whole core)`,
  );
  const rows: Row[] = [];
  for (const agents of args.agents) {
    for (const intervalS of args.allocationIntervalsS) for (const security of args.security) await runCluster(args, agents, intervalS, security, echo, rows);
  }
  summary(rows, echo);
  tlsCost(rows);
  console.log(machineLine());
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
