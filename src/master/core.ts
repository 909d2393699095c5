/**
 * The master's core: the protocol on top of the books (books.ts). Called by the rpc layer, one
 * method per message or call, and by its own timers. Decisions about who gets what are the
 * allocator's; the core applies them.
 *
 * Ordering: everything runs on the event loop, one message at a time, so a method sees and leaves
 * the books consistent (offered + used ≤ total on every agent).
 */
import type { AgentInfo, FrameworkInfo, Offer, Operation } from '../common/cluster.js';
import { DEFAULT_REFUSE_SECONDS } from '../common/cluster.js';
import type { TimerHandle } from '../common/clock.js';
import { FailedPreconditionError, NotFoundError } from '../common/errors.js';
import { newAgentId, newFrameworkId, newStreamId } from '../common/ids.js';
import { add, contains, EMPTY, formatResources, isEmpty, subtract, type Resources } from '../common/resources.js';
import { isTerminal, type TaskSpec, type TaskStatus } from '../common/tasks.js';
import { planAccept } from './accept-plan.js';
import { scalarsToResources } from '../common/scalars.js';
import { COMPLETED_FRAMEWORKS_KEPT, MasterBooks, roleOf, type MasterCoreOptions } from './books.js';
import type { AgentChannel, FrameworkChannel } from './ports.js';
import { checkQuota, checkWeight } from './quota.js';
import { taskKey, type AgentRecord, type FrameworkRecord } from './records.js';
import { checkOffers } from './validation.js';
import {
  DEFAULT_AGENT_PING_TIMEOUT_MS,
  DEFAULT_AGENT_REREGISTER_TIMEOUT_MS,
  DEFAULT_MAX_AGENT_PING_MISSES,
  RemovalLimiter,
  silentAgents,
} from './agent-health.js';

export type { MasterCoreOptions, MasterPersistence } from './books.js';

/**
 * After a master restart, a framework that was subscribed gets at least this long to re-subscribe
 * before its failover timeout may remove it: its client needs time to notice the restart and back
 * off (the SDK waits at most a minute between tries). A one-shot framework (failover timeout 0)
 * thus rides out a restart.
 */
export const DEFAULT_FRAMEWORK_RESUBSCRIBE_TIMEOUT_MS = 120_000;
export { COMPLETED_FRAMEWORKS_KEPT } from './books.js';

/** A task an agent reports when it re-registers. */
export interface ReportedTask {
  spec: TaskSpec;
  frameworkId: string;
  latest: TaskStatus;
}

export class MasterCore extends MasterBooks {
  readonly frameworkHeartbeatIntervalMs: number;
  readonly agentHeartbeatIntervalMs: number;
  /** Frameworks torn down or failed over too late: their ids may not subscribe again. */
  private readonly removedFrameworks = new Set<string>();
  /** Agents an operator marked gone: they may not re-register under their id. */
  private readonly removedAgents = new Set<string>();
  /** Agents the registry knows that have not re-registered since this master started. */
  private readonly expectedAgents = new Map<string, { hostname: string; waiting: boolean }>();
  private readonly limiter: RemovalLimiter;
  private readonly pingTimeoutMs: number;
  private readonly maxPingMisses: number;
  private readonly failoverTimers = new Map<string, TimerHandle>();
  /** After a restart, how long a framework that was subscribed has at least to come back. */
  private readonly frameworkResubscribeMs: number;
  private readonly timers: TimerHandle[] = [];
  private allocationPending: TimerHandle | undefined;
  constructor(options: MasterCoreOptions) {
    super(options);
    this.pingTimeoutMs = options.agentPingTimeoutMs ?? DEFAULT_AGENT_PING_TIMEOUT_MS;
    this.maxPingMisses = options.maxAgentPingMisses ?? DEFAULT_MAX_AGENT_PING_MISSES;
    this.limiter = new RemovalLimiter(options.agentRemovalRate);
    this.frameworkResubscribeMs = options.frameworkResubscribeTimeoutMs ?? DEFAULT_FRAMEWORK_RESUBSCRIBE_TIMEOUT_MS;
    this.timers.push(this.clock.setRepeating(Math.max(20, this.pingTimeoutMs / 2), () => this.checkAgentHealth()));
    this.timers.push(this.clock.setTimer(options.agentReregisterTimeoutMs ?? DEFAULT_AGENT_REREGISTER_TIMEOUT_MS, () => this.stopWaitingForAgents()));
    this.frameworkHeartbeatIntervalMs = options.frameworkHeartbeatIntervalMs ?? 15_000;
    // Agents heartbeat once per ping timeout unless told otherwise.
    this.agentHeartbeatIntervalMs = options.agentHeartbeatIntervalMs ?? options.agentPingTimeoutMs ?? DEFAULT_AGENT_PING_TIMEOUT_MS;
    this.timers.push(this.clock.setRepeating(options.allocationIntervalMs ?? 1000, () => this.allocate()));
    this.timers.push(this.clock.setRepeating(this.frameworkHeartbeatIntervalMs, () => this.heartbeatFrameworks()));
  }

