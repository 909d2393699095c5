/**
 * The master's books: agents, frameworks, tasks and outstanding offers, and the few operations
 * that move resources between them. Resources move in exactly three ways: offer (pool → offered),
 * launch (offered → used, the rest back to the pool), and terminal status or removal (used → pool).
 * MasterCore (core.ts) builds the protocol on top; nothing else writes these records.
 */
import type { Logger } from 'pino';
import { DEFAULT_REFUSE_SECONDS, type FrameworkInfo, type Offer } from '../common/cluster.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { add, contains, EMPTY, formatResources, subtract, withRole, type Resources } from '../common/resources.js';
import { newUpdateUuid } from '../common/ids.js';
import { silentLogger } from '../common/logging.js';
import { checkTransition } from '../common/task-transitions.js';
import { isTerminal, type StatusReason, type TaskSpec, type TaskState, type TaskStatus } from '../common/tasks.js';
import { Allocator, type OfferDecision } from './allocator/allocator.js';
import type { RemovalRate } from './agent-health.js';
import { NO_METRICS, type ClusterEvent, type MasterMetrics } from './metrics-port.js';
import { PendingMasterUpdates } from './master-updates.js';
import { OfferBook } from './offer-book.js';
import { taskKey, TASK_STATUS_HISTORY, type AgentRecord, type FrameworkRecord, type TaskRecord } from './records.js';

/**
 * Offers outstanding longer than this are rescinded, so that frameworks that never answer cannot
 * hoard the cluster (Mesos has no default; its operators set --offer_timeout). A lapsed offer
 * counts as declined with the default filter, so it goes to someone else next.
 */
export const DEFAULT_OFFER_TIMEOUT_MS = 30_000;

/** How many removed frameworks /state keeps showing (Mesos keeps 50). */
export const COMPLETED_FRAMEWORKS_KEPT = 50;
export interface MasterCoreOptions {
  masterId: string;
  epoch: number;
  clock: Clock;
  logger?: Logger;
  allocationIntervalMs?: number;
  frameworkHeartbeatIntervalMs?: number;
  agentHeartbeatIntervalMs?: number;
  completedTasksPerFramework?: number;
  /** Rescind offers outstanding longer than this (default DEFAULT_OFFER_TIMEOUT_MS). */
  offerTimeoutMs?: number;
  /** Agent health: a heartbeat is due every ping timeout; this many missed make it unreachable. */
  agentPingTimeoutMs?: number;
  maxAgentPingMisses?: number;
  /** At most this many agents marked unreachable per period (default: no limit). */
  agentRemovalRate?: RemovalRate;
  /** After a restart, how long to wait for the agents the registry expects (default 10 min). */
  agentReregisterTimeoutMs?: number;
  /** After a restart, the least time a framework that was subscribed has to come back (default 2 min). */
  frameworkResubscribeTimeoutMs?: number;
  metrics?: MasterMetrics;
  persistence?: MasterPersistence;
}

/**
 * Where the core makes its durable changes (the registry). Each call resolves once durable; the
 * core changes its memory only after, so an acknowledged change survives a master restart.
 */
export interface MasterPersistence {
  setWeight(role: string, weight: number): Promise<void>;
  setQuota(role: string, quota: { guarantee: string; limit: string } | undefined): Promise<void>;
  /** Records an agent as admitted (first registration, or re-registration after a restart). */
  admitAgent(agentId: string, hostname: string): Promise<void>;
  /** Records an agent that stopped heartbeating (unreachable) or that an operator marked gone. */
  setAgentStatus(agentId: string, hostname: string, status: 'unreachable' | 'gone'): Promise<void>;
  /** Records a framework; `failoverDeadline` while it is disconnected. */
  saveFramework(info: FrameworkInfo, failoverDeadline?: number): Promise<void>;
  /** Records that a framework was removed: its id may not subscribe again. */
  retireFramework(info: FrameworkInfo): Promise<void>;
  /** Records an agent's dynamic reservations (resource text form; all of them are dynamic). */
  saveReservations(agentId: string, hostname: string, reservations: string): Promise<void>;
}

/** The role a task's resources are accounted to: its offer's, or (for tasks of older agents) the framework's first. */
export function roleOf(task: TaskRecord): string {
  return task.spec.allocationRole || '*';
}

