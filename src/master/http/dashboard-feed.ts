/**
 * What the dashboard shows, as one compact snapshot built from the books: headline counts and
 * totals, and tables capped at DASHBOARD_ROWS rows each (with the full counts beside them), so a
 * 10,000-agent cluster costs the same few hundred kilobytes as a small one. Built once per stream
 * tick for every connected browser, and only while one is connected (dashboard-stream.ts).
 */
import { formatAttributes } from '../../common/attributes.js';
import { formatResources } from '../../common/resources.js';
import type { AgentStatusView, MasterPeerView } from '../../common/state-view.js';
import { isTerminal, type TaskState } from '../../common/tasks.js';
import { toScalars, type Scalars } from '../../common/scalars.js';
import { summarizeCluster, type ClusterSummary } from '../cluster-summary.js';
import type { MasterView } from '../master-view.js';
import type { ClusterHistory, RecordedEvent, UtilisationSample } from '../history.js';
import type { FrameworkRecord, TaskRecord } from '../records.js';

/** Rows per table; the counts say how many there are in all. */
export const DASHBOARD_ROWS = 200;
/** Recently completed tasks shown under the active ones. */
export const DASHBOARD_COMPLETED_ROWS = 50;
/** Recent events shown. */
export const DASHBOARD_EVENTS = 40;

/** What the feed reads: the books plus identity and the allocator's role summaries. MasterCore satisfies it. */

export interface AgentRow {
  id: string;
  hostname: string;
  status: AgentStatusView;
  attributes: string;
  /** `host:port` of the agent's HTTP endpoint, or '' while it is not connected. */
  http: string;
  total: Scalars;
  used: Scalars;
  tasks: number;
  registeredAt: number;
}

export interface FrameworkRow {
  id: string;
  name: string;
  /** Who created it (`framework:NAME`, from its certificate). */
  principal: string;
  roles: string[];
  active: boolean;
  registeredAt: number;
  used: Scalars;
  /** Active tasks and completed ones kept, by state. */
  tasks: Partial<Record<TaskState, number>>;
}

export interface RoleRow {
  role: string;
  weight: number;
  share: number;
  allocated: Scalars;
}

export interface TaskRow {
  id: string;
  name: string;
  frameworkId: string;
  framework: string;
  agentId: string;
  hostname: string;
  state: TaskState;
  healthy?: boolean;
  createdAt: number;
  /** Time of its latest status (createdAt while it has none). */
  updatedAt: number;
  resources: string;
  kind: string;
  message: string;
}

export interface DashboardSnapshot {
  time: number;
  master: { id: string; version: string; epoch: number; startedAt: number };
  /** The cluster's masters and their health, this one (the leader) first. */
  masters: MasterPeerView[];
  summary: ClusterSummary;
  agents: { total: number; rows: AgentRow[] };
  frameworks: { total: number; rows: FrameworkRow[] };
  roles: RoleRow[];
  /** Active tasks newest first; `completed` are the most recent terminal ones. */
  tasks: { total: number; rows: TaskRow[]; completed: TaskRow[] };
  events: { total: number; rows: RecordedEvent[] };
  sample: UtilisationSample | undefined;
}

/**
 * The `k` items with the largest `key`, largest first, in one pass: a sorted window of at most
 * `k`, so n items cost O(n log k) instead of sorting them all.
 */
export function topByKey<T>(items: Iterable<T>, key: (item: T) => number, k: number): T[] {
  const window: { item: T; key: number }[] = []; // ascending by key
  for (const item of items) {
    const v = key(item);
    if (window.length >= k && v <= (window[0]?.key ?? -Infinity)) continue;
    let lo = 0;
    let hi = window.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((window[mid]?.key ?? 0) < v) lo = mid + 1;
      else hi = mid;
    }
    window.splice(lo, 0, { item, key: v });
    if (window.length > k) window.shift();
  }
  return window.reverse().map((w) => w.item);
}

function* allActiveTasks(view: MasterView): Generator<TaskRecord> {
  for (const framework of view.frameworks()) yield* view.tasksOf(framework.info.id);
}

function* recentCompleted(view: MasterView, perFramework: number): Generator<TaskRecord> {
  for (const framework of view.frameworks()) {
    const list = view.endedOf(framework.info.id);
    for (let i = Math.max(0, list.length - perFramework); i < list.length; i++) {
      const task = list[i];
      if (task) yield task;
    }
  }
}

