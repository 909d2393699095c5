/**
 * The master's core, composed: the books (agents, frameworks, tasks, offers; each the only writer
 * of its records), the pure allocator, the effects layer (decide → persist → apply → send), the
 * lifecycles' exit routines, and the protocols. MasterCore is the thin dispatcher the rpc layer
 * and the timers call; it decides nothing itself.
 *
 * Ordering: everything runs on the event loop. A call whose effect is in the registry awaits the
 * write before it changes memory or sends, and re-checks what may have changed meanwhile; every
 * other call sees and leaves the books consistent (offered + used ≤ total on every agent).
 */
import type { AgentInfo, FrameworkInfo, Operation } from '../common/cluster.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { NotFoundError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logging.js';
import type { Resources } from '../common/resources.js';
import type { TaskStatus } from '../common/tasks.js';
import { AgentLife } from './agent-life.js';
import { agentStatusView } from './agent-lifecycle.js';
import { AgentProtocol, type ReportedTask } from './agent-protocol.js';
import { DEFAULT_AGENT_PING_TIMEOUT_MS, DEFAULT_AGENT_REREGISTER_TIMEOUT_MS, DEFAULT_MAX_AGENT_PING_MISSES, type RemovalRate } from './agent-health.js';
import { AgentBook } from './agents.js';
import { Allocator } from './allocator/allocator.js';
import { Effects, type RegistryWriteError } from './effects.js';
import { DEFAULT_FRAMEWORK_RESUBSCRIBE_TIMEOUT_MS, FrameworkLife } from './framework-life.js';
import { FrameworkBook } from './frameworks.js';
import type { MasterView } from './master-view.js';
import { NO_METRICS, type MasterMetrics } from './metrics-port.js';
import { OfferBook } from './offer-book.js';
import { Reconciliation } from './reconciliation.js';
import { DEFAULT_OFFER_TIMEOUT_MS, OfferFlow } from './offer-flow.js';
import type { AgentChannel, FrameworkChannel, MasterPersistence, Sessions } from './ports.js';
import type { AgentRecord, FrameworkRecord } from './records.js';
import { Roles } from './roles.js';
import { SessionTable } from './rpc/sessions.js';
import { SchedulerProtocol } from './scheduler-protocol.js';
import { StatusRelay } from './status-relay.js';
import { TaskBook } from './tasks.js';

export type { ReportedTask } from './agent-protocol.js';
export type { MasterPersistence } from './ports.js';
export { DEFAULT_FRAMEWORK_RESUBSCRIBE_TIMEOUT_MS } from './framework-life.js';
export { DEFAULT_OFFER_TIMEOUT_MS } from './offer-flow.js';
export { COMPLETED_FRAMEWORKS_KEPT } from './frameworks.js';

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
  /** The registry; without one (tests), changes are not durable. */
  persistence?: MasterPersistence;
  /** The rpc layer's table of live streams (default: a table of its own, for tests). */
  sessions?: Sessions;
  /** Called once when a registry write fails: the master must stop. */
  onFatal?: (err: RegistryWriteError) => void;
}

/** What the registry held when the master started, for `restore`. */
export interface RestoredState {
  weights: ReadonlyMap<string, number>;
  quotas: ReadonlyMap<string, { guarantee: Resources; limit: Resources }>;
  agents: readonly { id: string; hostname: string; status: 'admitted' | 'unreachable' | 'gone'; draining: boolean; reservations?: Resources; principal?: string }[];
  frameworks: readonly { info: FrameworkInfo; failoverDeadline?: number; removed: boolean }[];
}

export class MasterCore {
  readonly masterId: string;
  readonly epoch: number;
  readonly startedAt: number;
  readonly frameworkHeartbeatIntervalMs: number;
  readonly agentHeartbeatIntervalMs: number;
  /** Who gets what: weighted DRF, quota, filters. Pure; the protocols feed it every change. */
  readonly allocator = new Allocator();
  /** What readers may see (state view, dashboard, metrics). */
  readonly view: MasterView;
  private readonly clock: Clock;
  private readonly effects: Effects;
  private readonly agentBook: AgentBook;
  private readonly frameworkBook: FrameworkBook;
  private readonly taskBook: TaskBook;
  private readonly offerBook: OfferBook;
  private readonly offers: OfferFlow;
  private readonly agentLife: AgentLife;
  private readonly frameworkLife: FrameworkLife;
  private readonly agentLink: AgentProtocol;
  private readonly scheduler: SchedulerProtocol;
  private readonly reconciliation: Reconciliation;
  private readonly roles: Roles;
  private readonly timers: TimerHandle[] = [];