export abstract class MasterBooks {
  readonly masterId: string;
  readonly epoch: number;
  readonly startedAt: number;
  readonly agents = new Map<string, AgentRecord>();
  readonly frameworks = new Map<string, FrameworkRecord>();
  readonly offers = new OfferBook();
  /** Who gets what: weighted DRF, quota, filters. Pure; the core feeds it every change. */
  readonly allocator = new Allocator();
  /** Removed frameworks kept for operators (/state), oldest first, bounded. */
  readonly completedFrameworks: FrameworkRecord[] = [];
  protected readonly clock: Clock;
  protected readonly log: Logger;
  protected readonly completedLimit: number;
  protected readonly offerTimeoutMs: number;
  protected readonly offerTimers = new Map<string, TimerHandle>();
  protected readonly persistence: MasterPersistence | undefined;
  /** Dynamic reservations per agent (made by RESERVE), re-applied when the agent comes back. */
  protected readonly reservations = new Map<string, Resources>();

  /** Restores dynamic reservations from the registry (before agents re-register). */
  restoreReservations(agentId: string, reserved: Resources): void {
    this.reservations.set(agentId, reserved.map((r) => ({ ...r, dynamic: true })));
  }

  /** An agent's own resources with this master's dynamic reservations applied. */
  protected withReservations(agentId: string, resources: Resources): Resources {
    const reserved = this.reservations.get(agentId);
    if (!reserved || reserved.length === 0) return resources;
    const from = withRole(reserved, '*');
    if (!contains(resources, from)) {
      this.log.error({ agentId, reservations: formatResources(reserved) }, 'the agent no longer has the resources of its reservations; they are dropped');
      return resources;
    }
    return add(subtract(resources, from), reserved);
  }

  /** Durable writes happen in the background; a failed one means the registry is gone: say so loudly. */
  protected persist(write: Promise<void> | undefined, what: string): void {
    this.timed(write)?.catch((err: unknown) => this.log.fatal({ err: err instanceof Error ? err.message : String(err) }, `registry write failed (${what}); the master cannot keep its state durable`));
  }

  /** The resources in a framework's outstanding offers. */
  offeredTo(framework: FrameworkRecord): Resources {
    let total = EMPTY;
    for (const id of framework.offers) {
      const record = this.offers.get(id);
      if (record) total = add(total, record.offer.resources);
    }
    return total;
  }

  // ---- internals -------------------------------------------------------------------------

  /** The newest ended run of a task id (ids may be reused once a run has ended). */
  protected completedTask(framework: FrameworkRecord, taskId: string): TaskRecord | undefined {
    return framework.completed.findLast((t) => t.spec.taskId === taskId);
  }

  /**
   * Does a status belong to the task's current run? A late retry of an earlier run of the same id
   * (on another agent, or in another container) must not move it: updates are delivered at least
   * once, so one can arrive after its id was reused.
   */
  protected isFromCurrentRun(task: TaskRecord, agentId: string, status: TaskStatus): boolean {
    if (task.agentId !== agentId) return false;
    if (!status.containerId) return true;
    task.containerId ??= status.containerId;
    return task.containerId === status.containerId;
  }

  protected adoptFramework(info: FrameworkInfo): FrameworkRecord {
    const record: FrameworkRecord = {
      info,
      streamId: undefined,
      channel: undefined,
      connected: false,
      registeredAt: this.clock.now(),
      disconnectedAt: this.clock.now(),
      tasks: new Map(),
      completed: [],
      offers: new Set(),
      suppressedRoles: new Set(),
      used: EMPTY,
      masterUpdates: new PendingMasterUpdates(),
    };
    this.frameworks.set(info.id, record);
    return record;
  }

  protected addTask(framework: FrameworkRecord, agent: AgentRecord, spec: TaskSpec, state: TaskState, now: number): TaskRecord {
    const task: TaskRecord = { spec, frameworkId: framework.info.id, agentId: agent.info.id, state, statuses: [], createdAt: now };
    framework.tasks.set(spec.taskId, task);
    agent.tasks.set(taskKey(framework.info.id, spec.taskId), task);
    agent.used = add(agent.used, spec.resources);
    framework.used = add(framework.used, spec.resources);
    return task;
  }

