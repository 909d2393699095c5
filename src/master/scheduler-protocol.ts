/**
 * The master's side of the Scheduler API: subscription (made durable before SUBSCRIBED is sent),
 * and the calls a subscribed framework makes on its stream id. Outcomes about tasks (a stale
 * offer, a task that does not fit) are status updates, never thrown errors.
 */
import { DEFAULT_REFUSE_SECONDS, type FrameworkInfo, type Operation } from '../common/cluster.js';
import { FailedPreconditionError, NotFoundError } from '../common/errors.js';
import { newFrameworkId, newStreamId } from '../common/ids.js';
import { add, EMPTY, formatResources, isEmpty, subtract, type Resources } from '../common/resources.js';
import type { TaskSpec, TaskState, StatusReason } from '../common/tasks.js';
import { planAccept } from './accept-plan.js';
import type { Allocator } from './allocator/allocator.js';
import type { AgentBook } from './agents.js';
import type { Effects } from './effects.js';
import type { FrameworkLife } from './framework-life.js';
import type { FrameworkBook } from './frameworks.js';
import type { OfferBook } from './offer-book.js';
import type { OfferFlow } from './offer-flow.js';
import type { FrameworkChannel, Sessions } from './ports.js';
import type { FrameworkRecord } from './records.js';
import { recoverResources, type StatusRelay } from './status-relay.js';
import type { TaskBook } from './tasks.js';
import { checkOffers } from './validation.js';

export interface SchedulerProtocolParts {
  agents: AgentBook;
  frameworks: FrameworkBook;
  tasks: TaskBook;
  offerBook: OfferBook;
  offers: OfferFlow;
  relay: StatusRelay;
  frameworkLife: FrameworkLife;
  allocator: Allocator;
  sessions: Sessions;
  effects: Effects;
  masterId: string;
  heartbeatIntervalMs: number;
}

export class SchedulerProtocol {
  constructor(private readonly p: SchedulerProtocolParts) {}

  /**
   * Subscribes a framework (new when `info.id` is empty), durably, and returns its ids. A
   * re-subscription replaces the old stream, which gets an ERROR (RESUBSCRIBED) and ends; what it
   * has not acknowledged (its tasks' latest agent-made updates, what the master decided) is sent
   * again at once, with the same uuids. A retired id is refused.
   */
  async subscribe(info: FrameworkInfo, channel: FrameworkChannel): Promise<{ frameworkId: string; streamId: string }> {
    const { frameworks, frameworkLife, effects, sessions } = this.p;
    if (info.id) frameworkLife.refuseRetired(info.id);
    const id = info.id || newFrameworkId();
    const subscribed = { ...info, id };
    await effects.persist('save framework', (r) => r.saveFramework(subscribed));
    frameworkLife.refuseRetired(id); // it may have been removed while the write was made
    const streamId = newStreamId();
    let framework = frameworks.get(id);
    if (framework) {
      if (framework.state === 'subscribed') {
        effects.toFramework(id, { type: 'error', reason: 'RESUBSCRIBED', message: 'framework re-subscribed on another stream' });
        frameworkLife.leaveSubscribed(framework, true);
      }
      frameworks.subscribed(framework, subscribed, streamId);
    } else {
      framework = frameworks.add(subscribed, streamId, effects.clock.now());
    }
    this.p.allocator.addFramework(id, subscribed.roles);
    this.p.allocator.activateFramework(id);
    sessions.attachFramework(id, channel);
    effects.log.info({ frameworkId: id, name: info.name, roles: info.roles }, info.id ? 'framework re-subscribed' : 'framework subscribed');
    effects.event('framework-subscribed', `framework ${info.name} ${info.id ? 're-subscribed' : 'subscribed'}`, { frameworkId: id });
    effects.toFramework(id, { type: 'subscribed', frameworkId: id, streamId, heartbeatIntervalMs: this.p.heartbeatIntervalMs, masterId: this.p.masterId });
    this.p.relay.resend(id);
    this.p.offers.request();
    return { frameworkId: id, streamId };
  }