  constructor(options: MasterCoreOptions) {
    this.masterId = options.masterId;
    this.epoch = options.epoch;
    this.clock = options.clock;
    this.startedAt = this.clock.now();
    const log = options.logger ?? silentLogger;
    const sessions = options.sessions ?? new SessionTable();
    const pingTimeoutMs = options.agentPingTimeoutMs ?? DEFAULT_AGENT_PING_TIMEOUT_MS;
    this.frameworkHeartbeatIntervalMs = options.frameworkHeartbeatIntervalMs ?? 15_000;
    // Agents heartbeat once per ping timeout unless told otherwise.
    this.agentHeartbeatIntervalMs = options.agentHeartbeatIntervalMs ?? pingTimeoutMs;
    this.effects = new Effects({
      clock: this.clock,
      log,
      metrics: options.metrics ?? NO_METRICS,
      sessions,
      ...(options.persistence ? { persistence: options.persistence } : {}),
      ...(options.onFatal ? { onFatal: options.onFatal } : {}),
    });
    this.agentBook = new AgentBook(log);
    this.frameworkBook = new FrameworkBook(this.clock);
    this.taskBook = new TaskBook(options.completedTasksPerFramework ?? 1000);
    this.offerBook = new OfferBook(this.clock);
    const allocator = this.allocator;
    this.offers = new OfferFlow(this.offerBook, this.agentBook, this.frameworkBook, allocator, this.effects, options.offerTimeoutMs ?? DEFAULT_OFFER_TIMEOUT_MS);
    const relay = new StatusRelay(this.taskBook, this.agentBook, allocator, this.effects);
    this.agentLife = new AgentLife(this.agentBook, this.taskBook, this.offers, relay, allocator, sessions, this.effects, {
      pingTimeoutMs,
      maxPingMisses: options.maxAgentPingMisses ?? DEFAULT_MAX_AGENT_PING_MISSES,
      removalRate: options.agentRemovalRate,
    });
    this.frameworkLife = new FrameworkLife(this.frameworkBook, this.taskBook, this.offers, relay, allocator, sessions, this.effects, options.frameworkResubscribeTimeoutMs ?? DEFAULT_FRAMEWORK_RESUBSCRIBE_TIMEOUT_MS);
    const parts = { agents: this.agentBook, frameworks: this.frameworkBook, tasks: this.taskBook, offers: this.offers, relay, frameworkLife: this.frameworkLife, allocator, sessions, effects: this.effects };
    this.agentLink = new AgentProtocol({ ...parts, agentLife: this.agentLife, heartbeatIntervalMs: this.agentHeartbeatIntervalMs });
    this.scheduler = new SchedulerProtocol({
      ...parts,
      offerBook: this.offerBook,
      masterId: this.masterId,
      heartbeatIntervalMs: this.frameworkHeartbeatIntervalMs,
    });
    this.reconciliation = new Reconciliation({ agents: this.agentBook, frameworks: this.frameworkBook, tasks: this.taskBook, relay, effects: this.effects });
    this.roles = new Roles(allocator, this.offers, this.effects);
    this.view = this.makeView();

    this.timers.push(this.clock.setRepeating(Math.max(20, pingTimeoutMs / 2), () => this.background(this.agentLife.checkHealth())));
    this.timers.push(
      this.clock.setTimer(options.agentReregisterTimeoutMs ?? DEFAULT_AGENT_REREGISTER_TIMEOUT_MS, () =>
        this.background(this.agentLife.stopWaiting().then(() => this.reconciliation.windowClosed())),
      ),
    );
    this.timers.push(this.clock.setRepeating(options.allocationIntervalMs ?? 1000, () => this.offers.allocate()));
    this.timers.push(this.clock.setRepeating(this.frameworkHeartbeatIntervalMs, () => this.scheduler.heartbeat()));
  }

