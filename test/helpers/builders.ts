/**
 * Small builders for unit tests: domain values from a few obvious options, so a test states only
 * what matters to it (`res('cpus:2;mem:1024')`, `makeTask('t1').on('a1').cpus(1).obj()`).
 */
import type { AgentInfo, FrameworkInfo, Offer } from '../../src/common/cluster.js';
import { parseResources, type Resources } from '../../src/common/resources.js';
import type { CommandSpec, ContainerKind, StatusReason, TaskSpec, TaskState, TaskStatus } from '../../src/common/tasks.js';
import type { LaunchRequest } from '../../src/agent/containerizer/containerizer.js';
import type { OfferRecord } from '../../src/master/records.js';

/** Resources from their text form: `res('cpus:2;mem:1024;ports:[31000-31009]')`. */
export const res = (text: string): Resources => parseResources(text);

/** A fluent TaskSpec builder; defaults: agent `a1`, `cpus:1;mem:128`, a process task running `true`. */
export class TaskBuilder {
  private spec: TaskSpec;

  constructor(taskId: string) {
    this.spec = {
      taskId,
      name: taskId,
      agentId: 'a1',
      resources: res('cpus:1;mem:128'),
      command: { shell: true, value: 'true', arguments: [], env: {} },
      container: { kind: 'process' },
      killGraceMs: 3000,
      labels: {},
    };
  }

  /** The agent the task names; '' leaves placement to the offer. */
  on(agentId: string): this {
    this.spec = { ...this.spec, agentId };
    return this;
  }

  /** The whole resource request, as text. */
  resources(text: string): this {
    this.spec = { ...this.spec, resources: res(text) };
    return this;
  }

  /** Shorthand for `resources('cpus:N;mem:M')`. */
  cpus(cpus: number, mem = 128): this {
    return this.resources(`cpus:${cpus};mem:${mem}`);
  }

  kind(kind: ContainerKind): this {
    this.spec = { ...this.spec, container: kind === 'docker' ? { kind, image: 'alpine:3' } : { kind } };
    return this;
  }

  obj(): TaskSpec {
    return { ...this.spec };
  }
}

export const makeTask = (taskId = 't1'): TaskBuilder => new TaskBuilder(taskId);

/** An AgentInfo with the given resources; id empty (the master assigns it) unless given. */
export function agentInfo(resources: string, overrides: Partial<AgentInfo> = {}): AgentInfo {
  return {
    id: '',
    hostname: 'host-1',
    resources: res(resources),
    attributes: [],
    httpPort: 5051,
    containerizers: ['process', 'docker'],
    ...overrides,
  };
}

/** A FrameworkInfo for a first subscription (id empty), role `*`, failover 0 unless given. */
export function frameworkInfo(overrides: Partial<FrameworkInfo> = {}): FrameworkInfo {
  return {
    id: '',
    name: 'test-framework',
    roles: ['*'],
    user: 'tester',
    hostname: 'scheduler-host',
    failoverTimeoutMs: 0,
    principal: '',
    labels: {},
    ...overrides,
  };
}

/** An outstanding offer as the master keeps it. */
export function offerRecord(o: { id: string; frameworkId: string; agentId: string; resources: string; role?: string }): OfferRecord {
  const offer: Offer = {
    id: o.id,
    frameworkId: o.frameworkId,
    agentId: o.agentId,
    hostname: `${o.agentId}.example`,
    role: o.role ?? '*',
    resources: res(o.resources),
    attributes: [],
  };
  return { offer, createdAt: 0 };
}

/** An agent-made status update. */
export function agentStatus(o: {
  frameworkId: string;
  taskId: string;
  agentId?: string;
  state: TaskState;
  uuid?: string;
  reason?: StatusReason;
  timestamp?: number;
  containerId?: string;
}): TaskStatus {
  return {
    taskId: o.taskId,
    frameworkId: o.frameworkId,
    agentId: o.agentId ?? '',
    state: o.state,
    source: 'AGENT',
    reason: o.reason ?? 'NONE',
    message: '',
    timestamp: o.timestamp ?? 0,
    ...(o.uuid !== undefined ? { uuid: o.uuid } : {}),
    ...(o.containerId !== undefined ? { containerId: o.containerId } : {}),
  };
}

let launches = 0;

/** A launch request for a process task running `command` in `sandboxDir`; ids unique in this process, container ids start with `prefix`. */
export function processLaunch(sandboxDir: string, command: Partial<CommandSpec>, env: Record<string, string> = {}, prefix = 'test'): LaunchRequest {
  launches += 1;
  const task: TaskSpec = {
    taskId: `task-${launches}`,
    name: `task ${launches}`,
    agentId: 'agent-1',
    resources: [],
    command: { shell: true, value: '', arguments: [], env: {}, ...command },
    container: { kind: 'process' },
    killGraceMs: 3000,
    labels: {},
  };
  return { containerId: `${prefix}-${process.pid}-${launches}`, task, frameworkId: 'framework-1', agentId: 'agent-1', sandboxDir, env };
}
