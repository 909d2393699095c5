/**
 * The chaos run (not part of `npm test`): for a bounded time, a framework keeps N tasks running on
 * three agents while agents, the master and the framework itself are killed -9 and restarted at
 * random, and agents are killed within milliseconds of a launch going to them. At the end it
 * prints tasks launched, lost (must be 0: a task that died of a fault, or whose end the framework
 * never heard), duplicate terminal updates (must be 0) and the longest time the framework saw
 * fewer than N tasks running. A launch dropped because its agent died before it arrived is not
 * lost: the framework is told (TASK_DROPPED) and launches again.
 *
 *   npm run bench:chaos [-- --seconds 60 --tasks 6 --seed 7] [--ha]
 *
 * With --ha, three masters share an etcd (started here) and "kill -9 master" kills whichever
 * leads; the agents and the framework are given the list and follow the leader.
 *
 * Everything runs as real processes on 127.0.0.1; everything it starts it stops by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { orbitV1 } from '../src/common/proto.js';
import { benchFetch } from './lib/security.js';
import { channelCredentials, CHANNEL_OPTIONS } from '../src/common/connection.js';
import { adminCredentialsPath, adminOf, joinTokenOf } from './lib/security.js';
import { startBenchEtcd, type BenchEtcd } from './lib/etcd.js';
import { makeBenchCa, type BenchCa } from './lib/ha.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, tasks: { type: 'string', default: '6' }, seed: { type: 'string', default: '7' }, ha: { type: 'boolean', default: false } } });
const HA = values.ha === true;
const SECONDS = Number(values.seconds);
const TASKS = Number(values.tasks);
let seed = Number(values.seed) >>> 0 || 7;
/** xorshift32, seeded: the same seed gives the same sequence of faults. */
const random = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

interface Proc {
  name: string;
  args: string[];
  child?: ChildProcess;
  events: Record<string, unknown>[];
}

/** The repo root: this file runs compiled, from dist/bench/. */
const repo = fileURLToPath(new URL('../..', import.meta.url));

function start(p: Proc): void {
  const child = spawn(process.execPath, p.args, { cwd: repo, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env } });
  p.child = child;
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        p.events.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // Not an event line.
      }
    }
  });
}

function kill(p: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const child = p.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('close', () => resolve());
    child.kill(signal);
  });
}

/** Ids of the tasks the master has active now. */
async function activeTasks(httpPort: number): Promise<Set<string>> {
  const state = (await (await benchFetch(`http://127.0.0.1:${httpPort}/state`)).json()) as { frameworks: { tasks: { id: string }[] }[] };
  return new Set(state.frameworks.flatMap((f) => f.tasks.map((t) => t.id)));
}

/** The master that says it leads (HA), or the only one; undefined while none does. */
async function leaderOf(masters: { proc: Proc; port: number; httpPort: number }[]): Promise<{ proc: Proc; port: number; httpPort: number } | undefined> {
  if (masters.length === 1) return masters[0];
  for (const m of masters) {
    const health = (await benchFetch(`http://127.0.0.1:${m.httpPort}/health`).then((r) => r.json() as Promise<{ role?: string }>).catch(() => undefined));
    if (health?.role === 'leader') return m;
  }
  return undefined;
}