  /** The framework behind a call; refuses unknown ids and stale streams. */
  requireFramework(frameworkId: string, streamId: string): FrameworkRecord {
    const framework = this.p.frameworks.get(frameworkId);
    if (!framework) throw new NotFoundError('framework', frameworkId);
    if (framework.state !== 'subscribed' || framework.streamId !== streamId) {
      throw new FailedPreconditionError('STALE_STREAM', `stream '${streamId}' is not the current subscription of framework '${frameworkId}'; re-subscribe`);
    }
    return framework;
  }

  /**
   * Accepts offers with operations. A bad offer drops every task (TASK_DROPPED, INVALID_OFFER) and
   * returns the offers' resources; a bad task gets TASK_ERROR and the others go ahead; a bad
   * RESERVE or UNRESERVE refuses the whole call (InvalidArgumentError) and leaves the offers as they
   * were. Reservation changes are made durable before anything launches (a LAUNCH may use them).
   * What no operation used goes back to the pool, filtered for `refuseSeconds`.
   */
  async accept(framework: FrameworkRecord, offerIds: readonly string[], operations: readonly Operation[], refuseSeconds = DEFAULT_REFUSE_SECONDS): Promise<void> {
    const { offerBook, offers, effects, agents } = this.p;
    const frameworkId = framework.info.id;
    const tasks = operations.flatMap((op) => (op.type === 'LAUNCH' ? op.tasks : []));
    const checked = checkOffers(offerIds, frameworkId, (id) => offerBook.get(id));
    if (!checked.ok) {
      for (const id of offerIds) if (offerBook.get(id)?.offer.frameworkId === frameworkId) offers.discard(id);
      for (const task of tasks) this.refuseTask(frameworkId, task, 'DROPPED', checked.reason, checked.message);
      return;
    }
    const agent = agents.get(checked.agentId)!;
    const role = checked.offers[0]!.offer.role;
    let offered = checked.offers.length === 1 ? checked.offers[0]!.offer.resources : EMPTY;
    if (checked.offers.length > 1) for (const record of checked.offers) offered = add(offered, record.offer.resources);
    // Throws for a malformed (un)reserve before anything changes.
    const plan = planAccept(offered, operations, {
      agentId: agent.info.id,
      agentContainerizers: agent.info.containerizers,
      role,
      isTaskIdTaken: (id) => this.p.tasks.get(frameworkId, id) !== undefined,
    });
    effects.metrics.offersAccepted(checked.offers.length);
    // The offers' resources stay allocated to the framework: launched tasks keep them, the rest is
    // recovered below. Taken now, so no other call can use them while the reservations are written.
    const taken = checked.offers.flatMap((record) => offers.take(record.offer.id) ?? []);
    if (plan.conversions.length > 0) {
      try {
        await this.convert(agent.info.id, frameworkId, role, plan.conversions);
      } catch (err) {
        offers.putBack(taken);
        throw err;
      }
    }
    for (const r of plan.refused) this.refuseTask(frameworkId, r.task, 'ERROR', r.reason, r.message);
    let remainder = plan.remainder;
    const now = effects.clock.now();
    const current = agents.get(agent.info.id);
    for (const spec of plan.launch) {
      if (current?.state !== 'active' || !this.p.sessions.hasAgentStream(agent.info.id)) {
        this.refuseTask(frameworkId, spec, 'DROPPED', 'AGENT_DISCONNECTED', `agent '${agent.info.id}' disconnected before the launch`);
        remainder = add(remainder, spec.resources);
        continue;
      }
      this.p.tasks.add(frameworkId, agent.info.id, spec, 'STAGING', now);
      effects.toAgent(agent.info.id, { type: 'runTask', framework: framework.info, task: spec, acceptedAt: now });
      effects.log.info({ frameworkId, agentId: agent.info.id, taskId: spec.taskId }, 'task staged');
    }
    if (!isEmpty(remainder) && current) {
      recoverResources(this.p.allocator, effects, agent.info.id, frameworkId, role, remainder, refuseSeconds > 0 ? now + refuseSeconds * 1000 : undefined);
    }
  }

  /** Declines offers; unknown or foreign offer ids are ignored (they may have been rescinded). */
  decline(framework: FrameworkRecord, offerIds: readonly string[], refuseSeconds = DEFAULT_REFUSE_SECONDS): void {
    const refuseUntil = refuseSeconds > 0 ? this.p.effects.clock.now() + refuseSeconds * 1000 : undefined;
    let declined = 0;
    for (const id of offerIds) {
      if (this.p.offerBook.get(id)?.offer.frameworkId === framework.info.id && this.p.offers.discard(id, refuseUntil)) declined++;
    }
    this.p.effects.metrics.offersDeclined(declined);
  }

