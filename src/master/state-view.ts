/**
 * Builds the operator's view of the cluster (GET /state, Operator.GetState) from the core.
 *
 * Two forms of one view: `clusterStateView` (objects, synchronous; for gRPC and tests) and
 * `clusterStateJson` (the JSON text, built over several event-loop turns; for GET /state on a
 * large cluster). Both give the same text for the same books (a test checks it).
 */
import { performance } from 'node:perf_hooks';
import { formatAttributes, type Attributes } from '../common/attributes.js';
import { formatResources, type Resources } from '../common/resources.js';
import { scalarsToResources } from '../common/scalars.js';
import type { TaskState, TaskStatus } from '../common/tasks.js';
import type { AgentView, ClusterStateView, FrameworkView, MasterPeerView, RoleView, TaskView } from '../common/state-view.js';
import type { MasterView } from './master-view.js';
import type { AgentRecord, FrameworkRecord, TaskRecord } from './records.js';

export const ORBIT_VERSION = '0.1.0';

/*
 * Text forms, remembered per value. The books never change a Resources or Attributes array in
 * place (add/subtract and re-registration make new ones), so a value's text is fixed; the maps are
 * weak, so a replaced value's text goes with it. formatResources normalises as it goes and was
 * most of the cost of a large /state.
 */
const resourceTexts = new WeakMap<Resources, string>();
const attributeTexts = new WeakMap<Attributes, string>();

/** formatResources, remembered for this (never mutated) value. */
export function resourcesText(resources: Resources): string {
  let text = resourceTexts.get(resources);
  if (text === undefined) {
    text = formatResources(resources);
    resourceTexts.set(resources, text);
  }
  return text;
}

function attributesText(attributes: Attributes): string {
  let text = attributeTexts.get(attributes);
  if (text === undefined) {
    text = formatAttributes(attributes);
    attributeTexts.set(attributes, text);
  }
  return text;
}

/**
 * What of a task can change after it is recorded, copied: its state, health and statuses (the
 * books push and shift that array; the statuses themselves are never changed). The spec, ids and
 * creation time are fixed.
 */
interface TaskSnapshot {
  task: TaskRecord;
  state: TaskState;
  healthy: boolean | undefined;
  statuses: TaskStatus[];
}

function snapshotTask(task: TaskRecord): TaskSnapshot {
  return { task, state: task.state, healthy: task.healthy, statuses: task.statuses.slice() };
}

function taskViewOf({ task, state, healthy, statuses }: TaskSnapshot): TaskView {
  const view: TaskView = {
    id: task.spec.taskId,
    name: task.spec.name,
    frameworkId: task.frameworkId,
    agentId: task.agentId,
    state,
    resources: resourcesText(task.spec.resources),
    createdAt: task.createdAt,
    containerType: task.spec.container.kind,
    statuses: statuses.map((s) => ({
      state: s.state,
      source: s.source,
      reason: s.reason,
      message: s.message,
      timestamp: s.timestamp,
      ...(s.healthy !== undefined ? { healthy: s.healthy } : {}),
      ...(s.exitCode !== undefined ? { exitCode: s.exitCode } : {}),
    })),
  };
  if (healthy !== undefined) view.healthy = healthy;
  if (task.spec.container.image) view.image = task.spec.container.image;
  return view;
}

export function taskView(task: TaskRecord): TaskView {
  return taskViewOf({ task, state: task.state, healthy: task.healthy, statuses: task.statuses });
}

export function agentView(view: MasterView, agent: AgentRecord): AgentView {
  return {
    id: agent.info.id,
    hostname: agent.info.hostname,
    principal: agent.info.principal ?? '',
    address: agent.address,
    httpPort: agent.info.httpPort,
    resources: resourcesText(agent.info.resources),
    used: resourcesText(view.usedOn(agent.info.id)),
    offered: resourcesText(view.offeredOn(agent.info.id)),
    attributes: attributesText(agent.info.attributes),
    active: agent.state === 'active',
    status: view.agentStatus(agent),
    registeredAt: agent.registeredAt,
    lastHeartbeatAt: agent.lastHeartbeatAt,
  };
}

