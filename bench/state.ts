/**
 * Master memory and /state benchmark (not a test). A real master and an `orbit fleet` of simulated
 * agents run as separate processes, pinned to cores 0 and 1 where taskset is there; this process
 * runs the framework and the HTTP clients.
 *
 *   npm run bench:state                          # memory at 10k agents × 10 tasks; /state at 1k, 10k, 40k
 *   npm run bench:state -- --quick               # memory at 2k agents × 10 tasks; /state at 1k and 10k
 *   node dist/bench/state.js [--agents 1000,10000,40000] [--memory-agents 10000] [--tasks-per-agent 10]
 *                            [--window-s 10] [--clients 5] [--no-memory] [--profile DIR]
 *
 * Memory: the master's RSS idle, after every agent registered, and after a framework in this
 * process launched `--tasks-per-agent` long-running simulated tasks on each agent (all RUNNING and
 * acknowledged, the framework suppressed; the fleet resends unacknowledged updates only after
 * 600 s, so a slow launch does not add duplicates to the statuses kept). Each reading is taken after a full collection in the
 * master (it is started with --expose-gc and a SIGUSR2 hook, bench/state-gc.ts) and a 1 s pause:
 * the median of five RSS samples, and the V8 heap in use. Per agent = Δ / agents, per task =
 * Δ / tasks. Baseline: a bare grpc-js server (the master's server options, no books) holding as
 * many idle AgentLink streams, measured the same way in the same run.
 *
 * /state: `--clients` clients GET /state back to back for `--window-s`; response time p50/p99 and
 * size, the master's CPU use, and the master's event-loop delay over the window, read from its own
 * /metrics (prom-client's monitorEventLoopDelay histogram is reset at every scrape, so one scrape
 * just before the window and one just after cover exactly the window). A sixth client GETs /health
 * every 100 ms throughout: what a trivial request waits behind the /state work. Baselines: /health
 * before the window, and JSON.stringify of the same state in this process.
 *
 * `--profile DIR` starts each master with --cpu-prof into DIR and prints its top self-time functions.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildTask, SchedulerClient } from '../src/framework-sdk/index.js';
import { cpuMs, machineLine, percentile, sleep, startFleetProcess, startMasterProcess, type MasterProcess } from './lib/cluster.js';
import { pinSelf } from './e2e-pin.js';
import { profileSummary } from './state-profile.js';
import {
  count,
  fmtBytes,
  fmtKiB,
  fmtMs,
  getText,
  GC_NODE_ARGS,
  line,
  listFlag,
  measureBareStreams,
  numberFlag,
  parseMetrics,
  runQueueWaitMs,
  settledMemory,
  textFlag,
  verdict,
  type SettledMemory,
} from './state-tools.js';
import { benchFetch } from './lib/security.js';

const TARGET_PER_AGENT_KIB = 32;
const TARGET_PER_TASK_KIB = 2;
const TARGET_STATE_MS = 1000;
const TARGET_LAG_MS = 50;
const TASK_RESOURCES = 'cpus:0.1;mem:32';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const agentCounts = listFlag(argv, '--agents', quick ? [1000, 10_000] : [1000, 10_000, 40_000]);
const memoryAgents = numberFlag(argv, '--memory-agents', quick ? 2000 : 10_000);
const tasksPerAgent = numberFlag(argv, '--tasks-per-agent', 10);
const windowMs = numberFlag(argv, '--window-s', quick ? 5 : 10) * 1000;
const clients = numberFlag(argv, '--clients', 5);
const profileDir = textFlag(argv, '--profile');

/** Node flags for the master: gc hook, room for 40k agents, and the profiler when asked. */
function masterNodeArgs(): string[] {
  return [...GC_NODE_ARGS, '--max-old-space-size=8192', ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])];
}
const FLEET_NODE_ARGS = ['--max-old-space-size=12288'];

