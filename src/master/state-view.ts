/** Builds the operator's view of the cluster (GET /state, Operator.GetState) from the core. */
import { formatAttributes } from '../common/attributes.js';
import { formatResources } from '../common/resources.js';
import { scalarsToResources } from '../common/scalars.js';
import { agentStatus } from './cluster-summary.js';
import type { AgentView, ClusterStateView, FrameworkView, TaskView } from '../common/state-view.js';
import type { MasterCore } from './core.js';
import type { AgentRecord, FrameworkRecord, TaskRecord } from './records.js';

export const ORBIT_VERSION = '0.1.0';

export function taskView(task: TaskRecord): TaskView {
  const view: TaskView = {
    id: task.spec.taskId,
    name: task.spec.name,
    frameworkId: task.frameworkId,
    agentId: task.agentId,
    state: task.state,
    resources: formatResources(task.spec.resources),
    createdAt: task.createdAt,
    containerType: task.spec.container.kind,
    statuses: task.statuses.map((s) => ({
      state: s.state,
      source: s.source,
      reason: s.reason,
      message: s.message,
      timestamp: s.timestamp,
      ...(s.healthy !== undefined ? { healthy: s.healthy } : {}),
      ...(s.exitCode !== undefined ? { exitCode: s.exitCode } : {}),
    })),
  };
  if (task.healthy !== undefined) view.healthy = task.healthy;
  if (task.spec.container.image) view.image = task.spec.container.image;
  return view;
}

export function agentView(agent: AgentRecord): AgentView {
  return {
    id: agent.info.id,
    hostname: agent.info.hostname,
    address: agent.channel?.address ?? '',
    httpPort: agent.info.httpPort,
    resources: formatResources(agent.info.resources),
    used: formatResources(agent.used),
    offered: formatResources(agent.offered),
    attributes: formatAttributes(agent.info.attributes),
    active: agent.active,
    status: agentStatus(agent),
    registeredAt: agent.registeredAt,
    lastHeartbeatAt: agent.lastHeartbeatAt,
  };
}

export function frameworkView(framework: FrameworkRecord, offered: string): FrameworkView {
  return {
    id: framework.info.id,
    name: framework.info.name,
    roles: [...framework.info.roles],
    active: framework.connected,
    registeredAt: framework.registeredAt,
    failoverTimeoutSeconds: framework.info.failoverTimeoutMs / 1000,
    used: formatResources(framework.used),
    offered,
    tasks: [...framework.tasks.values()].map(taskView),
    // Newest first, as operators read them.
    completedTasks: framework.completed.map(taskView).reverse(),
  };
}

export function clusterStateView(core: MasterCore): ClusterStateView {
  return {
    masterId: core.masterId,
    version: ORBIT_VERSION,
    startedAt: core.startedAt,
    epoch: core.epoch,
    agents: [...core.agents.values()].map(agentView),
    frameworks: [...core.frameworks.values()].map((f) => frameworkView(f, formatResources(core.offeredTo(f)))),
    roles: core.allocator.roleSummaries().map((r) => ({
      role: r.role,
      weight: r.weight,
      ...(r.quota ? { quota: { guarantee: formatResources(scalarsToResources(r.quota.guarantee)), limit: formatResources(scalarsToResources(r.quota.limit)) } } : {}),
      allocated: formatResources(scalarsToResources(r.allocated)),
      dominantShare: Math.round(r.share * 10_000) / 10_000,
      offersLastCycle: r.explanation.offers,
      explanation: r.explanation.reasons,
    })),
    completedFrameworks: [...core.completedFrameworks].reverse().map((f) => frameworkView(f, '')),
  };
}
