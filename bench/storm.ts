/**
 * Re-registration storm benchmark (not a test): SIGKILL the master under an `orbit fleet` of
 * simulated agents, start a new one on the same ports and work dir, and time the way back.
 *
 *   npm run bench:storm                          # 2k and 20k agents
 *   npm run bench:storm -- --quick               # 2k agents
 *   node dist/bench/storm.js [--agents 2000,20000] [--rounds 3] [--profile DIR]
 *
 * The master and the fleet are real processes, pinned to cores 0 and 1 where taskset is there; a
 * framework in this process (failover timeout one hour) holds every offer it gets, so after the
 * restart each agent's resources come back as a fresh offer once the agent has re-registered and
 * the framework has re-subscribed (the SDK does both by itself). Times, from the SIGKILL and from
 * the new master listening:
 * - the old master reaped (a killed child must be, before the new one can take the work-dir lock);
 * - the new master listening (its start-up: node, the registry replayed, the epoch written);
 * - the framework re-subscribed, and its first offer;
 * - the first agent, half, 90% and every agent re-registered (the master's /metrics, polled every
 *   250 ms; and the fleet's own line for all);
 * - offers from every agent back at the framework.
 * Agents wait for their connection to the master to come back (grpc-js retries every 0.5–3 s),
 * then register after a full-jitter backoff (random in [0, 1 s·2^n], n counting attempts the
 * master itself refused), so part of the from-kill time is the agents waiting, not the master
 * working; the master's and the fleet's CPU time over the storm say how busy each was (the fleet
 * runs every agent on one core: its retries cost it too).
 * How long the agents wait depends on how their retries fell while the master was down, so each
 * size runs `--rounds` restarts in a row (default 3) and prints each and the median.
 * Baselines: the same fleet's first registration with the same master, in the same run; and what
 * a backoff started on the master's return would give (listening + [0, 1 s]).
 * `--profile DIR` starts the last round's master with --cpu-prof into DIR and prints its top
 * self-time functions.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SchedulerClient, type Offer } from '../src/framework-sdk/index.js';
import { cpuMs, freePorts, machineLine, removeDir, sleep, startFleetProcess, startMasterProcess, type BenchProcess, type MasterProcess } from './lib/cluster.js';
import { profileFiles, profileSummary } from './state-profile.js';
import { count, fmtS, getText, line, listFlag, numberFlag, parseMetrics, textFlag, verdict } from './state-tools.js';

const TARGET_MS = 4000;

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const agentCounts = listFlag(argv, '--agents', quick ? [2000] : [2000, 20_000]);
const profileDir = textFlag(argv, '--profile');
const rounds = numberFlag(argv, '--rounds', 3);
const MASTER_NODE_ARGS = ['--max-old-space-size=8192'];

/** A framework that holds every offer, noting when offers arrive and from which agents. */
class OfferWatcher {
  readonly client: SchedulerClient;
  private agents = new Set<string>();
  private firstAt: number | undefined;
  private allAt: number | undefined;
  private subscribedAt: number | undefined;
  private waiters: (() => void)[] = [];

  constructor(master: string, private readonly expected: number) {
    this.client = new SchedulerClient({ master, framework: { name: 'bench-storm', failoverTimeoutMs: 3_600_000 } });
    this.client.on('offers', (offers: Offer[]) => {
      const now = performance.now();
      this.firstAt ??= now;
      for (const o of offers) this.agents.add(o.agentId);
      if (this.agents.size >= this.expected) this.allAt ??= now;
      this.wake();
    });
    this.client.on('subscribed', () => {
      this.subscribedAt ??= performance.now();
      this.wake();
    });
  }

  /** Forgets what it saw: the next offers are counted afresh. */
  reset(): void {
    this.agents = new Set();
    this.firstAt = undefined;
    this.allAt = undefined;
    this.subscribedAt = undefined;
  }