  /** Stops timers; streams are closed by the rpc layer. Idempotent. */
  stop(): void {
    for (const t of this.timers.splice(0)) t.cancel();
    for (const t of this.failoverTimers.values()) t.cancel();
    this.failoverTimers.clear();
    for (const t of this.offerTimers.values()) t.cancel();
    this.offerTimers.clear();
    this.allocationPending?.cancel();
    this.allocationPending = undefined;
  }

  // ---- agents -----------------------------------------------------------------------------

  /** Admits a new agent, gives it an id, and offers its resources at once. */
  registerAgent(channel: AgentChannel, info: AgentInfo): string {
    const id = newAgentId();
    const now = this.clock.now();
    this.agents.set(id, {
      info: { ...info, id },
      used: EMPTY,
      offered: EMPTY,
      channel,
      active: true,
      reachable: true,
      draining: false,
      drained: false,
      registeredAt: now,
      lastHeartbeatAt: now,
      tasks: new Map(),
      offers: new Set(),
    });
    this.allocator.addAgent(id, info.resources);
    this.persist(this.persistence?.admitAgent(id, info.hostname), 'admit agent');
    this.log.info({ agentId: id, hostname: info.hostname, address: channel.address }, 'agent registered');
    this.event('agent-registered', `agent ${info.hostname} registered (${formatResources(info.resources)})`, { agentId: id });
    channel.send({ type: 'registered', agentId: id, heartbeatIntervalMs: this.agentHeartbeatIntervalMs });
    this.requestAllocation();
    return id;
  }

  /**
   * Takes back an agent that had an id: after a lost connection, or after this master restarted.
   * The agent is the source of truth for what runs: tasks it reports are adopted (with their
   * frameworks, if the master lost them), tasks the master expected there but the agent does not
   * know never reached it and are DROPPED.
   */
  reregisterAgent(channel: AgentChannel, reportedInfo: AgentInfo, reported: readonly ReportedTask[], frameworks: readonly FrameworkInfo[]): void {
    const now = this.clock.now();
    if (this.removedAgents.has(reportedInfo.id)) {
      throw new FailedPreconditionError('AGENT_GONE', `agent '${reportedInfo.id}' was marked gone; start it with a fresh --work-dir to register as a new agent`);
    }
    const info = { ...reportedInfo, resources: this.withReservations(reportedInfo.id, reportedInfo.resources) };
    // As Mesos does: an agent whose resources shrank below what its tasks use is refused (the
    // books must hold offered + used <= total); it restarts with resources that hold them, or afresh.
    const running = reported.filter((t) => !isTerminal(t.latest.state)).reduce<Resources>((sum, t) => add(sum, t.spec.resources), EMPTY);
    if (!contains(info.resources, running)) {
      throw new FailedPreconditionError(
        'AGENT_RESOURCES_SHRANK',
        `agent '${info.id}' re-registered with resources '${formatResources(info.resources)}', which do not hold the tasks it runs ('${formatResources(running)}'); restart it with --resources that hold them, or with a fresh --work-dir`,
      );
    }
    const known = this.agents.get(info.id);
    if (!known || !known.reachable) this.persist(this.persistence?.admitAgent(info.id, info.hostname), 'admit agent');
    this.expectedAgents.delete(info.id);
    let agent = this.agents.get(info.id);
    if (agent && agent.channel && agent.channel !== channel) agent.channel.close();
    for (const offerId of [...(agent?.offers ?? [])]) this.rescindOffer(offerId);
    if (!agent) {
      agent = { info, used: EMPTY, offered: EMPTY, channel, active: true, reachable: true, draining: false, drained: false, registeredAt: now, lastHeartbeatAt: now, tasks: new Map(), offers: new Set() };
      this.agents.set(info.id, agent);
    }
    agent.info = info;
    agent.channel = channel;
    agent.active = true;
    agent.reachable = true;
    agent.lastHeartbeatAt = now;
    const adopted: FrameworkRecord[] = [];
    for (const f of frameworks) {
      if (this.frameworks.has(f.id) || this.removedFrameworks.has(f.id)) continue;
      adopted.push(this.adoptFramework(f));
      this.allocator.addFramework(f.id, f.roles, { active: false });
    }

    const reportedKeys = new Set(reported.map((t) => taskKey(t.frameworkId, t.spec.taskId)));
    for (const [key, task] of [...agent.tasks]) {
      if (reportedKeys.has(key)) continue;
      if (task.state === 'STAGING') this.decideStatus(task, 'DROPPED', 'AGENT_RESTARTED', 'the agent re-registered without this task; its launch never reached it');
      else this.decideStatus(task, 'LOST', 'AGENT_RESTARTED', `the agent re-registered without this task (it was ${task.state}); it lost the task's checkpoint and no longer runs it`);
    }
    for (const t of reported) {
      const framework = this.frameworks.get(t.frameworkId);
      if (!framework) {
        // The framework was removed while the agent was away: it should not run this task.
        channel.send({ type: 'shutdownFramework', frameworkId: t.frameworkId });
        continue;
      }
      const existing = agent.tasks.get(taskKey(t.frameworkId, t.spec.taskId));
      if (existing?.state === 'UNREACHABLE' && !isTerminal(t.latest.state)) {
        // Back from a partition: the task is what the agent says, and its framework hears so.
        this.decideStatus(existing, t.latest.state, 'RECONCILIATION', 'the agent is reachable again', t.latest.healthy);
      }
      if (!existing && !isTerminal(t.latest.state)) {
        const task = this.addTask(framework, agent, t.spec, t.latest.state, now);
        if (t.latest.containerId) task.containerId = t.latest.containerId;
      }
    }
    // Frameworks known only from an agent (this master restarted) get their failover time to come
    // back, and at least the time a framework needs to notice the restart.
    for (const f of adopted) if (!f.connected) this.startFailoverTimer(f, Math.max(f.info.failoverTimeoutMs, this.frameworkResubscribeMs));
    // The agent is the source of truth: rebuild its books in the allocator from what it runs.
    const used = [...agent.tasks.values()].map((t) => ({ frameworkId: t.frameworkId, role: roleOf(t), resources: t.spec.resources }));
    this.allocator.addAgent(info.id, info.resources, used);
    if (agent.draining) this.allocator.deactivateAgent(info.id);
    this.log.info({ agentId: info.id, tasks: reported.length }, 'agent re-registered');
    this.event('agent-reregistered', `agent ${info.hostname} re-registered with ${reported.length} task(s)`, { agentId: info.id });
    channel.send({ type: 'reregistered', agentId: info.id, heartbeatIntervalMs: this.agentHeartbeatIntervalMs });
    this.requestAllocation();
  }