  /** Clears filters and suppression for the roles (all of the framework's when empty), then offers. */
  revive(framework: FrameworkRecord, roles: readonly string[]): void {
    this.p.allocator.revive(framework.info.id, roles);
    this.p.offers.request();
  }

  /** Stops offers for the roles (all of the framework's when empty) until a revive. */
  suppress(framework: FrameworkRecord, roles: readonly string[]): void {
    this.p.allocator.suppress(framework.info.id, roles);
  }

  /** Kills a task; an ended one gets its last state again, an unknown one LOST, so the framework stops waiting. */
  kill(framework: FrameworkRecord, taskId: string, killGraceMs?: number): void {
    const id = framework.info.id;
    const task = this.p.tasks.get(id, taskId);
    if (!task) {
      const done = this.p.tasks.lastEnded(id, taskId);
      if (done) this.p.relay.send(this.p.relay.latest(done, 'RECONCILIATION'));
      else this.p.relay.sendUnknown(id, taskId, '', 'kill of a task this master does not know');
      return;
    }
    this.p.effects.toAgent(task.agentId, { type: 'killTask', frameworkId: id, taskId, ...(killGraceMs !== undefined ? { killGraceMs } : {}), reason: 'KILLED_BY_FRAMEWORK' });
  }

  /**
   * Takes an acknowledgement of a master-made update, or relays it to the agent that made the
   * update (the one it names, else the task's), forgetting the update kept for resending.
   */
  acknowledge(framework: FrameworkRecord, agentId: string, taskId: string, uuid: string): void {
    const id = framework.info.id;
    if (this.p.tasks.masterUpdates(id).acknowledge(uuid)) return;
    this.p.tasks.agentUpdates(id).acknowledge(taskId, uuid);
    const to = agentId || (this.p.tasks.get(id, taskId) ?? this.p.tasks.lastEnded(id, taskId))?.agentId || '';
    if (to) this.p.effects.toAgent(to, { type: 'ack', frameworkId: id, taskId, uuid });
  }

  /** Ends a framework at its own request, durably: its tasks are killed and its id retired. */
  teardown(framework: FrameworkRecord): Promise<void> {
    return this.p.frameworkLife.remove(framework, 'it was torn down');
  }

  /** Heartbeats every subscribed framework (its SDK takes silence for a dead stream). */
  heartbeat(): void {
    this.p.sessions.eachFramework((id) => this.p.effects.toFramework(id, { type: 'heartbeat' }));
  }

  /**
   * Makes the reservation changes of an accept durable, then applies them: the agent's resources
   * and the framework's allocation change in place, quantities do not.
   */
  private async convert(agentId: string, frameworkId: string, role: string, conversions: readonly { from: Resources; to: Resources }[]): Promise<void> {
    const { agents, effects } = this.p;
    const converted = (resources: Resources) => conversions.reduce((r, c) => add(subtract(r, c.from), c.to), resources);
    const before = agents.get(agentId)!;
    const reservations = formatResources(converted(before.info.resources).filter((r) => r.dynamic));
    await effects.persist('save reservations', (r) => r.saveReservations(agentId, before.info.hostname, reservations));
    const agent = agents.get(agentId);
    if (!agent) return;
    for (const { from, to } of conversions) {
      this.p.allocator.convertAllocated(agentId, frameworkId, role, from, to);
      effects.log.info({ agentId, role, from: formatResources(from), to: formatResources(to) }, 'reservation changed');
    }
    agents.setResources(agent, converted(agent.info.resources));
  }

  /** A master-made end for a task that never became the master's (dropped or invalid at accept). */
  private refuseTask(frameworkId: string, task: TaskSpec, state: TaskState, reason: StatusReason, message: string): void {
    this.p.effects.log.info({ frameworkId, taskId: task.taskId, state, reason }, message);
    this.p.relay.sendReliably({ taskId: task.taskId, frameworkId, agentId: task.agentId, state, source: 'MASTER', reason, message, timestamp: this.p.effects.clock.now() });
  }

}