  /** When (performance.now()) the framework was subscribed, had its first offer, and offers from every agent. */
  async until(timeoutMs: number): Promise<{ subscribedAt: number; firstAt: number; allAt: number }> {
    const deadline = performance.now() + timeoutMs;
    while (this.allAt === undefined || this.firstAt === undefined || this.subscribedAt === undefined) {
      if (performance.now() > deadline) throw new Error(`offers from ${this.agents.size} of ${this.expected} agents within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
    return { subscribedAt: this.subscribedAt, firstAt: this.firstAt, allAt: this.allAt };
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** Polls the master's active agent count every `everyMs` until it reaches `agents`; (ms since `from`, count) pairs. */
async function activeCurve(master: MasterProcess, agents: number, from: number, everyMs: number, timeoutMs: number): Promise<[number, number][]> {
  const curve: [number, number][] = [];
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const n = await activeAgents(master).catch(() => NaN);
    curve.push([performance.now() - from, n]);
    if (n >= agents || performance.now() > deadline) return curve;
    await sleep(everyMs);
  }
}

/** The first time (ms) the curve reached `fraction` of `agents`. */
function reached(curve: readonly [number, number][], agents: number, fraction: number): number {
  return curve.find(([, n]) => n >= agents * fraction)?.[0] ?? NaN;
}

/** The master's count of active agents, from /metrics. */
async function activeAgents(master: MasterProcess): Promise<number> {
  return parseMetrics(await getText(master.httpPort, '/metrics')).get('orbit_agents{status="active"}') ?? NaN;
}

interface Round {
  reaped: number;
  listening: number;
  subscribed: number;
  firstOffer: number;
  half: number;
  most: number;
  registered: number;
  offers: number;
  cpuMs: number;
  fleetCpuMs: number;
  firstIn: number;
}

/** One round: SIGKILL `master`, start a new one on its ports and work dir, time the way back (ms from the kill). */
async function restart(master: MasterProcess, fleet: BenchProcess, watcher: OfferWatcher, agents: number, profile: boolean): Promise<[MasterProcess, Round]> {
  watcher.reset();
  const fleetMark = fleet.mark();
  const fleetCpu0 = cpuMs(fleet.pid);
  const killedAt = performance.now();
  master.child.kill('SIGKILL');
  await master.exited;
  const reaped = performance.now() - killedAt;
  const next = await startMasterProcess({
    core: 0,
    workDir: master.workDir,
    grpcPort: master.grpcPort,
    httpPort: master.httpPort,
    nodeArgs: [...MASTER_NODE_ARGS, ...(profile && profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])],
  });
  const listening = performance.now() - killedAt;
  const cpu0 = cpuMs(next.pid);
  const curve = activeCurve(next, agents, killedAt, 250, 600_000);
  await fleet.waitFor(/all \d+ agents registered again ([\d.]+) s/, 600_000, fleetMark);
  const registered = performance.now() - killedAt;
  const cpu = cpuMs(next.pid) - cpu0;
  const fleetCpu = cpuMs(fleet.pid) - fleetCpu0;
  const offers = await watcher.until(600_000);
  const seen = await curve;
  return [next, {
    reaped,
    listening,
    subscribed: offers.subscribedAt - killedAt,
    firstOffer: offers.firstAt - killedAt,
    half: reached(seen, agents, 0.5),
    most: reached(seen, agents, 0.9),
    registered,
    offers: offers.allAt - killedAt,
    cpuMs: cpu,
    fleetCpuMs: fleetCpu,
    firstIn: reached(seen, agents, 1 / agents),
  }];
}

async function storm(agents: number, rounds: number): Promise<void> {
  const [grpcPort, httpPort] = await freePorts(2);
  const workDir = mkdtempSync(join(tmpdir(), 'orbit-bench-storm-'));
  console.log(`\n${count(agents)} agents: kill -9 the master, start a new one on the same ports and work dir; ${rounds} round${rounds === 1 ? '' : 's'}`);
  let master = await startMasterProcess({ core: 0, workDir, grpcPort: grpcPort!, httpPort: httpPort!, nodeArgs: MASTER_NODE_ARGS });
  const watcher = new OfferWatcher(master.address, agents);
  await watcher.client.start();
  const t0 = performance.now();
  const fleet = await startFleetProcess({ master: master.address, masterWorkDir: master.workDir, agents, core: 1, nodeArgs: ['--max-old-space-size=8192'] });
  const firstRegistered = performance.now() - t0;
  const first = await watcher.until(300_000);
  try {
    const results: Round[] = [];
    console.log('  seconds after the kill:  reaped listening fw-back 1st-offer  1st-in  50%-in  90%-in  all-in  all-offers | all-in after listening | CPU master  fleet');
    for (let r = 0; r < rounds; r++) {
      await sleep(2000);
      let round: Round;
      [master, round] = await restart(master, fleet, watcher, agents, r === rounds - 1);
      results.push(round);
      printRound(`round ${r + 1}`, round);
    }
    if (rounds > 1) {
      const median = (f: (x: Round) => number) => results.map(f).sort((a, b) => a - b)[Math.floor(results.length / 2)]!;
      printRound('median', {
        reaped: median((x) => x.reaped),
        listening: median((x) => x.listening),
        subscribed: median((x) => x.subscribed),
        firstOffer: median((x) => x.firstOffer),
        firstIn: median((x) => x.firstIn),
        half: median((x) => x.half),
        most: median((x) => x.most),
        registered: median((x) => x.registered),
        offers: median((x) => x.offers),
        cpuMs: median((x) => x.cpuMs),
        fleetCpuMs: median((x) => x.fleetCpuMs),
      });
    }
    const worst = Math.max(...results.map((x) => x.offers));
    const best = Math.min(...results.map((x) => x.offers));
    line(`all ${count(agents)} re-registered with offers flowing`, `${fmtS(best)} to ${fmtS(worst)} after the kill   target ≤ ${fmtS(TARGET_MS)}: ${verdict(worst, TARGET_MS)}`);
    line('baseline: first registration, same fleet', `${fmtS(firstRegistered)} from starting the fleet (it said ${fleet.registeredAfterS} s); offers from all after ${fmtS(first.allAt - t0)}`);
    line("baseline: backoff from the master's return", `listening + [0, 1 s] = ${fmtS(Math.min(...results.map((x) => x.listening)) + 1000)} after the kill (Mesos' agents start their backoff on detecting the new master)`);
  } finally {
    watcher.client.close();
    await fleet.stop('SIGTERM', 60_000);
    const before = profileDir ? new Set(list(profileDir)) : new Set<string>();
    await master.stop('SIGTERM', 120_000);
    if (profileDir) {
      for (const f of list(profileDir).filter((f) => !before.has(f) && f.endsWith('.cpuprofile'))) {
        console.log(profileSummary(join(profileDir, f), 20).map((l) => `  ${l}`).join('\n'));
        console.log(['  by file:', ...profileFiles(join(profileDir, f), 10)].join('\n'));
      }
    }
    removeDir(workDir);
    removeDir(fleet.workDir);
  }
}

function printRound(label: string, r: Round): void {
  const s = (ms: number) => (ms / 1000).toFixed(2).padStart(7);
  console.log(`  ${label.padEnd(24)}${s(r.reaped)}${s(r.listening)}${s(r.subscribed)}${s(r.firstOffer)}${s(r.firstIn)}${s(r.half)}${s(r.most)}${s(r.registered)}${s(r.offers)}   | ${s(r.registered - r.listening)}               | ${s(r.cpuMs)} ${s(r.fleetCpuMs)} s`);
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

console.log('Re-registration storm after a master restart (bench/storm.ts)');
console.log(machineLine());
console.log(`command: node dist/bench/storm.js ${argv.join(' ')}`.trimEnd());
console.log('master pinned to core 0, fleet to core 1 (taskset, where there is one); this process unpinned');
for (const agents of agentCounts) await storm(agents, rounds);
console.log(`\n${machineLine()}`);