  /** Records a heartbeat; unknown agents are ignored. */
  agentHeartbeat(agentId: string): void {
    const agent = this.agents.get(agentId);
    if (agent) agent.lastHeartbeatAt = this.clock.now();
  }

  /**
   * The agent's stream ended. A no-op unless `channel` is the agent's current one (a replaced
   * stream closing late must not deactivate the new one). Its offers are rescinded; its tasks stay
   * until it re-registers.
   */
  agentDisconnected(agentId: string, channel: AgentChannel): void {
    const agent = this.agents.get(agentId);
    if (!agent || agent.channel !== channel) return;
    agent.channel = undefined;
    agent.active = false;
    for (const offerId of [...agent.offers]) this.rescindOffer(offerId);
    this.allocator.deactivateAgent(agentId);
    this.log.warn({ agentId }, 'agent disconnected');
    this.event('agent-disconnected', `agent ${agent.info.hostname} disconnected`, { agentId });
  }

  /**
   * A status update from an agent: applied to the task (when the state machine allows) and
   * relayed to the framework. Updates for a framework that was removed are acknowledged here so
   * the agent stops retrying them.
   */
  agentStatusUpdate(agentId: string, status: TaskStatus): void {
    const agent = this.agents.get(agentId);
    if (agent) agent.lastHeartbeatAt = this.clock.now();
    const framework = this.frameworks.get(status.frameworkId);
    if (!framework) {
      if (status.uuid && agent?.channel) {
        agent.channel.send({ type: 'ack', frameworkId: status.frameworkId, taskId: status.taskId, uuid: status.uuid });
      }
      return;
    }
    this.metrics.statusUpdateRelayed('AGENT');
    const task = framework.tasks.get(status.taskId);
    if (task && this.isFromCurrentRun(task, agentId, status)) {
      this.applyStatus(task, { ...status, agentId });
      framework.masterUpdates.supersede(status.taskId);
    } else {
      this.log.debug({ taskId: status.taskId, state: status.state, agentId }, 'status for a task not active at the master (or an earlier run of its id)');
    }
    framework.channel?.send({ type: 'update', status: { ...status, agentId } });
  }

  // ---- frameworks -------------------------------------------------------------------------