  /** Stops timers; streams are closed by the rpc layer. Idempotent. */
  stop(): void {
    for (const t of this.timers.splice(0)) t.cancel();
    this.frameworkBook.stop();
    this.offers.stop();
  }

  /** True once a registry write failed: the master is stopping and refuses registry-backed calls. */
  get failed(): boolean {
    return this.effects.failed;
  }

  // ---- AgentLink ----------------------------------------------------------------------------

  registerAgent(channel: AgentChannel, info: AgentInfo): Promise<string> {
    return this.agentLink.register(channel, info);
  }

  /** Re-registers an agent; one a restarted master was waiting for then answers the reconciliations held for it. */
  async reregisterAgent(channel: AgentChannel, info: AgentInfo, tasks: readonly ReportedTask[], frameworks: readonly FrameworkInfo[]): Promise<void> {
    const awaited = this.agentBook.expected(info.id)?.waiting === true;
    await this.agentLink.reregister(channel, info, tasks, frameworks);
    if (awaited) this.reconciliation.agentSettled(info.id);
  }

  agentHeartbeat(agentId: string): void {
    this.agentLink.heartbeat(agentId);
  }

  agentStatusUpdate(agentId: string, status: TaskStatus): void {
    this.agentLink.statusUpdate(agentId, status);
  }

  agentDisconnected(agentId: string, channel: AgentChannel): void {
    this.agentLife.disconnected(agentId, channel);
  }

  // ---- Scheduler ----------------------------------------------------------------------------

  subscribe(info: FrameworkInfo, channel: FrameworkChannel): Promise<{ frameworkId: string; streamId: string }> {
    return this.scheduler.subscribe(info, channel);
  }

  frameworkDisconnected(frameworkId: string, streamId: string): void {
    this.background(this.frameworkLife.disconnected(frameworkId, streamId));
  }

  requireFramework(frameworkId: string, streamId: string): FrameworkRecord {
    return this.scheduler.requireFramework(frameworkId, streamId);
  }

  accept(framework: FrameworkRecord, offerIds: readonly string[], operations: readonly Operation[], refuseSeconds?: number): Promise<void> {
    return this.scheduler.accept(framework, offerIds, operations, refuseSeconds);
  }

  decline(framework: FrameworkRecord, offerIds: readonly string[], refuseSeconds?: number): void {
    this.scheduler.decline(framework, offerIds, refuseSeconds);
  }

  revive(framework: FrameworkRecord, roles: readonly string[]): void {
    this.scheduler.revive(framework, roles);
  }

  suppress(framework: FrameworkRecord, roles: readonly string[]): void {
    this.scheduler.suppress(framework, roles);
  }

  kill(framework: FrameworkRecord, taskId: string, killGraceMs?: number): void {
    this.scheduler.kill(framework, taskId, killGraceMs);
  }

  acknowledge(framework: FrameworkRecord, agentId: string, taskId: string, uuid: string): void {
    this.scheduler.acknowledge(framework, agentId, taskId, uuid);
  }

  reconcile(framework: FrameworkRecord, tasks: readonly { taskId: string; agentId: string }[]): void {
    this.reconciliation.reconcile(framework.info.id, tasks);
  }

  teardown(framework: FrameworkRecord): Promise<void> {
    return this.scheduler.teardown(framework);
  }

  // ---- Operator -----------------------------------------------------------------------------

  drainAgent(agentId: string): Promise<string> {
    return this.agentLife.drain(agentId);
  }

  reactivateAgent(agentId: string): Promise<string> {
    return this.agentLife.reactivate(agentId);
  }

  /** Marks an agent gone, durably; reconciliations held for it (it was expected back) are answered GONE. */
  async markAgentGone(agentId: string): Promise<string> {
    const outcome = await this.agentLife.markGone(agentId);
    this.reconciliation.agentSettled(agentId);
    return outcome;
  }

  /** An operator's teardown, durable before it answers: the framework's tasks are killed and its id retired. */
  async teardownFramework(frameworkId: string): Promise<string> {
    const framework = this.frameworkBook.get(frameworkId);
    if (!framework) throw new NotFoundError('framework', frameworkId);
    await this.frameworkLife.remove(framework, 'an operator tore it down');
    return `framework '${frameworkId}' torn down`;
  }