/** Started for --ha; stopped at the end, or on an error. */
let etcd: BenchEtcd | undefined;
let ca: BenchCa | undefined;

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'orbit-chaos-'));
  // Process tasks run as nobody: they must be able to reach their sandboxes under the work dir.
  chmodSync(work, 0o711);
  const cli = join(repo, 'bin/orbit.js');
  if (HA) {
    etcd = await startBenchEtcd();
    ca = await makeBenchCa();
  }
  const masters: { proc: Proc; port: number; httpPort: number }[] = [];
  for (let i = 0; i < (HA ? 3 : 1); i++) {
    const [port, httpPort] = [await freePort(), await freePort()];
    const dir = join(work, HA ? `master${i}` : 'master');
    const ha = HA ? ['--registry', etcd!.url, ...ca!.masterFlags] : [];
    masters.push({ port, httpPort, proc: { name: HA ? `master${i}` : 'master', args: [cli, 'master', '--port', String(port), '--http-port', String(httpPort), '--work-dir', dir, '--allocation-interval', '0.2', '--agent-ping-timeout', '1', '--max-agent-ping-misses', '5', '--log-level', 'error', ...ha], events: [] } });
  }
  const master = masters.map((m) => `127.0.0.1:${m.port}`).join(',');
  const agents: Proc[] = [];
  for (let i = 0; i < 3; i++) {
    agents.push({
      name: `agent${i}`,
      args: [cli, 'agent', '--master', master, '--work-dir', join(work, `agent${i}`), '--http-port', String(await freePort()), '--hostname', `chaos-${i}`, '--containerizers', 'process', '--resources', 'cpus:2;mem:1024', '--kill-tasks-on-exit', '--log-level', 'error'],
      events: [],
    });
  }
  const keeper: Proc = { name: 'framework', args: [join(repo, 'bench/chaos-keeper.mjs'), '--master', master, '--state', join(work, 'keeper.json'), '--tasks', String(TASKS)], events: [] };
  const keeperRuns: Proc[] = [];
  const startKeeper = () => {
    const run: Proc = { ...keeper, events: [] };
    keeperRuns.push(run);
    start(run);
    return run;
  };

  console.log(`# bench/chaos — ${new Date().toISOString()} — ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}`);
  console.log(`# ${SECONDS} s of faults, ${TASKS} tasks on 3 agents, ${HA ? '3 masters on etcd (kill -9 master: the leader)' : '1 master'}, seed ${values.seed}`);
  for (const m of masters) start(m.proc);
  await sleep(1_000);
  const masterDir = join(work, 'master');
  if (HA) {
    // One CA for the three masters: the agents use a certificate it signed, the keeper an operator's.
    process.env.ORBIT_CREDENTIALS = ca!.operatorCredentialsPath;
    for (const a of agents) a.args.splice(a.args.indexOf('--master'), 0, '--credentials', ca!.agentCredentialsPath);
    while (!(await leaderOf(masters))) await sleep(100);
  } else {
    // The agents join with the master's first token; the keeper and the clean-up act as its admin.
    while (!existsSync(join(masterDir, 'security', 'join-token'))) await sleep(100);
    process.env.ORBIT_CREDENTIALS = adminCredentialsPath(masterDir);
    for (const a of agents) a.args.splice(a.args.indexOf('--master'), 0, '--join', joinTokenOf(masterDir));
  }
  for (const a of agents) start(a);
  let current = startKeeper();

  // Wait until the framework first has all its tasks running, then start the faults.
  const runningCount = () => Number([...keeperRuns.at(-1)!.events].reverse().find((e) => e['event'] === 'running')?.['count'] ?? 0);
  for (let i = 0; i < 300 && runningCount() < TASKS; i++) await sleep(100);

  const faults: string[] = [];
  const end = Date.now() + SECONDS * 1000;
  while (Date.now() < end) {
    await sleep(3_000 + random() * 4_000);
    const pick = random();
    if (pick < 0.3) {
      // The framework kills a task and launches another; the agent that launch goes to dies at once.
      const before = current.events.length;
      current.child?.kill('SIGUSR1');
      let launched: Record<string, unknown> | undefined;
      for (let i = 0; i < 2_000 && !launched; i++) {
        launched = current.events.slice(before).find((e) => e['event'] === 'launched');
        if (!launched) await sleep(5);
      }
      const a = agents.find((x) => x.args.includes(String(launched?.['hostname'])));
      if (!a) continue;
      const seenAt = Date.now();
      await kill(a);
      faults.push(`kill -9 ${a.name} ${Date.now() - seenAt} ms after a launch to it`);
      await sleep(500 + random() * 2_000);
      start(a);
    } else if (pick < 0.55) {
      const a = agents[Math.floor(random() * agents.length)]!;
      faults.push(`kill -9 ${a.name}`);
      await kill(a);
      await sleep(500 + random() * 2_000);
      start(a);
    } else if (pick < 0.75) {
      const leader = await leaderOf(masters);
      if (!leader) continue;
      faults.push(`kill -9 ${HA ? `${leader.proc.name} (the leader)` : 'master'}`);
      await kill(leader.proc);
      await sleep(500 + random() * 1_500);
      start(leader.proc);
    } else {
      faults.push('kill -9 framework');
      await kill(current);
      await sleep(500 + random() * 1_500);
      current = startKeeper();
    }
  }
  // Let the cluster heal before judging it.
  const settleUntil = Date.now() + 30_000;
  while (Date.now() < settleUntil && runningCount() < TASKS) await sleep(250);
  await sleep(2_000);

  // ---- the verdict ----
  const events = keeperRuns.flatMap((r) => r.events);
  const launched = new Set(events.filter((e) => e['event'] === 'launched').map((e) => String(e['taskId'])));
  const terminal = new Map<string, Set<string>>();
  const finalState = new Map<string, string>();
  const TERMINAL = new Set(['FINISHED', 'FAILED', 'KILLED', 'ERROR', 'DROPPED', 'GONE', 'LOST']);
  for (const e of events) {
    if (e['event'] !== 'update') continue;
    const id = String(e['taskId']);
    finalState.set(id, String(e['state']));
    // Reconciliation answers repeat a known state on purpose; they are not deliveries.
    if (TERMINAL.has(String(e['state'])) && e['reason'] !== 'RECONCILIATION') {
      const seen = terminal.get(id) ?? new Set<string>();
      seen.add(`${e['state']}:${e['uuid'] ?? 'master'}`);
      terminal.set(id, seen);
    }
  }
  const duplicates = [...terminal.values()].filter((s) => s.size > 1).length;
  // Lost: a task that died of a fault (LOST, GONE), or one whose end the framework never heard
  // while the master no longer runs it. A DROPPED launch was told and launched again.
  let leader = await leaderOf(masters);
  for (let i = 0; i < 100 && !leader; i++) {
    await sleep(100);
    leader = await leaderOf(masters);
  }
  if (!leader) throw new Error('no master leads at the end');
  const active = await activeTasks(leader.httpPort);
  const died = [...launched].filter((id) => ['LOST', 'GONE'].includes(finalState.get(id) ?? ''));
  const unheard = [...launched].filter((id) => !terminal.has(id) && !active.has(id));
  // A LOST learned only by reconciliation is in both lists: count each task once.
  const lost = new Set([...died, ...unheard]).size;
  const dropped = [...launched].filter((id) => finalState.get(id) === 'DROPPED').length;
  // Longest stretch with fewer than TASKS running, as the framework saw it (after the first full house).
  let longestGapMs = 0;
  let gapStart: number | undefined;
  let full = false;
  for (const e of events.filter((x) => x['event'] === 'running').sort((a, b) => Number(a['t']) - Number(b['t']))) {
    const t = Number(e['t']);
    if (Number(e['count']) >= TASKS) {
      if (gapStart !== undefined) longestGapMs = Math.max(longestGapMs, t - gapStart);
      gapStart = undefined;
      full = true;
    } else if (full && gapStart === undefined) gapStart = t;
  }
  if (gapStart !== undefined) longestGapMs = Math.max(longestGapMs, Date.now() - gapStart);

  console.log(`faults: ${faults.length} (${faults.join(', ')})`);
  console.log(`tasks launched: ${launched.size}`);
  console.log(`tasks lost: ${lost} (must be 0)${lost > 0 ? `: died ${died.join(', ') || 'none'}; end never heard ${unheard.join(', ') || 'none'}` : ''}`);
  console.log(`launches dropped because their agent died first (the framework was told, and relaunched): ${dropped}`);
  console.log(`duplicate terminal updates: ${duplicates} (must be 0)`);
  console.log(`longest time with fewer than ${TASKS} tasks running in the framework's view: ${(longestGapMs / 1000).toFixed(1)} s`);
  console.log(`running at the end: ${runningCount()}/${TASKS}`);

  // Clean up: tear the framework down (its tasks are killed), then stop everything by PID.
  const frameworkId = events.find((e) => e['event'] === 'subscribed')?.['frameworkId'];
  if (frameworkId) {
    const admin = HA ? ca!.operator : adminOf(masterDir);
    const op = new (orbitV1().Operator)(`127.0.0.1:${leader.port}`, channelCredentials(admin), CHANNEL_OPTIONS);
    await new Promise((resolve) => op.TeardownFramework({ frameworkId: String(frameworkId) }, { deadline: Date.now() + 5_000 }, resolve));
    op.close();
    await sleep(2_000);
  }
  await kill(current, 'SIGTERM');
  await Promise.all(agents.map((a) => kill(a, 'SIGTERM')));
  await Promise.all(masters.map((m) => kill(m.proc, 'SIGTERM')));
  await etcd?.stop();
  if (ca) rmSync(ca.dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
  process.exitCode = lost === 0 && duplicates === 0 ? 0 : 1;
}

main().catch(async (err: unknown) => {
  console.error(`bench/chaos: ${err instanceof Error ? err.stack : String(err)}`);
  await etcd?.stop();
  process.exit(1);
});