  /**
   * Subscribes a framework (new when `info.id` is empty) and returns its ids. A re-subscription
   * replaces the old stream, which is told so and closed; a torn-down id is refused.
   */
  subscribe(info: FrameworkInfo, channel: FrameworkChannel): { frameworkId: string; streamId: string } {
    if (info.id && this.removedFrameworks.has(info.id)) {
      throw new FailedPreconditionError('FRAMEWORK_REMOVED', `framework '${info.id}' was torn down or failed over too late; subscribe without an id to start afresh`);
    }
    const now = this.clock.now();
    let framework = info.id ? this.frameworks.get(info.id) : undefined;
    if (framework) {
      if (framework.channel && framework.channel !== channel) {
        framework.channel.send({ type: 'error', reason: 'RESUBSCRIBED', message: 'framework re-subscribed on another stream' });
        framework.channel.close();
      }
      for (const offerId of [...framework.offers]) this.discardOffer(offerId);
      framework.info = { ...info, id: framework.info.id };
    } else {
      framework = this.adoptFramework({ ...info, id: info.id || newFrameworkId() });
    }
    this.allocator.addFramework(framework.info.id, framework.info.roles);
    this.allocator.activateFramework(framework.info.id);
    this.persist(this.persistence?.saveFramework(framework.info), 'save framework');
    this.failoverTimers.get(framework.info.id)?.cancel();
    this.failoverTimers.delete(framework.info.id);
    const streamId = newStreamId();
    framework.channel = channel;
    framework.streamId = streamId;
    framework.connected = true;
    framework.disconnectedAt = undefined;
    framework.registeredAt = framework.registeredAt || now;
    this.log.info({ frameworkId: framework.info.id, name: info.name, roles: info.roles }, info.id ? 'framework re-subscribed' : 'framework subscribed');
    this.event('framework-subscribed', `framework ${info.name} ${info.id ? 're-subscribed' : 'subscribed'}`, { frameworkId: framework.info.id });
    channel.send({ type: 'subscribed', frameworkId: framework.info.id, streamId, heartbeatIntervalMs: this.frameworkHeartbeatIntervalMs, masterId: this.masterId });
    // What the master decided while the framework was away (or that it did not acknowledge).
    for (const status of framework.masterUpdates.all()) this.relay(framework, status);
    this.requestAllocation();
    return { frameworkId: framework.info.id, streamId };
  }

  /**
   * The framework's stream ended. A no-op unless `streamId` is current. Its offers return to the
   * pool; its tasks are kept for its failover timeout, then killed.
   */
  frameworkDisconnected(frameworkId: string, streamId: string): void {
    const framework = this.frameworks.get(frameworkId);
    if (!framework || framework.streamId !== streamId || !framework.connected) return;
    framework.connected = false;
    framework.channel = undefined;
    framework.disconnectedAt = this.clock.now();
    for (const offerId of [...framework.offers]) this.discardOffer(offerId);
    this.allocator.deactivateFramework(frameworkId);
    this.log.warn({ frameworkId, failoverTimeoutMs: framework.info.failoverTimeoutMs }, 'framework disconnected');
    this.event('framework-disconnected', `framework ${framework.info.name} disconnected`, { frameworkId });
    if (framework.info.failoverTimeoutMs > 0) {
      this.persist(this.persistence?.saveFramework(framework.info, this.clock.now() + framework.info.failoverTimeoutMs), 'save failover deadline');
    }
    this.startFailoverTimer(framework);
  }

  /** Removes a disconnected framework once its failover timeout passes (at once when it is 0). */
  private startFailoverTimer(framework: FrameworkRecord, timeout = framework.info.failoverTimeoutMs): void {
    const frameworkId = framework.info.id;
    if (timeout <= 0) {
      this.removeFramework(framework, 'its failover timeout is 0');
      return;
    }
    this.failoverTimers.get(frameworkId)?.cancel();
    this.failoverTimers.set(frameworkId, this.clock.setTimer(timeout, () => {
      this.failoverTimers.delete(frameworkId);
      const current = this.frameworks.get(frameworkId);
      if (current && !current.connected) this.removeFramework(current, 'it did not re-subscribe within its failover timeout');
    }));
  }

  /** The framework behind a call; refuses unknown ids and stale streams. */
  requireFramework(frameworkId: string, streamId: string): FrameworkRecord {
    const framework = this.frameworks.get(frameworkId);
    if (!framework) throw new NotFoundError('framework', frameworkId);
    if (!framework.connected || framework.streamId !== streamId) {
      throw new FailedPreconditionError('STALE_STREAM', `stream '${streamId}' is not the current subscription of framework '${frameworkId}'; re-subscribe`);
    }
    return framework;
  }