const updatedAt = (task: TaskRecord): number => task.statuses.at(-1)?.timestamp ?? task.createdAt;

function taskRow(task: TaskRecord, view: MasterView): TaskRow {
  const latest = task.statuses.at(-1);
  const row: TaskRow = {
    id: task.spec.taskId,
    name: task.spec.name,
    frameworkId: task.frameworkId,
    framework: view.framework(task.frameworkId)?.info.name ?? '',
    agentId: task.agentId,
    hostname: view.agent(task.agentId)?.info.hostname ?? '',
    state: task.state,
    createdAt: task.createdAt,
    updatedAt: updatedAt(task),
    resources: formatResources(task.spec.resources),
    kind: task.spec.container.image ? `docker ${task.spec.container.image}` : task.spec.container.kind,
    message: latest && (isTerminal(task.state) || task.state === 'KILLING' || task.state === 'UNREACHABLE') ? latest.message : '',
  };
  if (task.healthy !== undefined) row.healthy = task.healthy;
  return row;
}

function frameworkRow(view: MasterView, framework: FrameworkRecord): FrameworkRow {
  const id = framework.info.id;
  const tasks: Partial<Record<TaskState, number>> = {};
  for (const t of view.tasksOf(id)) tasks[t.state] = (tasks[t.state] ?? 0) + 1;
  for (const t of view.endedOf(id)) tasks[t.state] = (tasks[t.state] ?? 0) + 1;
  return {
    id,
    name: framework.info.name,
    principal: framework.info.principal,
    roles: [...framework.info.roles],
    active: framework.state === 'subscribed',
    registeredAt: framework.registeredAt,
    used: toScalars(view.usedBy(id)),
    tasks,
  };
}

/** Agents that need a look (not active) first, then the rest, in registration order; at most `limit`. */
function agentRows(view: MasterView, limit: number): AgentRow[] {
  const troubled: AgentRow[] = [];
  const fine: AgentRow[] = [];
  for (const agent of view.agents()) {
    const status = view.agentStatus(agent);
    const list = status === 'active' ? fine : troubled;
    if (list.length >= limit) continue;
    const address = agent.state === 'active' ? agent.address : '';
    list.push({
      id: agent.info.id,
      hostname: agent.info.hostname,
      status,
      attributes: formatAttributes(agent.info.attributes),
      http: address ? `${address.includes(':') ? `[${address}]` : address}:${agent.info.httpPort}` : '',
      total: toScalars(agent.info.resources),
      used: toScalars(view.usedOn(agent.info.id)),
      tasks: view.tasksOn(agent.info.id),
      registeredAt: agent.registeredAt,
    });
  }
  return [...troubled, ...fine].slice(0, limit);
}

export interface SnapshotOptions {
  version: string;
  now: number;
  masters?: MasterPeerView[];
  rows?: number;
}

/** The dashboard's view of the cluster now. */
export function dashboardSnapshot(source: MasterView, history: ClusterHistory, options: SnapshotOptions): DashboardSnapshot {
  const rows = options.rows ?? DASHBOARD_ROWS;
  const summary = summarizeCluster(source);
  const active = topByKey(allActiveTasks(source), (t) => t.createdAt, rows);
  const completed = topByKey(recentCompleted(source, DASHBOARD_COMPLETED_ROWS), updatedAt, DASHBOARD_COMPLETED_ROWS);
  const frameworks = [...source.frameworks()];
  return {
    time: options.now,
    master: { id: source.masterId, version: options.version, epoch: source.epoch, startedAt: source.startedAt },
    masters: options.masters ?? [],
    summary,
    agents: { total: source.agentCount(), rows: agentRows(source, rows) },
    frameworks: { total: frameworks.length, rows: frameworks.slice(0, rows).map((f) => frameworkRow(source, f)) },
    roles: source.roleSummaries().map((r) => ({ role: r.role, weight: r.weight, share: Math.round(r.share * 10_000) / 10_000, allocated: r.allocated })),
    tasks: { total: summary.activeTasks, rows: active.map((t) => taskRow(t, source)), completed: completed.map((t) => taskRow(t, source)) },
    events: { total: history.eventCount, rows: history.events(DASHBOARD_EVENTS) },
    sample: history.latestSample(),
  };
}
