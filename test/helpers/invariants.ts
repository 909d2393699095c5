/**
 * The invariants every fault test ends with, read from the framework processes' event lines and
 * the master's /state: each task's updates, as the framework saw them, move only forward and reach
 * at most one terminal state (exactly one for tasks that ended), and no agent has more used and
 * offered than it has.
 */
import { add, contains, parseResources } from '../../src/common/resources.js';
import type { ClusterStateView } from '../../src/common/state-view.js';
import type { NodeProcess } from './processes.js';

export const TERMINAL = new Set(['FINISHED', 'FAILED', 'KILLED', 'ERROR', 'DROPPED', 'GONE', 'LOST']);

const ORDER = ['STARTING', 'RUNNING', 'KILLING'];
const rank = (state: string) => (TERMINAL.has(state) ? ORDER.length : ORDER.indexOf(state));

/**
 * The updates the framework saw, per task, in order, one per uuid (duplicates collapsed), across
 * every process the framework ran as: the agents' and the ones the master decided (both carry a
 * uuid; reconciliation answers do not, and repeat what is known).
 */
export function updatesByTask(...processes: NodeProcess[]): Map<string, { state: string; uuid: string; source: string }[]> {
  const out = new Map<string, { state: string; uuid: string; source: string }[]>();
  for (const e of processes.flatMap((p) => p.events())) {
    if (e['event'] !== 'update' || typeof e['uuid'] !== 'string' || !e['uuid']) continue;
    const list = out.get(String(e['taskId'])) ?? [];
    if (!list.some((u) => u.uuid === e['uuid'])) list.push({ state: String(e['state']), uuid: e['uuid'], source: String(e['source']) });
    out.set(String(e['taskId']), list);
  }
  return out;
}

/** The latest state the framework saw of a task, reconciliation answers included. */
export function latestState(fw: NodeProcess, taskId: string): unknown {
  return [...fw.events()].reverse().find((e) => e['event'] === 'update' && e['taskId'] === taskId)?.['state'];
}

export function checkInvariants(t: { ok(value: unknown, message?: string): void }, s: ClusterStateView, framework: NodeProcess[], { frameworkGone = false } = {}): void {
  // A framework removed for good never hears of its tasks' end: nothing to see there.
  const ended = new Set(frameworkGone ? [] : s.frameworks.concat(s.completedFrameworks).flatMap((f) => f.completedTasks.map((x) => x.id)));
  for (const [taskId, updates] of updatesByTask(...framework)) {
    const seen = updates.map((u) => u.state);
    const terminal = seen.filter((x) => TERMINAL.has(x)).length;
    t.ok(ended.has(taskId) ? terminal === 1 : terminal === 0, `task ${taskId}: ${ended.has(taskId) ? 'exactly one' : 'no'} terminal state (${seen.join(' > ')})`);
    t.ok(seen.every((x, i) => i === 0 || x === 'UNREACHABLE' || seen[i - 1] === 'UNREACHABLE' || rank(x) >= rank(seen[i - 1]!)), `task ${taskId}: updates in order`);
  }
  for (const a of s.agents) {
    const committed = add(parseResources(a.used), parseResources(a.offered));
    t.ok(contains(parseResources(a.resources), committed), `agent ${a.hostname}: used + offered (${a.used} + ${a.offered}) within ${a.resources}`);
  }
}