  /**
   * Accepts offers with operations. A bad offer drops every task (TASK_DROPPED, INVALID_OFFER) and
   * returns the offers' resources; a bad task gets TASK_ERROR and the others go ahead; a bad
   * RESERVE or UNRESERVE refuses the whole call (InvalidArgumentError) and leaves the offers as they
   * were. What no operation used goes back to the pool, filtered for `refuseSeconds`.
   */
  accept(framework: FrameworkRecord, offerIds: readonly string[], operations: readonly Operation[], refuseSeconds = DEFAULT_REFUSE_SECONDS): void {
    const tasks = operations.flatMap((op) => (op.type === 'LAUNCH' ? op.tasks : []));
    const frameworkId = framework.info.id;

    const checked = checkOffers(offerIds, frameworkId, (id) => this.offers.get(id));
    if (!checked.ok) {
      for (const id of offerIds) if (this.offers.get(id)?.offer.frameworkId === frameworkId) this.discardOffer(id);
      for (const task of tasks) this.sendMasterStatus(framework, task, 'DROPPED', checked.reason, checked.message);
      return;
    }
    const agent = this.agents.get(checked.agentId)!;
    const role = checked.offers[0]!.offer.role;
    let offered = checked.offers.length === 1 ? checked.offers[0]!.offer.resources : EMPTY;
    if (checked.offers.length > 1) for (const record of checked.offers) offered = add(offered, record.offer.resources);
    // Throws for a malformed (un)reserve before anything changes.
    this.metrics.offersAccepted(checked.offers.length);
    const plan = planAccept(offered, operations, {
      agentId: agent.info.id,
      agentContainerizers: agent.info.containerizers,
      role,
      isTaskIdTaken: (id) => framework.tasks.has(id),
    });
    // The offers' resources stay allocated to the framework: launched tasks keep them, the rest is recovered below.
    for (const record of checked.offers) this.removeOffer(record.offer.id);
    for (const { from, to } of plan.conversions) {
      this.allocator.convertAllocated(agent.info.id, frameworkId, role, from, to);
      agent.info = { ...agent.info, resources: add(subtract(agent.info.resources, from), to) };
      this.log.info({ agentId: agent.info.id, role, from: formatResources(from), to: formatResources(to) }, 'reservation changed');
    }
    if (plan.conversions.length > 0) {
      const dynamic = agent.info.resources.filter((r) => r.dynamic);
      this.reservations.set(agent.info.id, dynamic);
      this.persist(this.persistence?.saveReservations(agent.info.id, agent.info.hostname, formatResources(dynamic)), 'save reservations');
    }
    for (const r of plan.refused) this.sendMasterStatus(framework, r.task, 'ERROR', r.reason, r.message);
    let remainder = plan.remainder;
    const now = this.clock.now();
    for (const spec of plan.launch) {
      if (!agent.channel) {
        this.sendMasterStatus(framework, spec, 'DROPPED', 'AGENT_DISCONNECTED', `agent '${agent.info.id}' disconnected before the launch`);
        remainder = add(remainder, spec.resources);
        continue;
      }
      this.addTask(framework, agent, spec, 'STAGING', now);
      agent.channel.send({ type: 'runTask', framework: framework.info, task: spec });
      this.log.info({ frameworkId, agentId: agent.info.id, taskId: spec.taskId }, 'task staged');
    }
    if (!isEmpty(remainder)) {
      this.recover(agent.info.id, frameworkId, role, remainder, refuseSeconds > 0 ? now + refuseSeconds * 1000 : undefined);
    }
  }

  /** Declines offers; unknown or foreign offer ids are ignored (they may have been rescinded). */
  decline(framework: FrameworkRecord, offerIds: readonly string[], refuseSeconds = DEFAULT_REFUSE_SECONDS): void {
    const refuseUntil = refuseSeconds > 0 ? this.clock.now() + refuseSeconds * 1000 : undefined;
    let declined = 0;
    for (const id of offerIds) {
      if (this.offers.get(id)?.offer.frameworkId === framework.info.id && this.discardOffer(id, refuseUntil)) declined++;
    }
    this.metrics.offersDeclined(declined);
  }

  /** Clears filters and suppression for the roles (all of the framework's when empty), then offers. */
  revive(framework: FrameworkRecord, roles: readonly string[]): void {
    this.allocator.revive(framework.info.id, roles);
    if (roles.length === 0) framework.suppressedRoles.clear();
    else for (const r of roles) framework.suppressedRoles.delete(r);
    this.requestAllocation();
  }

  /** Stops offers for the roles (all of the framework's when empty) until a revive. */
  suppress(framework: FrameworkRecord, roles: readonly string[]): void {
    this.allocator.suppress(framework.info.id, roles);
    for (const r of roles.length === 0 ? framework.info.roles : roles) framework.suppressedRoles.add(r);
  }

  /** Kills a task; an unknown one gets a LOST update so the framework stops waiting for it. */
  kill(framework: FrameworkRecord, taskId: string, killGraceMs?: number): void {
    const task = framework.tasks.get(taskId);
    if (!task) {
      const done = this.completedTask(framework, taskId);
      if (done) this.relay(framework, this.latestStatus(done, 'RECONCILIATION'));
      else this.sendUnknownTask(framework, taskId, '', 'kill of a task this master does not know');
      return;
    }
    const agent = this.agents.get(task.agentId);
    agent?.channel?.send({ type: 'killTask', frameworkId: framework.info.id, taskId, ...(killGraceMs !== undefined ? { killGraceMs } : {}), reason: 'KILLED_BY_FRAMEWORK' });
  }

