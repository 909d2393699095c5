/**
 * Fairness over time: frameworks that keep launching identical tasks from their offers end up
 * with equal dominant shares (or shares in the ratio of their roles' weights). Tasks are
 * `cpus:1;mem:128` on agents of `cpus:4;mem:4096`, so cpus are every framework's dominant
 * resource and a task count stands for a dominant share.
 */
import t from 'tap';
import { contains, subtract, type Resources } from '../../src/common/resources.js';
import { Allocator } from '../../src/master/allocator/allocator.js';
import { res } from '../helpers/builders.js';

const START = 1_700_000_000_000;
const CYCLE_MS = 1_000;
/** The filter a framework puts on what it did not use: shorter than a cycle. */
const REFUSE_MS = 500;
const TASK = res('cpus:1;mem:128');

interface Options {
  /** framework id → its role. */
  frameworks: Record<string, string>;
  weights?: Record<string, number>;
  agents?: number;
  cycles: number;
  /** How long a task runs; tasks run for ever when omitted. */
  taskMs?: number;
  /** framework id → the cycle it subscribes at (0 when omitted). */
  arrivals?: Record<string, number>;
}

interface Task {
  frameworkId: string;
  role: string;
  agentId: string;
  endsAt: number;
}

/** Runs the cycles; returns how many tasks each framework has running at the end. */
function run(o: Options): Record<string, number> {
  const allocator = new Allocator();
  for (const [role, weight] of Object.entries(o.weights ?? {})) allocator.setWeight(role, weight);
  for (let i = 0; i < (o.agents ?? 10); i++) allocator.addAgent(`agent${i}`, res('cpus:4;mem:4096'));
  let tasks: Task[] = [];
  for (let cycle = 0; cycle < o.cycles; cycle++) {
    const now = START + cycle * CYCLE_MS;
    for (const [id, role] of Object.entries(o.frameworks)) if ((o.arrivals?.[id] ?? 0) === cycle) allocator.addFramework(id, [role]);
    for (const task of tasks.filter((x) => x.endsAt <= now)) allocator.recover(task.agentId, task.frameworkId, task.role, TASK);
    tasks = tasks.filter((x) => x.endsAt > now);
    for (const offer of allocator.allocate(now)) {
      let rest: Resources = offer.resources;
      if (contains(rest, TASK)) {
        rest = subtract(rest, TASK);
        tasks.push({ frameworkId: offer.frameworkId, role: offer.role, agentId: offer.agentId, endsAt: now + (o.taskMs ?? Infinity) });
      }
      allocator.recover(offer.agentId, offer.frameworkId, offer.role, rest, now + REFUSE_MS);
    }
  }
  const counts: Record<string, number> = {};
  for (const id of Object.keys(o.frameworks)) counts[id] = tasks.filter((x) => x.frameworkId === id).length;
  return counts;
}

const shapes = [
  { name: 'each framework alone in its own role', frameworks: { f1: 'r1', f2: 'r2' } },
  { name: 'both frameworks in one role', frameworks: { f1: 'r', f2: 'r' } },
];

for (const shape of shapes) {
  t.test(`equal weights, ${shape.name}: long-running tasks fill the cluster within one task of equal`, async (t) => {
    const counts = run({ frameworks: shape.frameworks, cycles: 100 });
    t.equal((counts['f1'] ?? 0) + (counts['f2'] ?? 0), 40, 'the cluster is full (10 agents × 4 cpus)');
    t.ok(Math.abs((counts['f1'] ?? 0) - (counts['f2'] ?? 0)) <= 1, `f1 ${counts['f1']} vs f2 ${counts['f2']}`);
  });

  t.test(`equal weights, ${shape.name}: with tasks finishing and relaunched, they stay within one task of equal`, async (t) => {
    const counts = run({ frameworks: shape.frameworks, cycles: 500, taskMs: 37 * CYCLE_MS });
    t.ok((counts['f1'] ?? 0) + (counts['f2'] ?? 0) >= 36, 'the cluster stays busy');
    t.ok(Math.abs((counts['f1'] ?? 0) - (counts['f2'] ?? 0)) <= 1, `f1 ${counts['f1']} vs f2 ${counts['f2']}`);
  });
}

t.test('role weights 2:1 split the cluster 2:1, within one task', async (t) => {
  // 40 cpus: the ideal is 26.67 tasks for the weight-2 role and 13.33 for the other.
  const counts = run({ frameworks: { heavy: 'r1', light: 'r2' }, weights: { r1: 2 }, cycles: 100 });
  const [heavy, light] = [counts['heavy'] ?? 0, counts['light'] ?? 0];
  t.equal(heavy + light, 40);
  t.ok(Math.abs(heavy - (2 * 40) / 3) <= 1, `heavy ${heavy} vs light ${light}`);
});

t.test('role weights 2:1 hold while tasks finish and are relaunched', async (t) => {
  const counts = run({ frameworks: { heavy: 'r1', light: 'r2' }, weights: { r1: 2 }, cycles: 500, taskMs: 37 * CYCLE_MS });
  const [heavy, light] = [counts['heavy'] ?? 0, counts['light'] ?? 0];
  t.ok(heavy + light >= 36, 'the cluster stays busy');
  t.ok(Math.abs(heavy - (2 * (heavy + light)) / 3) <= 1, `heavy ${heavy} vs light ${light}`);
});

t.test('a framework that arrives late catches up to an equal share as tasks finish', async (t) => {
  // f1 fills the cluster alone; f2 subscribes at cycle 50; tasks last 20 cycles.
  const counts = run({ frameworks: { f1: 'r', f2: 'r' }, arrivals: { f2: 50 }, cycles: 300, taskMs: 20 * CYCLE_MS });
  t.ok(Math.abs((counts['f1'] ?? 0) - (counts['f2'] ?? 0)) <= 1, `f1 ${counts['f1']} vs f2 ${counts['f2']}`);
});