  setWeights(weights: readonly { role: string; weight: number }[]): Promise<void> {
    return this.roles.setWeights(weights);
  }

  setQuota(role: string, guarantee: Resources, limit: Resources, force: boolean): Promise<string> {
    return this.roles.setQuota(role, guarantee, limit, force);
  }

  /** An allocation cycle now (tests; the timer runs one every allocation interval). */
  allocate(): void {
    this.offers.allocate();
  }

  /** Marks agents silent too long unreachable now (tests; a timer does it every half ping timeout). */
  checkAgentHealth(): Promise<void> {
    return this.agentLife.checkHealth();
  }

  // ---- restart ------------------------------------------------------------------------------

  /**
   * After a restart, before any agent or framework talks to this master: what the registry holds.
   * Agents are expected back; frameworks wait for their re-subscription until their failover
   * deadline (which survives restarts; one that was subscribed gets a deadline now, made durable).
   */
  async restore(state: RestoredState): Promise<void> {
    this.roles.restore(state.weights, state.quotas);
    for (const a of state.agents) {
      if (a.reservations) this.agentBook.setReservations(a.id, a.reservations);
      if (a.status === 'gone') this.agentBook.restoreGone(a.id);
      else this.agentBook.expect(a.id, a.hostname, a.status === 'admitted', a.draining, a.principal);
    }
    const now = this.clock.now();
    for (const f of state.frameworks) {
      if (f.removed) {
        this.frameworkBook.restoreRetired(f.info.id);
        continue;
      }
      if (this.frameworkBook.has(f.info.id)) continue;
      // Subscribed when the master stopped: its failover timeout to come back, and at least the
      // time it needs to notice the restart, so that even a failover timeout of 0 rides it out.
      const deadline = f.failoverDeadline ?? now + Math.max(f.info.failoverTimeoutMs, this.frameworkLife.resubscribeMs);
      if (f.failoverDeadline === undefined) await this.effects.persist('save failover deadline', (r) => r.saveFramework(f.info, deadline));
      this.frameworkLife.adopt(f.info, deadline - now);
    }
  }

  /** Runs a background change whose failure the effects layer has already reported (a failed write stops the master). */
  private background(work: Promise<unknown>): void {
    work.catch((err: unknown) => {
      if (!this.effects.failed) this.effects.log.error({ err }, 'a background change of the master failed');
    });
  }

  private makeView(): MasterView {
    const agents = this.agentBook;
    const frameworks = this.frameworkBook;
    const tasks = this.taskBook;
    const offers = this.offerBook;
    const allocator = this.allocator;
    return {
      masterId: this.masterId,
      epoch: this.epoch,
      startedAt: this.startedAt,
      agents: () => agents.values(),
      agent: (id) => agents.get(id),
      agentCount: () => agents.size,
      agentStatus: (agent: AgentRecord) => agentStatusView(agent.state, agent.drain),
      usedOn: (id) => tasks.usedOn(id),
      offeredOn: (id) => offers.offeredOn(id),
      tasksOn: (id) => tasks.onAgent(id).size,
      tasksOnAgent: (id) => tasks.onAgent(id).values(),
      offerIdsOn: (id) => offers.onAgent(id),
      pendingMasterUpdates: (id) => tasks.masterUpdates(id).all(),
      pendingAgentUpdates: (id) => tasks.agentUpdates(id).all(),
      frameworks: () => frameworks.values(),
      framework: (id) => frameworks.get(id),
      removedFrameworks: () => frameworks.completed(),
      tasksOf: (id) => tasks.ofFramework(id),
      endedOf: (id) => tasks.endedOf(id),
      usedBy: (id) => tasks.usedBy(id),
      offeredTo: (id) => offers.offeredTo(id),
      suppressedRoles: (id) => allocator.suppressedRoles(id),
      roleSummaries: () => allocator.roleSummaries(),
      offerCount: () => offers.size,
      offer: (id) => offers.get(id),
      offerIdsOf: (id) => offers.ofFramework(id),
      task: (frameworkId, taskId) => tasks.get(frameworkId, taskId),
      expectedAgents: () => agents.allExpected(),
    };
  }
}