  /**
   * Takes an acknowledgement of a master-made update, or relays it to the agent that made the
   * update: the one it names, else the task's (looked up only then: a terminal task is found by a
   * scan of the completed ones).
   */
  acknowledge(framework: FrameworkRecord, agentId: string, taskId: string, uuid: string): void {
    if (framework.masterUpdates.acknowledge(uuid)) return;
    const id = agentId || (framework.tasks.get(taskId) ?? this.completedTask(framework, taskId))?.agentId || '';
    this.agents.get(id)?.channel?.send({ type: 'ack', frameworkId: framework.info.id, taskId, uuid });
  }

  /**
   * Answers with the latest state of the listed tasks (explicit) or of every task the master
   * knows for the framework (implicit, when the list is empty). Master-made answers need no ack.
   */
  reconcile(framework: FrameworkRecord, tasks: readonly { taskId: string; agentId: string }[]): void {
    if (tasks.length === 0) {
      for (const task of framework.tasks.values()) this.relay(framework, this.latestStatus(task, 'RECONCILIATION'));
      return;
    }
    for (const { taskId, agentId } of tasks) {
      const task = framework.tasks.get(taskId) ?? this.completedTask(framework, taskId);
      if (task) {
        this.relay(framework, this.latestStatus(task, 'RECONCILIATION'));
        continue;
      }
      const expected = this.expectedAgents.get(agentId);
      // Its agent may still come back with it: no answer yet (Mesos answers nothing while it waits).
      if (expected?.waiting) continue;
      const unknown = { taskId, frameworkId: framework.info.id, agentId, source: 'MASTER' as const, timestamp: this.clock.now() };
      if (expected || this.agents.get(agentId)?.reachable === false) {
        this.relay(framework, { ...unknown, state: 'UNREACHABLE', reason: 'AGENT_UNREACHABLE', message: `reconciliation: agent '${agentId}' is unreachable` });
      } else if (this.removedAgents.has(agentId)) {
        this.relay(framework, { ...unknown, state: 'GONE', reason: 'AGENT_REMOVED', message: `reconciliation: agent '${agentId}' is gone` });
      } else {
        this.sendUnknownTask(framework, taskId, agentId, 'reconciliation: the master knows no such task');
      }
    }
  }

  /** Ends a framework at its own request: its tasks are killed and its id retired. */
  teardown(framework: FrameworkRecord): void {
    this.removeFramework(framework, 'it was torn down');
  }

  // ---- agent health and failover -------------------------------------------------------------

  /** Marks agents that missed too many heartbeats unreachable, as fast as the removal rate allows. */
  checkAgentHealth(): void {
    const now = this.clock.now();
    const views = [...this.agents.values()].map((a) => ({ id: a.info.id, lastHeartbeatAt: a.lastHeartbeatAt, reachable: a.reachable }));
    for (const id of silentAgents(views, now, this.pingTimeoutMs, this.maxPingMisses)) {
      if (!this.limiter.take(now)) {
        this.log.warn({ agentId: id }, 'agent unreachable, but the removal rate limit defers marking it');
        break;
      }
      this.markUnreachable(this.agents.get(id)!, now);
    }
  }

  private markUnreachable(agent: AgentRecord, now: number): void {
    const id = agent.info.id;
    const silentMs = now - agent.lastHeartbeatAt;
    agent.reachable = false;
    agent.active = false;
    for (const offerId of [...agent.offers]) this.rescindOffer(offerId);
    this.allocator.deactivateAgent(id);
    agent.channel?.close();
    agent.channel = undefined;
    for (const task of [...agent.tasks.values()]) {
      if (isTerminal(task.state)) continue;
      this.decideStatus(task, 'UNREACHABLE', 'AGENT_UNREACHABLE', `agent '${id}' (${agent.info.hostname}) has not been heard from for ${Math.round(silentMs / 1000)} s`);
    }
    this.persist(this.persistence?.setAgentStatus(id, agent.info.hostname, 'unreachable'), 'mark agent unreachable');
    this.log.warn({ agentId: id, silentMs }, 'agent unreachable');
    this.event('agent-unreachable', `agent ${agent.info.hostname} unreachable: silent for ${Math.round(silentMs / 1000)} s`, { agentId: id });
  }