/** Stops a master cleanly (so a profile gets written) and prints the profile's summary. */
async function stopMaster(master: MasterProcess): Promise<void> {
  const before = profileDir ? new Set(safeList(profileDir)) : new Set<string>();
  await master.stop('SIGTERM', 120_000);
  if (!profileDir) return;
  for (const f of safeList(profileDir).filter((f) => !before.has(f) && f.endsWith('.cpuprofile'))) {
    console.log(profileSummary(join(profileDir, f), 20).map((l) => `  ${l}`).join('\n'));
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

interface Launched {
  client: SchedulerClient;
  ms: number;
  running: number;
  others: Map<string, number>;
}

/**
 * Subscribes a framework that launches `perAgent` long-running simulated tasks on the first offer
 * from each agent (the rest of the offer filtered for a day), and resolves once every task is
 * RUNNING (its update acknowledged by the SDK), after suppressing further offers.
 */
async function launchTasks(master: string, agents: number, perAgent: number, timeoutMs: number): Promise<Launched> {
  const client = new SchedulerClient({ master, framework: { name: 'bench-state', failoverTimeoutMs: 3_600_000 }, callTimeoutMs: 120_000 });
  const total = agents * perAgent;
  const launchedOn = new Set<string>();
  const running = new Set<string>();
  const others = new Map<string, number>();
  let allRunning!: () => void;
  const done = new Promise<void>((resolve) => (allRunning = resolve));
  // At most this many Accept/Decline calls outstanding: more only queue inside grpc-js.
  const queue: (() => Promise<void>)[] = [];
  let inflight = 0;
  let failures = 0;
  const pump = (): void => {
    while (inflight < 32 && queue.length > 0) {
      const call = queue.shift()!;
      inflight++;
      call()
        .catch(() => void failures++)
        .finally(() => {
          inflight--;
          pump();
        });
    }
  };
  client.on('offers', (offers) => {
    for (const offer of offers) {
      if (launchedOn.has(offer.agentId)) {
        queue.push(() => client.decline([offer.id], { refuseSeconds: 86_400 }));
        continue;
      }
      launchedOn.add(offer.agentId);
      const tasks = Array.from({ length: perAgent }, () => buildTask({ offer, resources: TASK_RESOURCES, simulated: {} }));
      queue.push(() => client.launch(offer, tasks, { refuseSeconds: 86_400 }));
    }
    pump();
  });
  client.on('update', (status) => {
    if (status.state === 'RUNNING') {
      running.add(status.taskId);
      if (running.size === total) allRunning();
    } else {
      others.set(status.state, (others.get(status.state) ?? 0) + 1);
    }
  });
  const t0 = performance.now();
  await client.start();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    done,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${running.size} of ${total} tasks RUNNING after ${timeoutMs} ms (call failures: ${failures}, other states: ${JSON.stringify([...others])})`)), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  const ms = performance.now() - t0;
  await client.suppress();
  return { client, ms, running: running.size, others };
}

interface Poll {
  statusMs: number[];
  bytes: number;
  healthMs: number[];
}

/** `clients` back-to-back GET /state loops and one /health probe every 100 ms, until `until`. */
async function pollWindow(httpPort: number, until: number): Promise<Poll> {
  const statusMs: number[] = [];
  const healthMs: number[] = [];
  let bytes = 0;
  const poller = async () => {
    while (performance.now() < until) {
      const t = performance.now();
      const res = await benchFetch(`http://127.0.0.1:${httpPort}/state`);
      const body = await res.arrayBuffer();
      statusMs.push(performance.now() - t);
      bytes = body.byteLength;
    }
  };
  const prober = async () => {
    while (performance.now() < until) {
      const t = performance.now();
      await getText(httpPort, '/health');
      healthMs.push(performance.now() - t);
      await sleep(100);
    }
  };
  await Promise.all([...Array.from({ length: clients }, poller), prober()]);
  return { statusMs: statusMs.sort((a, b) => a - b), bytes, healthMs: healthMs.sort((a, b) => a - b) };
}

