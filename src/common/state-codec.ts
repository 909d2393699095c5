/**
 * The operator view (state-view.ts) on the wire: Operator.GetState carries it, and `orbit status`
 * turns it back into exactly the JSON the master's GET /state serves.
 */
import type { ClusterState, ClusterState__Output } from '../gen/orbit/v1/ClusterState.js';
import type { TaskSummary, TaskSummary__Output } from '../gen/orbit/v1/TaskSummary.js';
import type { AgentSummary, AgentSummary__Output } from '../gen/orbit/v1/AgentSummary.js';
import type { FrameworkSummary, FrameworkSummary__Output } from '../gen/orbit/v1/FrameworkSummary.js';
import { attributesFromProto, attributesToProto, resourcesFromProto, resourcesToProto, stateFromProto, stateToProto, statusFromProto, statusToProto } from './codec.js';
import { formatAttributes, parseAttributes } from './attributes.js';
import { formatResources, parseResources } from './resources.js';
import type { RoleSummary, RoleSummary__Output } from '../gen/orbit/v1/RoleSummary.js';
import { AGENT_STATUS_VIEWS, type AgentStatusView, type AgentView, type ClusterStateView, type FrameworkView, type RoleView, type TaskView } from './state-view.js';

const text = (list: Parameters<typeof resourcesFromProto>[0]): string => formatResources(resourcesFromProto(list, 'resources'));

function encodeTask(t: TaskView): TaskSummary {
  return {
    id: t.id,
    name: t.name,
    frameworkId: t.frameworkId,
    agentId: t.agentId,
    state: stateToProto(t.state),
    resources: resourcesToProto(parseResources(t.resources)),
    statuses: t.statuses.map((s) => statusToProto({ ...s, taskId: t.id, frameworkId: t.frameworkId, agentId: t.agentId })),
    ...(t.healthy !== undefined ? { healthy: t.healthy } : {}),
    containerType: t.containerType,
    image: t.image ?? '',
    createdAt: t.createdAt / 1000,
  };
}

function decodeTask(m: TaskSummary__Output): TaskView {
  const view: TaskView = {
    id: m.id,
    name: m.name,
    frameworkId: m.frameworkId,
    agentId: m.agentId,
    state: stateFromProto(m.state) ?? 'LOST',
    resources: text(m.resources),
    createdAt: Math.round(m.createdAt * 1000),
    containerType: m.containerType,
    statuses: m.statuses.map((s) => {
      const { state, source, reason, message, timestamp, healthy, exitCode } = statusFromProto(s, 'statuses');
      return { state, source, reason, message, timestamp, ...(healthy !== undefined ? { healthy } : {}), ...(exitCode !== undefined ? { exitCode } : {}) };
    }),
  };
  if (m.healthy !== undefined) view.healthy = m.healthy;
  if (m.image) view.image = m.image;
  return view;
}

function encodeAgent(a: AgentView): AgentSummary {
  return {
    id: a.id,
    hostname: a.hostname,
    address: a.address,
    httpPort: a.httpPort,
    resources: resourcesToProto(parseResources(a.resources)),
    used: resourcesToProto(parseResources(a.used)),
    offered: resourcesToProto(parseResources(a.offered)),
    attributes: attributesToProto(parseAttributes(a.attributes)),
    active: a.active,
    registeredAt: a.registeredAt / 1000,
    lastHeartbeatAt: a.lastHeartbeatAt / 1000,
    status: a.status,
    principal: a.principal,
  };
}

function decodeAgent(m: AgentSummary__Output): AgentView {
  return {
    id: m.id,
    hostname: m.hostname,
    address: m.address,
    httpPort: m.httpPort,
    resources: text(m.resources),
    used: text(m.used),
    offered: text(m.offered),
    attributes: formatAttributes(attributesFromProto(m.attributes)),
    active: m.active,
    status: (AGENT_STATUS_VIEWS as readonly string[]).includes(m.status) ? (m.status as AgentStatusView) : 'active',
    registeredAt: Math.round(m.registeredAt * 1000),
    lastHeartbeatAt: Math.round(m.lastHeartbeatAt * 1000),
    principal: m.principal,
  };
}

function encodeFramework(f: FrameworkView): FrameworkSummary {
  return {
    id: f.id,
    name: f.name,
    roles: f.roles,
    active: f.active,
    registeredAt: f.registeredAt / 1000,
    failoverTimeoutSeconds: f.failoverTimeoutSeconds,
    suppressedRoles: f.suppressedRoles,
    principal: f.principal,
    used: resourcesToProto(parseResources(f.used)),
    offered: resourcesToProto(parseResources(f.offered)),
    tasks: f.tasks.map(encodeTask),
    completedTasks: f.completedTasks.map(encodeTask),
  };
}

function decodeFramework(m: FrameworkSummary__Output): FrameworkView {
  return {
    id: m.id,
    name: m.name,
    roles: [...m.roles],
    active: m.active,
    registeredAt: Math.round(m.registeredAt * 1000),
    failoverTimeoutSeconds: m.failoverTimeoutSeconds,
    suppressedRoles: [...m.suppressedRoles],
    principal: m.principal,
    used: text(m.used),
    offered: text(m.offered),
    tasks: m.tasks.map(decodeTask),
    completedTasks: m.completedTasks.map(decodeTask),
  };
}

function encodeRole(r: RoleView): RoleSummary {
  return {
    role: r.role,
    weight: r.weight,
    allocated: resourcesToProto(parseResources(r.allocated)),
    dominantShare: r.dominantShare,
    quotaGuarantee: r.quota ? resourcesToProto(parseResources(r.quota.guarantee)) : [],
    quotaLimit: r.quota ? resourcesToProto(parseResources(r.quota.limit)) : [],
    offersLastCycle: r.offersLastCycle,
    explanation: r.explanation,
  };
}

function decodeRole(m: RoleSummary__Output): RoleView {
  const view: RoleView = {
    role: m.role,
    weight: m.weight,
    allocated: text(m.allocated),
    dominantShare: m.dominantShare,
    offersLastCycle: m.offersLastCycle,
    explanation: [...m.explanation],
  };
  if (m.quotaGuarantee.length > 0 || m.quotaLimit.length > 0) view.quota = { guarantee: text(m.quotaGuarantee), limit: text(m.quotaLimit) };
  return view;
}

export function encodeStateView(v: ClusterStateView): ClusterState {
  return {
    masterId: v.masterId,
    version: v.version,
    startedAt: v.startedAt / 1000,
    epoch: String(v.epoch),
    agents: v.agents.map(encodeAgent),
    frameworks: v.frameworks.map(encodeFramework),
    roles: v.roles.map(encodeRole),
    completedFrameworks: v.completedFrameworks.map(encodeFramework),
  };
}

export function decodeStateView(m: ClusterState__Output): ClusterStateView {
  return {
    masterId: m.masterId,
    version: m.version,
    startedAt: Math.round(m.startedAt * 1000),
    epoch: Number(m.epoch),
    agents: m.agents.map(decodeAgent),
    frameworks: m.frameworks.map(decodeFramework),
    roles: m.roles.map(decodeRole),
    completedFrameworks: m.completedFrameworks.map(decodeFramework),
  };
}

export { encodeTask as encodeTaskView, decodeTask as decodeTaskView, decodeAgent as decodeAgentView };