  /**
   * An operator's word that an agent is gone for good: its tasks are GONE, its resources leave the
   * cluster, and its id may not come back. Idempotent; unknown ids throw NotFoundError.
   */
  markAgentGone(agentId: string): string {
    if (this.removedAgents.has(agentId)) return `agent '${agentId}' is already gone`;
    const agent = this.agents.get(agentId);
    const expected = this.expectedAgents.get(agentId);
    if (!agent && !expected) throw new NotFoundError('agent', agentId);
    const hostname = agent?.info.hostname ?? expected?.hostname ?? '';
    if (agent) {
      for (const offerId of [...agent.offers]) this.rescindOffer(offerId);
      for (const task of [...agent.tasks.values()]) {
        this.decideStatus(task, 'GONE', 'AGENT_REMOVED', `agent '${agentId}' was marked gone by an operator`);
      }
      this.allocator.removeAgent(agentId);
      agent.channel?.send({ type: 'refused', reason: 'AGENT_GONE', message: `this agent was marked gone by an operator; start it with a fresh --work-dir to register anew` });
      agent.channel?.close();
      this.agents.delete(agentId);
    }
    this.expectedAgents.delete(agentId);
    this.removedAgents.add(agentId);
    this.persist(this.persistence?.setAgentStatus(agentId, hostname, 'gone'), 'mark agent gone');
    this.log.warn({ agentId }, 'agent marked gone');
    this.event('agent-gone', `agent ${hostname} marked gone`, { agentId });
    return `agent '${agentId}' (${hostname}) marked gone`;
  }

  /**
   * Drains an agent for maintenance: no more offers from it, and its tasks are killed with their
   * own grace period (reason AGENT_DRAINING); it is `drained` once they have all ended. Idempotent.
   */
  drainAgent(agentId: string): string {
    const agent = this.agents.get(agentId);
    if (!agent) throw new NotFoundError('agent', agentId);
    if (agent.draining) return `agent '${agentId}' is already ${agent.drained ? 'drained' : 'draining'}`;
    agent.draining = true;
    agent.drained = agent.tasks.size === 0;
    for (const offerId of [...agent.offers]) this.rescindOffer(offerId);
    this.allocator.deactivateAgent(agentId);
    for (const task of agent.tasks.values()) {
      agent.channel?.send({ type: 'killTask', frameworkId: task.frameworkId, taskId: task.spec.taskId, reason: 'AGENT_DRAINING' });
    }
    this.log.info({ agentId, tasks: agent.tasks.size }, 'agent draining');
    this.event('agent-draining', `agent ${agent.info.hostname} draining`, { agentId });
    return `agent '${agentId}' (${agent.info.hostname}) draining: ${agent.tasks.size} task(s) being killed`;
  }

  /** Ends a drain: the agent is offered again. Idempotent. */
  reactivateAgent(agentId: string): string {
    const agent = this.agents.get(agentId);
    if (!agent) throw new NotFoundError('agent', agentId);
    if (!agent.draining) return `agent '${agentId}' is not draining`;
    agent.draining = false;
    agent.drained = false;
    if (agent.reachable && agent.channel) this.allocator.activateAgent(agentId);
    this.requestAllocation();
    this.log.info({ agentId }, 'agent reactivated');
    this.event('agent-reactivated', `agent ${agent.info.hostname} reactivated`, { agentId });
    return `agent '${agentId}' (${agent.info.hostname}) reactivated`;
  }

  /** After a restart: the registry says this agent should come back (or was unreachable). */
  expectAgent(agentId: string, hostname: string, status: 'admitted' | 'unreachable'): void {
    if (!this.agents.has(agentId)) this.expectedAgents.set(agentId, { hostname, waiting: status === 'admitted' });
  }

  /** After a restart: the registry says this agent is gone. */
  restoreGoneAgent(agentId: string): void {
    this.removedAgents.add(agentId);
  }

  /**
   * After a restart: a framework from the registry. A removed one stays retired; a live one waits
   * for its re-subscription until its failover deadline (which survives the restart).
   */
  restoreFramework(info: FrameworkInfo, failoverDeadline: number | undefined, removed: boolean): void {
    if (removed) {
      this.removedFrameworks.add(info.id);
      return;
    }
    if (this.frameworks.has(info.id)) return;
    const framework = this.adoptFramework(info);
    this.allocator.addFramework(info.id, info.roles, { active: false });
    const now = this.clock.now();
    // Subscribed when the master stopped: it has its failover timeout to come back, and at least
    // the time it needs to notice the restart, so that even a failover timeout of 0 rides it out.
    const deadline = failoverDeadline ?? now + Math.max(info.failoverTimeoutMs, this.frameworkResubscribeMs);
    if (failoverDeadline === undefined) this.persist(this.persistence?.saveFramework(info, deadline), 'save failover deadline');
    this.startFailoverTimer(framework, Math.max(0, deadline - now));
  }

