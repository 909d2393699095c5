/**
 * The master's side of AgentLink: registration and re-registration (admission made durable
 * before the agent is told), heartbeats and status updates. The agent is the source of truth for
 * what runs: on re-registration its report rebuilds the master's books for it.
 */
import type { AgentInfo, FrameworkInfo } from '../common/cluster.js';
import { FailedPreconditionError, PermissionDeniedError } from '../common/errors.js';
import { newAgentId } from '../common/ids.js';
import { add, contains, EMPTY, formatResources, type Resources } from '../common/resources.js';
import { isTerminal, type TaskStatus } from '../common/tasks.js';
import type { AgentLife } from './agent-life.js';
import type { Allocator } from './allocator/allocator.js';
import type { AgentBook } from './agents.js';
import type { Effects } from './effects.js';
import type { FrameworkLife } from './framework-life.js';
import type { FrameworkBook } from './frameworks.js';
import type { OfferFlow } from './offer-flow.js';
import type { AgentChannel, Sessions } from './ports.js';
import { roleOf, taskKey, type AgentRecord, type TaskRecord } from './records.js';
import { restoredFacts, type ReportedTask } from './reported-task.js';
import type { StatusRelay } from './status-relay.js';
import type { TaskBook } from './tasks.js';

export type { ReportedTask } from './reported-task.js';

/** How many of a re-registration's problems (reported-task.ts) its warning lists; it counts them all. */
const REPORT_PROBLEMS_LOGGED = 10;

export interface AgentProtocolParts {
  agents: AgentBook;
  frameworks: FrameworkBook;
  tasks: TaskBook;
  offers: OfferFlow;
  relay: StatusRelay;
  agentLife: AgentLife;
  frameworkLife: FrameworkLife;
  allocator: Allocator;
  sessions: Sessions;
  effects: Effects;
  heartbeatIntervalMs: number;
}

export class AgentProtocol {
  constructor(private readonly p: AgentProtocolParts) {}

  /** Admits a new agent under a new id, durably, then tells it and offers its resources. */
  async register(channel: AgentChannel, reported: AgentInfo): Promise<string> {
    const { agents, effects } = this.p;
    const id = newAgentId();
    const info = { ...reported, id };
    await effects.persist('admit agent', (r) => r.admitAgent(id, info.hostname, info.principal));
    const now = effects.clock.now();
    agents.add(info, channel.address, now);
    this.p.allocator.addAgent(id, info.resources);
    this.p.sessions.attachAgent(id, channel);
    effects.log.info({ agentId: id, hostname: info.hostname, address: channel.address }, 'agent registered');
    effects.event('agent-registered', `agent ${info.hostname} registered (${formatResources(info.resources)})`, { agentId: id });
    effects.toAgent(id, { type: 'registered', agentId: id, heartbeatIntervalMs: this.p.heartbeatIntervalMs });
    this.p.offers.request();
    return id;
  }