/** The /state section for one cluster shape: prints its figures and baselines. */
async function measureState(master: MasterProcess, shape: string, agents: number): Promise<void> {
  console.log(`\n/state with ${shape}, ${clients} clients polling back to back for ${windowMs / 1000} s`);
  // Idle baseline: /health alone, 20 times.
  const idleHealth: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    await getText(master.httpPort, '/health');
    idleHealth.push(performance.now() - t);
  }
  idleHealth.sort((a, b) => a - b);
  // One request alone, kept for the size and for the stringify baseline.
  const t1 = performance.now();
  const body = await getText(master.httpPort, '/state');
  const aloneMs = performance.now() - t1;
  const state = JSON.parse(body) as { agents: unknown[]; frameworks: { tasks: { statuses: unknown[] }[] }[] };
  if (state.agents.length !== agents) console.log(`  (the master reports ${state.agents.length} agents, expected ${agents})`);
  const tasks = state.frameworks.flatMap((f) => f.tasks);
  if (tasks.length > 0) line('tasks, and statuses kept per task', `${count(tasks.length)}, ${(tasks.reduce((n, t) => n + t.statuses.length, 0) / tasks.length).toFixed(2)}`);
  const stringify: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    JSON.stringify(state);
    stringify.push(performance.now() - t);
  }
  stringify.sort((a, b) => a - b);

  await getText(master.httpPort, '/metrics'); // resets the event-loop delay histogram
  const cpu0 = cpuMs(master.pid);
  const wait0 = runQueueWaitMs(master.pid);
  const t0 = performance.now();
  const poll = await pollWindow(master.httpPort, t0 + windowMs);
  const wallMs = performance.now() - t0;
  const cpu = cpuMs(master.pid) - cpu0;
  const waited = runQueueWaitMs(master.pid) - wait0;
  const m = parseMetrics(await getText(master.httpPort, '/metrics'));
  const lag = (q: string) => (m.get(`nodejs_eventloop_lag_${q}_seconds`) ?? NaN) * 1000;

  const p50 = percentile(poll.statusMs, 50);
  const p99 = percentile(poll.statusMs, 99);
  line('response size', `${fmtBytes(Buffer.byteLength(body))} (${fmtBytes(Buffer.byteLength(body) / Math.max(1, agents))} per agent)`);
  line('one request alone', fmtMs(aloneMs));
  line(`responses in the window`, `${count(poll.statusMs.length)} (${(poll.statusMs.length / (wallMs / 1000)).toFixed(1)}/s)`);
  line('response time p50 / p99 / max', `${fmtMs(p50)} / ${fmtMs(p99)} / ${fmtMs(poll.statusMs.at(-1) ?? NaN)}   target p99 ≤ ${fmtMs(TARGET_STATE_MS)}: ${verdict(p99, TARGET_STATE_MS)}`);
  // The master samples the delay every 1 ms (src/master/metrics.ts): an idle loop reads about 1 ms.
  line('master event-loop delay p50 / p99 / max', `${fmtMs(lag('p50'))} / ${fmtMs(lag('p99'))} / ${fmtMs(lag('max'))}   target p99 ≤ ${fmtMs(TARGET_LAG_MS)}: ${verdict(lag('p99'), TARGET_LAG_MS)}`);
  line('master main thread waiting for a CPU', `${fmtMs(waited)} in the ${fmtMs(wallMs)} window (behind the master's own GC and I/O threads on its core, or other processes)`);
  line('/health during the window p50 / p99', `${fmtMs(percentile(poll.healthMs, 50))} / ${fmtMs(percentile(poll.healthMs, 99))}`);
  line('master CPU during the window', `${((cpu / wallMs) * 100).toFixed(0)}% of a core`);
  line('baseline: /health alone p50 / p99', `${fmtMs(percentile(idleHealth, 50))} / ${fmtMs(percentile(idleHealth, 99))}`);
  line('baseline: JSON.stringify(state) here, median', fmtMs(percentile(stringify, 50)));
}

function memoryLine(label: string, m: SettledMemory): void {
  line(label, `RSS ${fmtKiB(m.rssKiB)}, heap used ${fmtKiB(m.heapUsedKiB)}, external ${fmtKiB(m.externalKiB)}`);
}