  /** The re-registration window closed: agents that did not come back are unreachable. */
  private stopWaitingForAgents(): void {
    for (const [agentId, expected] of this.expectedAgents) {
      if (!expected.waiting) continue;
      expected.waiting = false;
      this.persist(this.persistence?.setAgentStatus(agentId, expected.hostname, 'unreachable'), 'mark agent unreachable');
      this.log.warn({ agentId }, 'agent did not re-register after the master restarted; it is unreachable');
    }
  }

  /** Agents the registry expects back, for /state. */
  expectedAgentIds(): { id: string; hostname: string; waiting: boolean }[] {
    return [...this.expectedAgents].map(([id, e]) => ({ id, ...e }));
  }

  // ---- roles ---------------------------------------------------------------------------------

  /** Sets role weights, durably first; all are checked before any is written. */
  async setWeights(weights: readonly { role: string; weight: number }[]): Promise<void> {
    weights.forEach((w, i) => checkWeight(w.role, w.weight, `weights[${i}]`));
    for (const { role, weight } of weights) {
      await this.timed(this.persistence?.setWeight(role, weight));
      this.allocator.setWeight(role, weight);
      this.log.info({ role, weight }, 'role weight set');
    }
    this.requestAllocation();
  }

  /** Sets (or, with both empty, removes) a role's quota, durably first; returns a line for the operator. */
  async setQuota(role: string, guarantee: Resources, limit: Resources, force: boolean): Promise<string> {
    const quota = checkQuota(role, guarantee, limit, { allocated: this.allocator.roleAllocation(role), total: this.allocator.total(), force });
    const text = quota && { guarantee: formatResources(scalarsToResources(quota.guarantee)), limit: formatResources(scalarsToResources(quota.limit)) };
    await this.timed(this.persistence?.setQuota(role, text));
    this.allocator.setQuota(role, quota);
    this.requestAllocation();
    const line = text ? `quota of role '${role}': guarantee '${text.guarantee}', limit '${text.limit || 'none'}'` : `quota of role '${role}' removed`;
    this.log.info({ role }, line);
    return line;
  }

  // ---- allocation -------------------------------------------------------------------------

  /** Asks for an allocation soon (coalesced): on agent or framework arrival and on revive. */
  requestAllocation(): void {
    if (this.allocationPending) return;
    this.allocationPending = this.clock.setTimer(0, () => {
      this.allocationPending = undefined;
      this.allocate();
    });
  }

  /** One allocation cycle: asks the allocator for decisions and sends the offers, one event per framework. */
  allocate(): void {
    const now = this.clock.now();
    const started = performance.now();
    const decisions = this.allocator.allocate(now);
    this.metrics.allocationRun(performance.now() - started, decisions.length);
    this.metrics.offersMade(decisions.length);
    const batches = new Map<string, Offer[]>();
    for (const decision of decisions) {
      const offer = this.createOffer(decision, now);
      if (!offer) continue;
      const batch = batches.get(offer.frameworkId) ?? [];
      batch.push(offer);
      batches.set(offer.frameworkId, batch);
    }
    for (const [frameworkId, offers] of batches) this.frameworks.get(frameworkId)?.channel?.send({ type: 'offers', offers });
  }

  private removeFramework(framework: FrameworkRecord, why: string): void {
    const id = framework.info.id;
    this.log.info({ frameworkId: id }, `framework removed: ${why}`);
    this.event('framework-removed', `framework ${framework.info.name} removed: ${why}`, { frameworkId: id });
    for (const offerId of [...framework.offers]) this.discardOffer(offerId);
    const agentIds = new Set<string>();
    for (const task of [...framework.tasks.values()]) {
      agentIds.add(task.agentId);
      const status = this.masterStatus(task, 'KILLED', 'FRAMEWORK_REMOVED', `framework removed: ${why}`);
      // Told before the stream ends, if it is open; nothing is kept: the framework id is retired.
      if (this.applyStatus(task, status)) this.relay(framework, status);
    }
    for (const agentId of agentIds) this.agents.get(agentId)?.channel?.send({ type: 'shutdownFramework', frameworkId: id });
    if (framework.channel) {
      framework.channel.send({ type: 'error', reason: 'FRAMEWORK_REMOVED', message: `framework '${id}' removed: ${why}` });
      framework.channel.close();
    }
    this.failoverTimers.get(id)?.cancel();
    this.failoverTimers.delete(id);
    this.allocator.removeFramework(id);
    this.persist(this.persistence?.retireFramework(framework.info), 'retire framework');
    this.frameworks.delete(id);
    this.removedFrameworks.add(id);
    framework.connected = false;
    framework.channel = undefined;
    this.completedFrameworks.push(framework);
    if (this.completedFrameworks.length > COMPLETED_FRAMEWORKS_KEPT) this.completedFrameworks.shift();
    this.requestAllocation();
  }

  private heartbeatFrameworks(): void {
    for (const f of this.frameworks.values()) f.channel?.send({ type: 'heartbeat' });
  }

}
