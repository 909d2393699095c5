/**
 * Counts and totals read off the master's books, for the operator surface: Prometheus gauges at
 * scrape time, utilisation samples for the dashboard chart, the dashboard's headline numbers.
 * Read-only, and O(agents + tasks) per call: callers decide how often (a scrape, a sample every
 * few seconds, a dashboard tick) — never per message.
 */
import { isTerminal, type TaskState } from '../common/tasks.js';
import type { AgentStatusView } from '../common/state-view.js';
import type { Resources } from '../common/resources.js';
import { SHARE_KINDS, type Scalars } from '../common/scalars.js';
import type { MasterView } from './master-view.js';

export interface ResourceTotals {
  /** Every registered agent's resources (reserved and unreserved alike). */
  total: Scalars;
  /** Held by tasks that have not ended. */
  used: Scalars;
  /** In outstanding offers. */
  offered: Scalars;
}

export interface ClusterSummary {
  agents: Record<AgentStatusView, number>;
  frameworks: { active: number; disconnected: number; removed: number };
  /**
   * Tasks the master knows by state: active ones, and terminal ones still kept in the live
   * frameworks' completed lists (bounded per framework).
   */
  tasks: Record<TaskState, number>;
  /** Tasks that have not reached a terminal state. */
  activeTasks: number;
  resources: ResourceTotals;
  offersOutstanding: number;
}

function zeroScalars(): Scalars {
  const out: Scalars = {};
  for (const kind of SHARE_KINDS) out[kind] = 0;
  return out;
}

/** Adds every scalar of `resources` into `acc`, by name, unrounded (the hot loop of resourceTotals). */
function addScalarsInto(acc: Scalars, resources: Resources): void {
  for (const r of resources) if (r.kind === 'scalar') acc[r.name] = (acc[r.name] ?? 0) + (r.scalar ?? 0);
}

function roundScalars(a: Scalars): Scalars {
  for (const [k, v] of Object.entries(a)) a[k] = Math.round(v * 1000) / 1000;
  return a;
}

/**
 * Sums every agent's total, used and offered scalars; always has cpus, mem, disk and gpus.
 * Sums first and rounds once: no per-agent objects (10,000 agents take a few milliseconds).
 */
export function resourceTotals(view: MasterView): ResourceTotals {
  const totals: ResourceTotals = { total: zeroScalars(), used: zeroScalars(), offered: zeroScalars() };
  for (const agent of view.agents()) {
    addScalarsInto(totals.total, agent.info.resources);
    addScalarsInto(totals.used, view.usedOn(agent.info.id));
    addScalarsInto(totals.offered, view.offeredOn(agent.info.id));
  }
  roundScalars(totals.total);
  roundScalars(totals.used);
  roundScalars(totals.offered);
  return totals;
}

/**
 * Zero for every task state, so a state with no tasks still shows up (as 0). A literal, not built
 * from TASK_STATES: the compiler checks it has every state, and the engine keeps it a fast object.
 */
export function emptyTaskCounts(): Record<TaskState, number> {
  return { STAGING: 0, STARTING: 0, RUNNING: 0, KILLING: 0, UNREACHABLE: 0, FINISHED: 0, FAILED: 0, KILLED: 0, ERROR: 0, DROPPED: 0, GONE: 0, LOST: 0 };
}

/** Counts agents, frameworks and tasks and sums the resources, in one pass over the books. */
export function summarizeCluster(view: MasterView): ClusterSummary {
  const agents: Record<AgentStatusView, number> = { active: 0, disconnected: 0, unreachable: 0, draining: 0, drained: 0 };
  for (const agent of view.agents()) agents[view.agentStatus(agent)] += 1;
  const tasks = emptyTaskCounts();
  const frameworks = { active: 0, disconnected: 0, removed: view.removedFrameworks().length };
  let activeTasks = 0;
  for (const framework of view.frameworks()) {
    frameworks[framework.state === 'subscribed' ? 'active' : 'disconnected'] += 1;
    for (const task of view.tasksOf(framework.info.id)) {
      tasks[task.state] += 1;
      if (!isTerminal(task.state)) activeTasks += 1;
    }
    for (const task of view.endedOf(framework.info.id)) tasks[task.state] += 1;
  }
  return { agents, frameworks, tasks, activeTasks, resources: resourceTotals(view), offersOutstanding: view.offerCount() };
}