  /**
   * Takes back an agent that had an id: after a lost connection, a partition, or a restart of this
   * master. Tasks it reports are adopted (with their frameworks, if the master lost them), with
   * the start time, statuses and health the agent reports, so the views show what they showed
   * before; a task it reports ended (its terminal update not acknowledged yet) that the master
   * does not hold joins its framework's ended tasks at once, using nothing (Mesos keeps such a
   * task among the active ones, uncounted, until the acknowledgement, and notes that this confuses
   * users); tasks the master had there that it does not report are DROPPED (never reached it) or
   * LOST (its checkpoint lost them). Refused, changing nothing, for an id marked gone or when its
   * resources cannot hold the tasks it reports (as Mesos does: offered + used must stay within total).
   */
  async reregister(channel: AgentChannel, reportedInfo: AgentInfo, reported: readonly ReportedTask[], reportedFrameworks: readonly FrameworkInfo[]): Promise<void> {
    const { agents, effects } = this.p;
    const id = reportedInfo.id;
    this.p.agentLife.refuseGone(id);
    this.refuseOtherPrincipal(id, reportedInfo.principal);
    const info = { ...reportedInfo, resources: agents.withReservations(id, reportedInfo.resources) };
    // What the master will hold on it: tasks reported live, and tasks it holds live whose end the
    // agent has not delivered yet (its updates wait, in order, for acknowledgements).
    const held = this.p.tasks.onAgent(id);
    const running = reported
      .filter((t) => !isTerminal(t.latest.state) || held.has(taskKey(t.frameworkId, t.spec.taskId)))
      .reduce<Resources>((sum, t) => add(sum, t.spec.resources), EMPTY);
    if (!contains(info.resources, running)) {
      throw new FailedPreconditionError(
        'AGENT_RESOURCES_SHRANK',
        `agent '${id}' re-registered with resources '${formatResources(info.resources)}', which do not hold the tasks it runs ('${formatResources(running)}'); restart it with --resources that hold them, or with a fresh --work-dir`,
      );
    }
    const known = agents.get(id);
    if (!known || known.state === 'unreachable' || known.info.principal !== info.principal) await effects.persist('admit agent', (r) => r.admitAgent(id, info.hostname, info.principal));
    this.p.agentLife.refuseGone(id); // it may have been marked gone while the write was made

    const now = effects.clock.now();
    let agent = agents.get(id);
    if (agent) {
      this.p.offers.rescindAllOn(id);
      agents.transition(agent, 'active');
      agents.refresh(agent, info, channel.address, now);
    } else {
      agent = agents.add(info, channel.address, now, agents.expected(id)?.draining ? 'draining' : 'none');
    }
    this.p.sessions.attachAgent(id, channel);
    this.adoptFrameworks(reportedFrameworks);
    this.settleTasks(agent, reported, now);
    // The agent is the source of truth: rebuild its books in the allocator from what it runs.
    const used = [...this.p.tasks.onAgent(id).values()].map((t) => ({ frameworkId: t.frameworkId, role: roleOf(t), resources: t.spec.resources }));
    this.p.allocator.addAgent(id, info.resources, used);
    if (agent.drain !== 'none') {
      this.p.allocator.deactivateAgent(id);
      if (used.length === 0) agents.setDrain(agent, 'drained');
      for (const t of this.p.tasks.onAgent(id).values()) effects.toAgent(id, { type: 'killTask', frameworkId: t.frameworkId, taskId: t.spec.taskId, reason: 'AGENT_DRAINING' });
    }
    effects.log.info({ agentId: id, tasks: reported.length }, 'agent re-registered');
    effects.event('agent-reregistered', `agent ${info.hostname} re-registered with ${reported.length} task(s)`, { agentId: id });
    effects.toAgent(id, { type: 'reregistered', agentId: id, heartbeatIntervalMs: this.p.heartbeatIntervalMs });
    this.p.offers.request();
  }

  /** Records a heartbeat; unknown agents are ignored. */
  heartbeat(agentId: string): void {
    this.p.agents.heartbeat(agentId, this.p.effects.clock.now());
  }