async function memorySection(): Promise<void> {
  const tasks = memoryAgents * tasksPerAgent;
  console.log(`\nMaster memory: ${count(memoryAgents)} agents × ${tasksPerAgent} long-running simulated tasks (${TASK_RESOURCES} each)`);
  const bare = await measureBareStreams(memoryAgents, 0);
  const master = await startMasterProcess({ core: 0, nodeArgs: masterNodeArgs() });
  try {
    await sleep(2000);
    const idle = await settledMemory(master);
    // A launch this large keeps the framework's acknowledgements seconds behind; agents resending
    // updates meanwhile would add duplicate statuses to every task's history.
    const fleet = await startFleetProcess({ master: master.address, masterWorkDir: master.workDir, agents: memoryAgents, core: 1, nodeArgs: FLEET_NODE_ARGS, args: ['--status-update-retry-base', '600'] });
    try {
      await sleep(2000);
      const withAgents = await settledMemory(master);
      const launched = await launchTasks(master.address, memoryAgents, tasksPerAgent, 600_000);
      try {
        await sleep(2000);
        const withTasks = await settledMemory(master);
        memoryLine('master idle', idle);
        memoryLine(`with ${count(memoryAgents)} agents (after ${fleet.registeredAfterS} s)`, withAgents);
        memoryLine(`with ${count(tasks)} tasks (RUNNING after ${fmtMs(launched.ms)})`, withTasks);
        if (launched.others.size > 0) line('other task states seen', JSON.stringify(Object.fromEntries(launched.others)));
        const perAgentRss = (withAgents.rssKiB - idle.rssKiB) / memoryAgents;
        const perAgentHeap = (withAgents.heapUsedKiB - idle.heapUsedKiB) / memoryAgents;
        const perTaskRss = (withTasks.rssKiB - withAgents.rssKiB) / tasks;
        const perTaskHeap = (withTasks.heapUsedKiB - withAgents.heapUsedKiB) / tasks;
        line('per agent: RSS / heap used', `${fmtKiB(perAgentRss)} / ${fmtKiB(perAgentHeap)}   target RSS ≤ ${TARGET_PER_AGENT_KIB} KB: ${verdict(perAgentRss, TARGET_PER_AGENT_KIB)}`);
        line('per task: RSS / heap used', `${fmtKiB(perTaskRss)} / ${fmtKiB(perTaskHeap)}   target RSS ≤ ${TARGET_PER_TASK_KIB} KB: ${verdict(perTaskRss, TARGET_PER_TASK_KIB)}`);
        const bareRss = (bare.loaded.rssKiB - bare.idle.rssKiB) / bare.streams;
        const bareHeap = (bare.loaded.heapUsedKiB - bare.idle.heapUsedKiB) / bare.streams;
        line(`baseline: bare grpc-js, ${count(bare.streams)} idle streams`, `RSS ${fmtKiB(bare.idle.rssKiB)} -> ${fmtKiB(bare.loaded.rssKiB)}; per stream RSS ${fmtKiB(bareRss)}, heap ${fmtKiB(bareHeap)}`);
        line('per agent beyond the bare stream: RSS / heap', `${fmtKiB(perAgentRss - bareRss)} / ${fmtKiB(perAgentHeap - bareHeap)}`);
        await measureState(master, `${count(memoryAgents)} agents × ${tasksPerAgent} tasks`, memoryAgents);
        const afterState = await settledMemory(master);
        memoryLine('after the /state window', afterState);
        line('  /state caches and leftovers, per agent', `RSS ${fmtKiB((afterState.rssKiB - withTasks.rssKiB) / memoryAgents)}, heap ${fmtKiB((afterState.heapUsedKiB - withTasks.heapUsedKiB) / memoryAgents)}`);
      } finally {
        launched.client.close();
      }
    } finally {
      await fleet.stop('SIGTERM', 60_000);
    }
  } finally {
    await stopMaster(master);
  }
}

async function stateSection(agents: number): Promise<void> {
  const master = await startMasterProcess({ core: 0, nodeArgs: masterNodeArgs() });
  try {
    await sleep(1000);
    const idle = await settledMemory(master);
    const fleet = await startFleetProcess({ master: master.address, masterWorkDir: master.workDir, agents, core: 1, nodeArgs: FLEET_NODE_ARGS });
    try {
      await sleep(2000);
      const loaded = await settledMemory(master);
      console.log(`\nMaster with ${count(agents)} agents (registered after ${fleet.registeredAfterS} s)`);
      line('RSS idle -> with agents', `${fmtKiB(idle.rssKiB)} -> ${fmtKiB(loaded.rssKiB)} (${fmtKiB((loaded.rssKiB - idle.rssKiB) / agents)} per agent; heap ${fmtKiB((loaded.heapUsedKiB - idle.heapUsedKiB) / agents)})`);
      await measureState(master, `${count(agents)} agents, no frameworks or tasks`, agents);
    } finally {
      await fleet.stop('SIGTERM', 60_000);
    }
  } finally {
    await stopMaster(master);
  }
}

console.log('Master memory and GET /state (bench/state.ts)');
console.log(machineLine());
console.log(`command: node dist/bench/state.js ${argv.join(' ')}`.trimEnd());
// The pollers and the framework share core 1 with the fleet: the master keeps core 0 to itself.
const pinned = pinSelf(1);
console.log(`master pinned to core 0, fleet and this process (the pollers, the framework) to core 1${pinned ? '' : ' (NOT pinned: no taskset or one core)'}`);
if (!argv.includes('--no-memory')) await memorySection();
for (const agents of agentCounts) await stateSection(agents);
console.log(`\n${machineLine()}`);