/** An agent's JSON text and everything it was made from (what agentView reads). */
interface AgentText {
  json: string;
  info: AgentRecord['info'];
  resources: Resources;
  attributes: Attributes;
  address: string;
  used: Resources;
  offered: Resources;
  active: boolean;
  status: AgentView['status'];
  registeredAt: number;
  lastHeartbeatAt: number;
}

const agentTexts = new WeakMap<AgentRecord, AgentText>();

/**
 * `JSON.stringify(agentView(agent))`, remembered until something it shows changes (a heartbeat
 * does, so an agent's text is remade every heartbeat interval at most). The books replace an
 * agent's info, resources and sums rather than change them, so comparing them by identity is
 * enough. About 300 bytes an agent, for a /state that mostly joins ready-made text.
 */
export function agentJson(view: MasterView, agent: AgentRecord): string {
  const status = view.agentStatus(agent);
  const used = view.usedOn(agent.info.id);
  const offered = view.offeredOn(agent.info.id);
  const active = agent.state === 'active';
  const c = agentTexts.get(agent);
  if (
    c !== undefined &&
    c.info === agent.info &&
    c.resources === agent.info.resources &&
    c.attributes === agent.info.attributes &&
    c.address === agent.address &&
    c.used === used &&
    c.offered === offered &&
    c.active === active &&
    c.status === status &&
    c.registeredAt === agent.registeredAt &&
    c.lastHeartbeatAt === agent.lastHeartbeatAt
  ) {
    return c.json;
  }
  const json = JSON.stringify(agentView(view, agent));
  agentTexts.set(agent, {
    json,
    info: agent.info,
    resources: agent.info.resources,
    attributes: agent.info.attributes,
    address: agent.address,
    used,
    offered,
    active,
    status,
    registeredAt: agent.registeredAt,
    lastHeartbeatAt: agent.lastHeartbeatAt,
  });
  return json;
}

type FrameworkHead = Omit<FrameworkView, 'tasks' | 'completedTasks'>;

function frameworkHead(view: MasterView, framework: FrameworkRecord, offered: string): FrameworkHead {
  const id = framework.info.id;
  return {
    id,
    name: framework.info.name,
    roles: [...framework.info.roles],
    active: framework.state === 'subscribed',
    registeredAt: framework.registeredAt,
    failoverTimeoutSeconds: framework.info.failoverTimeoutMs / 1000,
    suppressedRoles: framework.state === 'removed' ? [] : view.suppressedRoles(id),
    principal: framework.info.principal,
    used: resourcesText(framework.state === 'removed' ? [] : view.usedBy(id)),
    offered,
  };
}

export function frameworkView(view: MasterView, framework: FrameworkRecord, offered: string): FrameworkView {
  const id = framework.info.id;
  return {
    ...frameworkHead(view, framework, offered),
    tasks: Array.from(view.tasksOf(id), taskView),
    // Newest first, as operators read them.
    completedTasks: view.endedOf(id).map(taskView).reverse(),
  };
}

function roleViews(view: MasterView): RoleView[] {
  return view.roleSummaries().map((r) => ({
    role: r.role,
    weight: r.weight,
    ...(r.quota ? { quota: { guarantee: formatResources(scalarsToResources(r.quota.guarantee)), limit: formatResources(scalarsToResources(r.quota.limit)) } } : {}),
    allocated: formatResources(scalarsToResources(r.allocated)),
    dominantShare: Math.round(r.share * 10_000) / 10_000,
    offersLastCycle: r.explanation.offers,
    explanation: r.explanation.reasons,
  }));
}

export function clusterStateView(view: MasterView, masters: readonly MasterPeerView[] = []): ClusterStateView {
  return {
    masterId: view.masterId,
    version: ORBIT_VERSION,
    startedAt: view.startedAt,
    epoch: view.epoch,
    masters: [...masters],
    agents: Array.from(view.agents(), (a) => agentView(view, a)),
    frameworks: Array.from(view.frameworks(), (f) => frameworkView(view, f, resourcesText(view.offeredTo(f.info.id)))),
    roles: roleViews(view),
    completedFrameworks: [...view.removedFrameworks()].reverse().map((f) => frameworkView(view, f, '')),
  };
}

/** How a long build gives the event loop back: after `sliceMs` of work, it waits for `next()`. */
export interface Slices {
  sliceMs: number;
  now(): number;
  /** Resolves on a later turn of the event loop. */
  next(): Promise<void>;
}

