/**
 * An agent's lifecycle beyond a message: leaving `active` (a lost stream, silence past the ping
 * timeout, an operator's "gone"), draining, and the end of the re-registration window after a
 * restart. Each exit is written once here; the protocols and timers call these.
 */
import { FailedPreconditionError, NotFoundError } from '../common/errors.js';
import type { Allocator } from './allocator/allocator.js';
import { RemovalLimiter, silentAgents, type RemovalRate } from './agent-health.js';
import type { DrainState } from './agent-lifecycle.js';
import type { AgentBook } from './agents.js';
import type { Effects } from './effects.js';
import type { OfferFlow } from './offer-flow.js';
import type { AgentChannel, Sessions } from './ports.js';
import type { AgentRecord } from './records.js';
import type { StatusRelay } from './status-relay.js';
import type { TaskBook } from './tasks.js';

export interface AgentHealthSettings {
  pingTimeoutMs: number;
  maxPingMisses: number;
  removalRate: RemovalRate | undefined;
}

export class AgentLife {
  /** Agents being marked gone: they may not re-register meanwhile. */
  private readonly goingAway = new Set<string>();
  private readonly limiter: RemovalLimiter;

  constructor(
    private readonly agents: AgentBook,
    private readonly tasks: TaskBook,
    private readonly offers: OfferFlow,
    private readonly relay: StatusRelay,
    private readonly allocator: Allocator,
    private readonly sessions: Sessions,
    private readonly effects: Effects,
    private readonly health: AgentHealthSettings,
  ) {
    this.limiter = new RemovalLimiter(health.removalRate);
  }

  /** Throws AGENT_GONE for an id marked gone (or being marked). */
  refuseGone(id: string): void {
    if (this.agents.isGone(id) || this.goingAway.has(id)) {
      throw new FailedPreconditionError('AGENT_GONE', `agent '${id}' was marked gone; start it with a fresh --work-dir to register as a new agent`);
    }
  }

  /** Nothing more offered from an agent: when it leaves `active`, and when it drains. Written once. */
  private stopOffers(agentId: string): void {
    this.offers.rescindAllOn(agentId);
    this.allocator.deactivateAgent(agentId);
  }

  /**
   * The agent's stream ended. A no-op unless `channel` is its current one (a replaced stream that
   * ends late must not touch the new one). Its tasks stay until it re-registers.
   */
  disconnected(agentId: string, channel: AgentChannel): void {
    const agent = this.agents.get(agentId);
    if (!agent || !this.sessions.isAgentStream(agentId, channel)) return;
    this.sessions.detachAgent(agentId, false);
    if (agent.state !== 'active') return;
    this.stopOffers(agent.info.id);
    this.agents.transition(agent, 'disconnected');
    this.effects.log.warn({ agentId }, 'agent disconnected');
    this.effects.event('agent-disconnected', `agent ${agent.info.hostname} disconnected`, { agentId });
  }

  /** Marks agents silent past the ping timeout unreachable, as fast as the removal rate allows. */
  async checkHealth(): Promise<void> {
    const now = this.effects.clock.now();
    const views = [...this.agents.values()].map((a) => ({ id: a.info.id, lastHeartbeatAt: a.lastHeartbeatAt, reachable: a.state !== 'unreachable' }));
    for (const id of silentAgents(views, now, this.health.pingTimeoutMs, this.health.maxPingMisses)) {
      if (!this.limiter.take(now)) {
        this.effects.log.warn({ agentId: id }, 'agent unreachable, but the removal rate limit defers marking it');
        break;
      }
      await this.markUnreachable(this.agents.get(id)!, now);
    }
  }

  /** Silence past the ping timeout, made durable: the agent is unreachable and its tasks UNREACHABLE. */
  private async markUnreachable(agent: AgentRecord, now: number): Promise<void> {
    const id = agent.info.id;
    await this.effects.persist('mark agent unreachable', (r) => r.setAgentStatus(id, agent.info.hostname, 'unreachable'));
    // It may have come back, or gone, while the write was made.
    if (this.agents.get(id) !== agent || agent.state === 'unreachable' || agent.lastHeartbeatAt > now) return;
    const silentS = Math.round((now - agent.lastHeartbeatAt) / 1000);
    if (agent.state === 'active') this.stopOffers(agent.info.id);
    this.agents.transition(agent, 'unreachable');
    this.sessions.detachAgent(id, true);
    for (const task of [...this.tasks.onAgent(id).values()]) {
      this.relay.decide(task, 'UNREACHABLE', 'AGENT_UNREACHABLE', `agent '${id}' (${agent.info.hostname}) has not been heard from for ${silentS} s`);
    }
    this.effects.log.warn({ agentId: id, silentMs: now - agent.lastHeartbeatAt }, 'agent unreachable');
    this.effects.event('agent-unreachable', `agent ${agent.info.hostname} unreachable: silent for ${silentS} s`, { agentId: id });
  }