  /** Moves a task by a status, and on a terminal one releases its resources; false when the state machine refuses. */
  protected applyStatus(task: TaskRecord, status: TaskStatus): boolean {
    const verdict = checkTransition(task.state, status.state);
    if (!verdict.ok) {
      this.log.debug({ taskId: task.spec.taskId, from: task.state, to: status.state }, `status ignored: ${verdict.reason}`);
      return false;
    }
    task.state = status.state;
    if (status.healthy !== undefined) task.healthy = status.healthy;
    // An agent resends an update until it is acknowledged: the history keeps it once.
    const resent = status.uuid !== undefined && status.uuid !== '' && task.statuses.at(-1)?.uuid === status.uuid;
    if (!resent) task.statuses.push(status);
    if (task.statuses.length > TASK_STATUS_HISTORY) task.statuses.shift();
    if (isTerminal(status.state)) {
      if (status.state !== 'FINISHED') {
        this.event('task-ended', `task ${task.spec.taskId} ${status.state}${status.message ? `: ${status.message}` : ''}`, { agentId: task.agentId, frameworkId: task.frameworkId, taskId: task.spec.taskId, state: status.state });
      }
      this.finishTask(task);
    }
    return true;
  }

  protected finishTask(task: TaskRecord): void {
    const framework = this.frameworks.get(task.frameworkId);
    const agent = this.agents.get(task.agentId);
    const key = taskKey(task.frameworkId, task.spec.taskId);
    if (agent?.tasks.delete(key)) {
      agent.used = agent.tasks.size === 0 ? EMPTY : subtract(agent.used, task.spec.resources);
      this.recover(task.agentId, task.frameworkId, roleOf(task), task.spec.resources);
      if (agent.draining && agent.tasks.size === 0 && !agent.drained) {
        agent.drained = true;
        this.log.info({ agentId: agent.info.id }, 'agent drained: all its tasks have ended');
      }
    }
    if (framework?.tasks.delete(task.spec.taskId)) {
      framework.used = framework.tasks.size === 0 ? EMPTY : subtract(framework.used, task.spec.resources);
      framework.completed.push(task);
      if (framework.completed.length > this.completedLimit) framework.completed.shift();
    }
  }

  /** Records an allocator decision as an offer; undefined if its agent or framework went away meanwhile. */
  protected createOffer(decision: OfferDecision, now: number): Offer | undefined {
    const agent = this.agents.get(decision.agentId);
    const framework = this.frameworks.get(decision.frameworkId);
    if (!agent || !framework) {
      this.allocator.recover(decision.agentId, decision.frameworkId, decision.role, decision.resources);
      return undefined;
    }
    const offer = this.offers.create(decision, agent, framework, now);
    this.offerTimers.set(offer.id, this.clock.setTimer(this.offerTimeoutMs, () => {
      this.log.info({ offerId: offer.id, frameworkId: offer.frameworkId, timeoutMs: this.offerTimeoutMs }, 'offer timed out: the framework did not answer it; rescinded');
      this.rescindOffer(offer.id, this.clock.now() + DEFAULT_REFUSE_SECONDS * 1000);
    }));
    return offer;
  }

  /** Takes an offer out of the master's books (its resources stay allocated to the framework). */
  protected removeOffer(offerId: string): Offer | undefined {
    const record = this.offers.get(offerId);
    if (!record) return undefined;
    this.offerTimers.get(offerId)?.cancel();
    this.offerTimers.delete(offerId);
    return this.offers.remove(offerId, this.agents.get(record.offer.agentId), this.frameworks.get(record.offer.frameworkId));
  }

  /** Removes an offer and tells its framework (when connected) that it is gone; `refuseUntil` filters it from that framework. */
  protected rescindOffer(offerId: string, refuseUntil?: number): void {
    const framework = this.frameworks.get(this.offers.get(offerId)?.offer.frameworkId ?? '');
    if (!this.discardOffer(offerId, refuseUntil)) return;
    this.metrics.offersRescinded(1);
    framework?.channel?.send({ type: 'rescind', offerId });
  }

  /** Removes an offer and gives its resources back to the allocator (declined, rescinded, or its framework is gone). */
  protected discardOffer(offerId: string, refuseUntil?: number): boolean {
    const offer = this.removeOffer(offerId);
    if (!offer) return false;
    this.recover(offer.agentId, offer.frameworkId, offer.role, offer.resources, refuseUntil);
    return true;
  }

  /** Gives resources back to the allocator; a disagreement between the books is logged, never papered over. */
  protected recover(agentId: string, frameworkId: string, role: string, resources: Resources, refuseUntil?: number): void {
    if (!this.allocator.recover(agentId, frameworkId, role, resources, refuseUntil)) {
      this.log.error({ agentId, frameworkId, role, resources: formatResources(resources) }, 'the allocator does not hold these resources for the framework; not recovered');
    }
  }

