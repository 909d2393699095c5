/**
 * Allocator benchmark (not a test): the shapes of Mesos' allocator benchmarks, timed on one core.
 *
 *   npm run bench:allocator                 # the full matrix (long: see --budget-s)
 *   npm run bench:allocator -- --quick      # 1k×100 and 10k×1k only, plus the quota shape
 *   node dist/bench/allocator.js [--quick] [--budget-s N] [--max-rounds N] [--only 10000x100,1000x1000]
 *
 * DeclineOffers (Mesos' HierarchicalAllocator_BENCHMARK_Test.DeclineOffers): every agent is
 * `cpus:24;mem:4096;disk:4096;ports:[31000-32000]` with one task already running on it; all
 * frameworks are in role `*` and decline every offer they get with a one-day filter. A round is one
 * `allocate(now)` (timed) followed by declining every offer (not timed). Each agent gains one filter
 * per round, so reaching the state where everything is filtered takes about one round per
 * framework; a configuration stops there, or when its time budget runs out (say so in the output).
 *
 * Quota (Mesos' quota benchmark): 3,000 agents `cpus:2;mem:2048`, 2,500 roles with a 1-cpu
 * guarantee and 500 with a 4-cpu guarantee, one framework per role: the first cycle, then a cycle
 * in which nothing changed.
 *
 * Single-threaded, one process; garbage is collected between configurations, not between rounds
 * (the garbage a round makes is part of its cost). A same-run baseline (a trivial pass over agent objects) is printed
 * first so figures can be compared across machines as ratios.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { parseResources, scalar, type Resources } from '../src/common/resources.js';
import { Allocator } from '../src/master/allocator/allocator.js';

const DAY_MS = 86_400_000;
const CYCLE_MS = 1_000;
const START = Date.UTC(2030, 0, 1);

const AGENT = parseResources('cpus:24;mem:4096;disk:4096;ports:[31000-32000]');
const TASK = parseResources('cpus:1;mem:512;ports:[31000-31000]');

interface Args {
  quick: boolean;
  budgetMs: number;
  maxRounds: number;
  /** `AGENTSxFRAMEWORKS` configurations to run instead of the matrix (`--only 10000x100`). */
  only: string[];
}

function parseArgs(argv: readonly string[]): Args {
  const quick = argv.includes('--quick');
  const value = (flag: string): number | undefined => {
    const i = argv.indexOf(flag);
    const v = i >= 0 ? Number(argv[i + 1]) : undefined;
    if (v !== undefined && !(v > 0)) throw new Error(`${flag} needs a positive number`);
    return v;
  };
  return {
    quick,
    budgetMs: (value('--budget-s') ?? (quick ? 30 : 90)) * 1000,
    maxRounds: value('--max-rounds') ?? Infinity,
    only: argv.flatMap((a, i) => (argv[i - 1] === '--only' ? a.split(',') : [])),
  };
}