/** Default slices for GET /state: 10 ms of work, then a turn for everything else. */
export const EVENT_LOOP_SLICES: Slices = {
  sliceMs: 10,
  now: () => performance.now(),
  next: () => new Promise<void>((resolve) => setImmediate(resolve)),
};

interface FrameworkSnapshot {
  head: FrameworkHead;
  tasks: TaskSnapshot[];
  /** Newest first. */
  completed: TaskSnapshot[];
}

function snapshotFramework(view: MasterView, framework: FrameworkRecord, offered: string): FrameworkSnapshot {
  const id = framework.info.id;
  return {
    head: frameworkHead(view, framework, offered),
    tasks: Array.from(view.tasksOf(id), snapshotTask),
    completed: view.endedOf(id).map(snapshotTask).reverse(),
  };
}

/** Tasks turned to text per JSON.stringify call: one call per task costs about twice as much. */
const CHUNK = 64;
/** Agents' ready-made texts joined between checks of the time. */
const AGENT_CHUNK = 1024;

/**
 * The bytes of `JSON.stringify(clusterStateView(view))` (UTF-8), built so that a large cluster does
 * not hold the event loop: first, in one turn, a snapshot of everything the text will say (agent
 * texts, and for tasks only what can change; the rest is never changed in place),
 * then the text in slices of about `slices.sliceMs`, with the event loop free in between. The
 * books may change between slices; the text shows them as they were at the snapshot. Agents'
 * texts are remembered between builds (agentJson); tasks' are not (there are many more of them).
 */
export async function clusterStateJson(view: MasterView, slices: Slices = EVENT_LOOP_SLICES, masters: readonly MasterPeerView[] = []): Promise<Buffer> {
  const head = { masterId: view.masterId, version: ORBIT_VERSION, startedAt: view.startedAt, epoch: view.epoch, masters };
  const agents = Array.from(view.agents(), (a) => agentJson(view, a));
  const frameworks = Array.from(view.frameworks(), (f) => snapshotFramework(view, f, resourcesText(view.offeredTo(f.info.id))));
  const roles = roleViews(view);
  const completedFrameworks = [...view.removedFrameworks()].reverse().map((f) => snapshotFramework(view, f, ''));

  /** Encoded slices, and the text of the current one. */
  const done: Buffer[] = [];
  let out: string[] = [];
  let sliceStart = slices.now();
  const breakIfDue = async () => {
    if (slices.now() - sliceStart < slices.sliceMs) return;
    done.push(Buffer.from(out.join('')));
    out = [];
    await slices.next();
    sliceStart = slices.now();
  };
  /** Appends `items` as a JSON array of their views, CHUNK at a time. */
  const array = async <T>(items: readonly T[], view: (item: T) => unknown) => {
    out.push('[');
    for (let i = 0; i < items.length; i += CHUNK) {
      if (i > 0) out.push(',');
      out.push(JSON.stringify(items.slice(i, i + CHUNK).map(view)).slice(1, -1));
      await breakIfDue();
    }
    out.push(']');
  };
  /** `JSON.stringify(obj)` without its closing brace, so more keys can follow. */
  const open = (obj: object) => JSON.stringify(obj).slice(0, -1);
  const frameworkArray = async (list: readonly FrameworkSnapshot[]) => {
    out.push('[');
    for (let i = 0; i < list.length; i++) {
      const f = list[i]!;
      out.push(i > 0 ? ',' : '', open(f.head), ',"tasks":');
      await array(f.tasks, taskViewOf);
      out.push(',"completedTasks":');
      await array(f.completed, taskViewOf);
      out.push('}');
    }
    out.push(']');
  };

  out.push(open(head), ',"agents":[');
  for (let i = 0; i < agents.length; i += AGENT_CHUNK) {
    out.push(i > 0 ? ',' : '', agents.slice(i, i + AGENT_CHUNK).join(','));
    await breakIfDue();
  }
  out.push(']');
  out.push(',"frameworks":');
  await frameworkArray(frameworks);
  out.push(',"roles":', JSON.stringify(roles), ',"completedFrameworks":');
  await frameworkArray(completedFrameworks);
  out.push('}');
  done.push(Buffer.from(out.join('')));
  return done.length === 1 ? done[0]! : Buffer.concat(done);
}