  /**
   * A status update from an agent: applied to its task (when the state machine allows) and
   * relayed to the framework, kept as the task's latest until acknowledged when it is about a run
   * the master knows (active, or ended: the terminal update of a task adopted as ended at
   * re-registration arrives after it). Updates for a removed framework are acknowledged here, so
   * the agent stops resending them.
   */
  statusUpdate(agentId: string, status: TaskStatus): void {
    const { tasks, effects } = this.p;
    this.heartbeat(agentId);
    if (!this.p.frameworks.has(status.frameworkId)) {
      if (status.uuid) effects.toAgent(agentId, { type: 'ack', frameworkId: status.frameworkId, taskId: status.taskId, uuid: status.uuid });
      return;
    }
    const task = tasks.get(status.frameworkId, status.taskId);
    if (task && task.agentId !== agentId) {
      // Not its task: relaying it would let one agent speak for another's tasks. Acknowledged so a
      // stale agent (whose earlier run of the id was replaced) stops resending it.
      effects.log.warn({ taskId: status.taskId, frameworkId: status.frameworkId, agentId, runsOn: task.agentId }, 'status update for a task that runs on another agent: not relayed');
      if (status.uuid) effects.toAgent(agentId, { type: 'ack', frameworkId: status.frameworkId, taskId: status.taskId, uuid: status.uuid });
      return;
    }
    const relayed = { ...status, agentId };
    if (task && this.isFromCurrentRun(task, agentId, status)) {
      this.p.relay.apply(task, relayed);
    } else if (task || !this.isFromEndedRun(agentId, status)) {
      effects.log.debug({ taskId: status.taskId, state: status.state, agentId }, 'status for a task the master does not know (or an earlier run of its id)');
      this.p.relay.send(relayed);
      return;
    }
    // A run the master knows: active, or ended (a resend, or the terminal update of a task adopted as ended).
    tasks.masterUpdates(status.frameworkId).supersede(status.taskId);
    this.p.relay.sendFromAgent(relayed);
  }

  /** Frameworks known only from an agent (this master restarted and lost them) wait for their failover time, and at least for the resubscribe time. */
  private adoptFrameworks(reported: readonly FrameworkInfo[]): void {
    const { frameworks, frameworkLife } = this.p;
    for (const f of reported) {
      if (frameworks.has(f.id) || frameworks.isRetired(f.id)) continue;
      frameworkLife.adopt(f, Math.max(f.failoverTimeoutMs, frameworkLife.resubscribeMs));
    }
  }

  /** Brings the master's tasks on `agent` in line with what it reported. */
  private settleTasks(agent: AgentRecord, reported: readonly ReportedTask[], now: number): void {
    const { tasks, relay, effects } = this.p;
    const id = agent.info.id;
    const problems: string[] = [];
    let problemCount = 0;
    const note = (found: readonly string[]) => {
      problemCount += found.length;
      for (const problem of found) if (problems.length < REPORT_PROBLEMS_LOGGED) problems.push(problem);
    };
    const reportedKeys = new Set(reported.map((t) => taskKey(t.frameworkId, t.spec.taskId)));
    // The newest ended run of each task on this agent, read once per framework that reports an ended task.
    const endedHere = new EndedRuns(tasks, id);
    for (const [key, task] of [...tasks.onAgent(id)]) {
      if (reportedKeys.has(key)) continue;
      if (task.state === 'STAGING') relay.decide(task, 'DROPPED', 'AGENT_RESTARTED', 'the agent re-registered without this task; its launch never reached it');
      else relay.decide(task, 'LOST', 'AGENT_RESTARTED', `the agent re-registered without this task (it was ${task.state}); it lost the task's checkpoint and no longer runs it`);
    }
    for (const t of reported) {
      if (!this.p.frameworks.has(t.frameworkId)) {
        // The framework was removed while the agent was away: it should not run this task.
        effects.toAgent(id, { type: 'shutdownFramework', frameworkId: t.frameworkId });
        continue;
      }
      const existing = tasks.onAgent(id).get(taskKey(t.frameworkId, t.spec.taskId));
      if (existing?.state === 'UNREACHABLE' && !isTerminal(t.latest.state)) {
        // Back from a partition: the task is what the agent says, and its framework hears so.
        relay.decide(existing, t.latest.state, 'RECONCILIATION', 'the agent is reachable again', t.latest.healthy);
      }
      if (!existing && !isTerminal(t.latest.state)) {
        const task = tasks.add(t.frameworkId, id, t.spec, t.latest.state, now);
        if (t.latest.containerId) tasks.noteContainer(task, t.latest.containerId);
        const facts = restoredFacts(t, id, now);
        tasks.restore(task, facts);
        note(facts.problems);
      } else if (!existing && !this.knowsEnd(id, t, endedHere)) {
        // It ended while no master heard of it, and its terminal update waits for an
        // acknowledgement: it is shown among the ended tasks as the agent reports it, with nothing
        // counted as used, and the update reaches the framework when the agent resends it.
        const facts = restoredFacts(t, id, now);
        const task = tasks.addEnded(t.frameworkId, id, t.spec, t.latest.state, facts, t.latest.containerId || undefined);
        endedHere.add(task);
        relay.announceEnd(task, t.latest);
        note(facts.problems);
      } else {
        note(t.problems ?? []);
      }
    }
    if (problemCount > 0) {
      // One line for the whole report: a hostile agent's thousands of tasks make one warning.
      effects.log.warn({ agentId: id, count: problemCount, problems }, 'the agent reported task facts the master repaired or left out');
    }
  }