const ms = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(x < 10 ? 2 : 1)} ms`);
const us = (x: number): string => `${x.toFixed(x < 10 ? 2 : 1)} µs`;
const count = (n: number): string => n.toLocaleString('en-US');
const line = (label: string, value: string): void => console.log(`  ${label.padEnd(34)} ${value}`);

v8.setFlagsFromString('--expose-gc');
/** A full collection, run before a configuration so garbage left by the previous one is not timed. */
const collectGarbage = vm.runInNewContext('gc') as () => void;

function timed<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const out = f();
  return [out, performance.now() - t0];
}

/**
 * Like `timed`, plus the process's CPU time (user + system, ms): on a busy machine the wall time
 * includes waiting for a core, the CPU time does not (it does include V8's helper threads).
 */
function timedCpu<T>(f: () => T): [T, number, number] {
  const c0 = process.cpuUsage();
  const [out, wall] = timed(f);
  const c = process.cpuUsage(c0);
  return [out, wall, (c.user + c.system) / 1000];
}

// ---- baseline -------------------------------------------------------------------------------

/** A trivial pass over 10k agent-like objects reading one field: the machine's yardstick. */
function baseline(): void {
  const agents = Array.from({ length: 10_000 }, (_, i) => ({ id: `agent-${i}`, total: AGENT, available: AGENT as Resources, active: true, version: i }));
  let sink = 0;
  const pass = () => {
    for (const a of agents) sink += a.version;
  };
  for (let i = 0; i < 200; i++) pass(); // warm up
  const passes = 2_000;
  const [, elapsed] = timed(() => {
    for (let i = 0; i < passes; i++) pass();
  });
  const perPass = elapsed / passes;
  console.log('baseline (same run)');
  line('pass over 10,000 agent objects', `${us(perPass * 1000)} (${((perPass * 1e6) / agents.length).toFixed(2)} ns/agent)`);
  if (sink === -1) console.log(''); // keep the loop from being optimised away
}

// ---- DeclineOffers --------------------------------------------------------------------------

interface Published {
  mesos: string;
  target?: string;
}

const PUBLISHED: Record<string, Published> = {
  '10000x1000': { mesos: '1.06 s per cycle', target: 'under 0.25 s per cycle' },
  '10000x3000': { mesos: '2.4–2.8 s per cycle' },
};

function declineOffers(agents: number, frameworks: number, args: Args): void {
  console.log(`\nDeclineOffers: ${count(agents)} agents × ${count(frameworks)} frameworks (role *, every offer declined for a day)`);
  const allocator = new Allocator();
  const [, setup] = timed(() => {
    for (let f = 0; f < frameworks; f++) allocator.addFramework(`framework-${f}`, ['*']);
    for (let a = 0; a < agents; a++) {
      allocator.addAgent(`agent-${a}`, AGENT, [{ frameworkId: `framework-${a % frameworks}`, role: '*', resources: TASK }]);
    }
  });
  line('setup (add frameworks and agents)', ms(setup));
  collectGarbage();

  const rounds: { ms: number; cpu: number; offers: number }[] = [];
  let declineMs = 0;
  let now = START;
  const began = performance.now();
  let steady = false;
  while (rounds.length < args.maxRounds && performance.now() - began < args.budgetMs) {
    now += CYCLE_MS;
    const [offers, elapsed, cpu] = timedCpu(() => allocator.allocate(now));
    if (offers.length === 0) {
      steady = true;
      rounds.push({ ms: elapsed, cpu, offers: 0 });
      break;
    }
    rounds.push({ ms: elapsed, cpu, offers: offers.length });
    const [, declining] = timed(() => {
      for (const o of offers) allocator.recover(o.agentId, o.frameworkId, o.role, o.resources, now + DAY_MS);
    });
    declineMs += declining;
  }
  const offering = rounds.filter((r) => r.offers > 0);
  const mean = offering.reduce((s, r) => s + r.ms, 0) / Math.max(1, offering.length);
  const meanCpu = offering.reduce((s, r) => s + r.cpu, 0) / Math.max(1, offering.length);
  const slowest = offering.reduce((m, r) => Math.max(m, r.ms), 0);
  const offers = offering.reduce((s, r) => s + r.offers, 0);
  line('rounds measured', `${offering.length} with offers${steady ? ' + 1 with none (everything filtered)' : ` (budget reached; everything filtered needs about ${count(frameworks + 1)})`}`);
  line('offers made', `${count(offers)} (${count(offering[0]?.offers ?? 0)} in the first round)`);
  line('mean round (allocate only)', `${ms(mean)} (${us((mean * 1000) / agents)}/agent)`);
  line('mean round, CPU time', ms(meanCpu));
  line('first round', ms(offering[0]?.ms ?? 0));
  line('last round with offers', `${ms(offering.at(-1)?.ms ?? 0)} (round ${offering.length})`);
  line('slowest round', ms(slowest));
  line('declining (recover, not in cycle)', `${ms(declineMs / Math.max(1, offering.length))} per round`);
  if (steady) {
    const filtered = rounds.at(-1)!.ms;
    line('first everything-filtered cycle', `${ms(filtered)} (${us((filtered * 1000) / agents)}/agent)`);
    const samples: number[] = [];
    collectGarbage();
    for (let i = 0; i < 5; i++) {
      now += CYCLE_MS;
      const [made, elapsed] = timed(() => allocator.allocate(now));
      if (made.length > 0) throw new Error(`a steady-state cycle made ${made.length} offers`);
      samples.push(elapsed);
    }
    const steadyMs = samples.reduce((s, x) => s + x, 0) / samples.length;
    line('steady-state cycle (mean of 5)', `${ms(steadyMs)} (${us((steadyMs * 1000) / agents)}/agent, ${count(allocator.lastSkippedAgents)} agents skipped)`);
  } else {
    line('steady-state cycle', 'not reached within the budget');
  }
  const published = PUBLISHED[`${agents}x${frameworks}`];
  if (published) {
    line('Mesos (published, same shape)', published.mesos);
    if (published.target) line('Orbit target', published.target);
  }
}

// ---- quota ----------------------------------------------------------------------------------

function quotaShape(): void {
  console.log('\nQuota: 3,000 agents cpus:2;mem:2048; 2,500 roles with guarantee cpus:1 and 500 with cpus:4; one framework per role');
  const allocator = new Allocator();
  const roles: string[] = [];
  for (let i = 0; i < 2_500; i++) roles.push(`small-${String(i).padStart(4, '0')}`);
  for (let i = 0; i < 500; i++) roles.push(`large-${String(i).padStart(3, '0')}`);
  const [, setup] = timed(() => {
    for (const role of roles) {
      allocator.setQuota(role, { guarantee: { cpus: role.startsWith('small') ? 1 : 4 }, limit: {} });
      allocator.addFramework(`framework-${role}`, [role]);
    }
    const agent = parseResources('cpus:2;mem:2048');
    for (let a = 0; a < 3_000; a++) allocator.addAgent(`agent-${a}`, agent);
  });
  line('setup', ms(setup));
  collectGarbage();
  const [first, firstMs, firstCpu] = timedCpu(() => allocator.allocate(START));
  const met = roles.filter((r) => (allocator.roleAllocation(r)['cpus'] ?? 0) >= (allocator.quota(r)?.guarantee['cpus'] ?? 0)).length;
  // Offers made while their role was still short of its guarantee (Mesos' 3,500 allocations), and the rest.
  const given = new Map<string, number>();
  let towardGuarantees = 0;
  for (const o of first) {
    const before = given.get(o.role) ?? 0;
    if (before < (allocator.quota(o.role)?.guarantee['cpus'] ?? 0)) towardGuarantees++;
    given.set(o.role, before + scalar(o.resources, 'cpus'));
  }
  line('first cycle', `${ms(firstMs)} (CPU time ${ms(firstCpu)}), ${count(first.length)} offers`);
  line('  of which toward guarantees', `${count(towardGuarantees)} (${count(met)} of ${count(roles.length)} guarantees met)`);
  line('Mesos (published)', '15.3 s for 3,500 allocations');
  line('Orbit target', 'under 1.5 s');
  collectGarbage();
  const [second, secondMs, secondCpu] = timedCpu(() => allocator.allocate(START + CYCLE_MS));
  line('empty cycle (nothing changed)', `${ms(secondMs)} (CPU time ${ms(secondCpu)}), ${count(second.length)} offers`);
  const more: number[] = [];
  for (let i = 2; i <= 6; i++) {
    const [made, elapsed] = timed(() => allocator.allocate(START + i * CYCLE_MS));
    if (made.length > 0) throw new Error(`an empty cycle made ${made.length} offers`);
    more.push(elapsed);
  }
  line('next 5 empty cycles (mean)', ms(more.reduce((s, x) => s + x, 0) / more.length));
  line('Mesos (published)', '13–14 s');
  line('Orbit target', 'under 50 ms');
}

// ---- main -----------------------------------------------------------------------------------

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log('Orbit allocator benchmark');
  console.log(`machine: ${cpu.trim()}, ${os.cpus().length} cores (one used), ${Math.round(os.totalmem() / 2 ** 30)} GiB`);
  console.log(`node: ${process.version}`);
  console.log(`date: ${new Date().toISOString()}`);
  console.log(`load average at start: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on the machine inflates wall times)`);
  console.log(`mode: ${args.quick ? 'quick' : 'full'}; budget per DeclineOffers configuration ${args.budgetMs / 1000} s${Number.isFinite(args.maxRounds) ? `, at most ${args.maxRounds} rounds` : ''}\n`);
  baseline();
  // --only takes AGENTSxFRAMEWORKS entries and/or `quota`.
  for (const c of args.only) {
    if (c !== 'quota' && !/^\d+x\d+$/.test(c)) throw new Error(`--only: expected AGENTSxFRAMEWORKS (e.g. 10000x1000) or quota, got '${c}'`);
  }
  const picked = args.only.filter((c) => c !== 'quota');
  const matrix: [number, number][] = args.only.length > 0
    ? picked.map((c) => c.split('x').map(Number) as [number, number])
    : args.quick
    ? [[1_000, 100], [10_000, 1_000]]
    : [[1_000, 100], [1_000, 1_000], [1_000, 3_000], [10_000, 100], [10_000, 1_000], [10_000, 3_000], [50_000, 100], [50_000, 1_000], [50_000, 3_000]];
  for (const [agents, frameworks] of matrix) declineOffers(agents, frameworks, args);
  if (args.only.length === 0 || args.only.includes('quota')) quotaShape();
  console.log(`\nload average at end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

main();