  /**
   * An operator's word that an agent is gone for good, made durable: its tasks are GONE, its
   * resources leave the cluster, its id may never come back. Idempotent; unknown ids throw.
   */
  async markGone(agentId: string): Promise<string> {
    if (this.agents.isGone(agentId)) return `agent '${agentId}' is already gone`;
    const agent = this.agents.get(agentId);
    const expected = this.agents.expected(agentId);
    if (!agent && !expected) throw new NotFoundError('agent', agentId);
    const hostname = agent?.info.hostname ?? expected?.hostname ?? '';
    this.goingAway.add(agentId);
    try {
      await this.effects.persist('mark agent gone', (r) => r.setAgentStatus(agentId, hostname, 'gone'));
    } finally {
      this.goingAway.delete(agentId);
    }
    const current = this.agents.get(agentId);
    if (current) {
      if (current.state === 'active') this.stopOffers(agentId);
      for (const task of [...this.tasks.onAgent(agentId).values()]) {
        this.relay.decide(task, 'GONE', 'AGENT_REMOVED', `agent '${agentId}' was marked gone by an operator`);
      }
      this.allocator.removeAgent(agentId);
      this.tasks.forgetAgent(agentId);
      this.offers.forget(agentId);
      this.effects.toAgent(agentId, { type: 'refused', reason: 'AGENT_GONE', message: 'this agent was marked gone by an operator; start it with a fresh --work-dir to register anew' });
      this.sessions.detachAgent(agentId, true);
      this.agents.transition(current, 'gone');
    } else {
      this.agents.retireExpected(agentId);
    }
    this.effects.log.warn({ agentId }, 'agent marked gone');
    this.effects.event('agent-gone', `agent ${hostname} marked gone`, { agentId });
    return `agent '${agentId}' (${hostname}) marked gone`;
  }

  /**
   * Drains an agent, durably: no more offers from it, and its tasks are killed with their own
   * grace period (reason AGENT_DRAINING); it is `drained` once they have all ended. Idempotent.
   */
  async drain(agentId: string): Promise<string> {
    const agent = this.require(agentId);
    if (agent.drain !== 'none') return `agent '${agentId}' is already ${agent.drain}`;
    await this.effects.persist('drain agent', (r) => r.setAgentDraining(agentId, agent.info.hostname, true));
    if (agent.drain !== 'none' || this.agents.get(agentId) !== agent) return `agent '${agentId}' is already ${agent.drain}`;
    const tasks = [...this.tasks.onAgent(agentId).values()];
    this.agents.setDrain(agent, tasks.length === 0 ? 'drained' : 'draining');
    this.stopOffers(agentId);
    for (const task of tasks) this.effects.toAgent(agentId, { type: 'killTask', frameworkId: task.frameworkId, taskId: task.spec.taskId, reason: 'AGENT_DRAINING' });
    this.effects.log.info({ agentId, tasks: tasks.length }, 'agent draining');
    this.effects.event('agent-draining', `agent ${agent.info.hostname} draining`, { agentId });
    return `agent '${agentId}' (${agent.info.hostname}) draining: ${tasks.length} task(s) being killed`;
  }

  /** Ends a drain, durably: the agent is offered again. Idempotent. */
  async reactivate(agentId: string): Promise<string> {
    const agent = this.require(agentId);
    if (agent.drain === 'none') return `agent '${agentId}' is not draining`;
    await this.effects.persist('reactivate agent', (r) => r.setAgentDraining(agentId, agent.info.hostname, false));
    if ((agent.drain as DrainState) === 'none' || this.agents.get(agentId) !== agent) return `agent '${agentId}' is not draining`;
    this.agents.setDrain(agent, 'none');
    if (agent.state === 'active') this.allocator.activateAgent(agentId);
    this.offers.request();
    this.effects.log.info({ agentId }, 'agent reactivated');
    this.effects.event('agent-reactivated', `agent ${agent.info.hostname} reactivated`, { agentId });
    return `agent '${agentId}' (${agent.info.hostname}) reactivated`;
  }

  /** The re-registration window after a restart closed: agents that did not come back are unreachable, durably. */
  async stopWaiting(): Promise<void> {
    for (const expected of this.agents.stopWaiting()) {
      await this.effects.persist('mark agent unreachable', (r) => r.setAgentStatus(expected.id, expected.hostname, 'unreachable'));
      this.effects.log.warn({ agentId: expected.id }, 'agent did not re-register after the master restarted; it is unreachable');
    }
  }

  private require(agentId: string): AgentRecord {
    const agent = this.agents.get(agentId);
    if (!agent) throw new NotFoundError('agent', agentId);
    return agent;
  }
}