  /** Has the master an ended record of this reported ended run already (it heard the end, and the agent reconnected before acknowledging it)? */
  private knowsEnd(agentId: string, t: ReportedTask, endedHere: EndedRuns): boolean {
    const ended = endedHere.get(t.frameworkId, t.spec.taskId);
    return ended !== undefined && isSameRun(ended, agentId, t.latest);
  }

  /** Is the status about the newest ended run of its task (no run of the id being active)? */
  private isFromEndedRun(agentId: string, status: TaskStatus): boolean {
    const ended = this.p.tasks.lastEnded(status.frameworkId, status.taskId);
    return ended !== undefined && isSameRun(ended, agentId, status);
  }

  /**
   * Identity is bound, not claimed: an agent id belongs to the certificate principal that first
   * registered it. Re-registering under it with another is refused before anything changes.
   */
  private refuseOtherPrincipal(id: string, principal: string | undefined): void {
    if (principal === undefined) return;
    const bound = this.p.agents.get(id)?.info.principal ?? this.p.agents.expected(id)?.principal;
    if (bound !== undefined && bound !== principal) throw new PermissionDeniedError(`agent '${id}' is bound to ${bound}; ${principal} may not re-register it`);
  }

  /**
   * Does a status belong to the task's current run? A late retry of an earlier run of the same id
   * (on another agent, or in another container) must not move it: updates are delivered at least
   * once, so one can arrive after its id was reused.
   */
  private isFromCurrentRun(task: TaskRecord, agentId: string, status: TaskStatus): boolean {
    if (task.agentId !== agentId) return false;
    if (!status.containerId) return true;
    this.p.tasks.noteContainer(task, status.containerId);
    return task.containerId === status.containerId;
  }
}

/**
 * Is a status (or a reported task's latest) about this record's run? The same agent, and the same
 * container when both name one; without a container, the same update when the record holds it.
 */
function isSameRun(task: TaskRecord, agentId: string, status: TaskStatus): boolean {
  if (task.agentId !== agentId) return false;
  if (task.containerId && status.containerId) return task.containerId === status.containerId;
  return !status.uuid || task.statuses.some((s) => s.uuid === status.uuid);
}

/**
 * The newest ended run of each task of an agent, per framework, read from the tasks book once per
 * framework asked about: a re-registration reporting many ended tasks costs O(tasks), not
 * O(tasks × ended tasks).
 */
class EndedRuns {
  private readonly byFramework = new Map<string, Map<string, TaskRecord>>();

  constructor(
    private readonly tasks: TaskBook,
    private readonly agentId: string,
  ) {}

  get(frameworkId: string, taskId: string): TaskRecord | undefined {
    return this.of(frameworkId).get(taskId);
  }

  /** A run just added as ended: the newest of its task now. */
  add(task: TaskRecord): void {
    this.of(task.frameworkId).set(task.spec.taskId, task);
  }

  private of(frameworkId: string): Map<string, TaskRecord> {
    let runs = this.byFramework.get(frameworkId);
    if (!runs) {
      runs = new Map();
      for (const task of this.tasks.endedOf(frameworkId)) if (task.agentId === this.agentId) runs.set(task.spec.taskId, task);
      this.byFramework.set(frameworkId, runs);
    }
    return runs;
  }
}