  protected masterStatus(task: TaskRecord, state: TaskState, reason: StatusReason, message: string): TaskStatus {
    return { taskId: task.spec.taskId, frameworkId: task.frameworkId, agentId: task.agentId, state, source: 'MASTER', reason, message, timestamp: this.clock.now() };
  }

  protected latestStatus(task: TaskRecord, reason: StatusReason): TaskStatus {
    const last = task.statuses[task.statuses.length - 1];
    const status: TaskStatus = {
      ...this.masterStatus(task, task.state, reason, last?.message ?? ''),
      ...(task.healthy !== undefined ? { healthy: task.healthy } : {}),
      ...(last?.exitCode !== undefined ? { exitCode: last.exitCode } : {}),
    };
    return status;
  }

  /** A master-made status for a task the master never added (dropped or invalid at accept). */
  protected sendMasterStatus(framework: FrameworkRecord, task: TaskSpec, state: TaskState, reason: StatusReason, message: string): void {
    this.log.info({ frameworkId: framework.info.id, taskId: task.taskId, state, reason }, message);
    this.sendMasterUpdate(framework, { taskId: task.taskId, frameworkId: framework.info.id, agentId: task.agentId, state, source: 'MASTER', reason, message, timestamp: this.clock.now() });
  }

  protected sendUnknownTask(framework: FrameworkRecord, taskId: string, agentId: string, message: string): void {
    this.relay(framework, { taskId, frameworkId: framework.info.id, agentId, state: 'LOST', source: 'MASTER', reason: 'TASK_UNKNOWN', message, timestamp: this.clock.now() });
  }

  /**
   * Moves a task by a status the master made and tells its framework reliably (see
   * master-updates.ts): every state the master decides on its own goes through here. False (and
   * nothing sent) when the task's state machine refuses the move.
   */
  protected decideStatus(task: TaskRecord, state: TaskState, reason: StatusReason, message: string, healthy?: boolean): boolean {
    const status = { ...this.masterStatus(task, state, reason, message), ...(healthy !== undefined ? { healthy } : {}), uuid: newUpdateUuid() };
    if (!this.applyStatus(task, status)) return false;
    const framework = this.frameworks.get(task.frameworkId);
    if (framework) this.sendMasterUpdate(framework, status);
    return true;
  }

  /**
   * Sends a master-made status and keeps it until the framework acknowledges its uuid (given one
   * here if it has none); a re-subscription sends it again. Earlier non-terminal ones of the task go.
   */
  protected sendMasterUpdate(framework: FrameworkRecord, status: TaskStatus): void {
    const made = { ...status, uuid: status.uuid || newUpdateUuid() };
    framework.masterUpdates.supersede(made.taskId);
    const evicted = framework.masterUpdates.add(made);
    if (evicted) {
      this.log.warn({ frameworkId: framework.info.id, taskId: evicted.taskId, state: evicted.state }, 'too many unacknowledged master-made updates; the oldest is no longer kept for redelivery');
    }
    this.relay(framework, made);
  }

  /** Sends a status as it is (an agent's update, a reconciliation answer): nothing is kept. */
  protected relay(framework: FrameworkRecord, status: TaskStatus): void {
    this.metrics.statusUpdateRelayed(status.source);
    framework.channel?.send({ type: 'update', status });
  }

  constructor(options: MasterCoreOptions) {
    this.masterId = options.masterId;
    this.epoch = options.epoch;
    this.clock = options.clock;
    this.log = options.logger ?? silentLogger;
    this.startedAt = this.clock.now();
    this.completedLimit = options.completedTasksPerFramework ?? 1000;
    this.offerTimeoutMs = options.offerTimeoutMs ?? DEFAULT_OFFER_TIMEOUT_MS;
    this.persistence = options.persistence;
    this.metrics = options.metrics ?? NO_METRICS;
  }

  protected readonly metrics: MasterMetrics;

  /** Tells the metrics (and the dashboard's event list) that something happened. */
  protected event(type: ClusterEvent['type'], message: string, ids: Omit<ClusterEvent, 'type' | 'time' | 'message'> = {}): void {
    this.metrics.clusterEvent({ type, time: this.clock.now(), message, ...ids });
  }

  /** Times a durable write for the metrics; the write's outcome is the caller's. */
  protected timed<T>(write: Promise<T> | undefined): Promise<T> | undefined {
    if (!write) return undefined;
    const start = performance.now();
    return write.finally(() => this.metrics.registryWrite(performance.now() - start));
  }
}
