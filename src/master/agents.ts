/**
 * The agents book: every agent record, the agents a restarted master still expects back, the ids
 * retired as gone, and dynamic reservations per agent. The only writer of AgentRecords; moves go
 * through `transition`, which checks the agent state machine (agent-lifecycle.ts).
 */
import type { Logger } from 'pino';
import type { AgentInfo } from '../common/cluster.js';
import { add, contains, formatResources, subtract, withRole, type Resources } from '../common/resources.js';
import { agentTransitionAllowed, type AgentState, type DrainState } from './agent-lifecycle.js';
import type { AgentRecord } from './records.js';

/** An agent the registry knows that has not re-registered since this master started. */
export interface ExpectedAgent {
  id: string;
  hostname: string;
  /** Still inside the re-registration window (reconciliation waits for it). */
  waiting: boolean;
  /** It was draining when the master stopped. */
  draining: boolean;
  /** The principal it is bound to, when it registered with a certificate. */
  principal?: string;
}

export class AgentBook {
  private readonly agents = new Map<string, AgentRecord>();
  private readonly expectations = new Map<string, ExpectedAgent>();
  /** How many expectations are still `waiting`. */
  private waitingCount = 0;
  private readonly goneIds = new Set<string>();
  /** Dynamic reservations per agent (made by RESERVE), applied to its resources whenever it registers. */
  private readonly reserved = new Map<string, Resources>();

  constructor(private readonly log: Logger) {}

  get(id: string): AgentRecord | undefined {
    return this.agents.get(id);
  }

  values(): IterableIterator<AgentRecord> {
    return this.agents.values();
  }

  get size(): number {
    return this.agents.size;
  }

  /** A record for an agent registering (a new id) or coming back after this master restarted; `active`. */
  add(info: AgentInfo, address: string, now: number, drain: DrainState = 'none'): AgentRecord {
    const record: AgentRecord = { info, state: 'active', drain, address, registeredAt: now, lastHeartbeatAt: now };
    this.agents.set(info.id, record);
    this.forgetExpected(info.id);
    return record;
  }

  /** Moves an agent along its state machine; throws on a move it does not allow (a bug, never input). */
  transition(agent: AgentRecord, to: AgentState): void {
    if (!agentTransitionAllowed(agent.state, to)) throw new Error(`agent '${agent.info.id}': ${agent.state} cannot become ${to}`);
    agent.state = to;
    if (to === 'gone') {
      this.agents.delete(agent.info.id);
      this.goneIds.add(agent.info.id);
    }
  }

  /** A re-registration's new info and address (its resources with the reservations applied). */
  refresh(agent: AgentRecord, info: AgentInfo, address: string, now: number): void {
    agent.info = info;
    agent.address = address;
    agent.lastHeartbeatAt = now;
  }

  setDrain(agent: AgentRecord, drain: DrainState): void {
    agent.drain = drain;
  }

  /** Records a sign of life; unknown agents are ignored. */
  heartbeat(id: string, now: number): void {
    const agent = this.agents.get(id);
    if (agent) agent.lastHeartbeatAt = now;
  }

  // ---- after a restart: expected and gone agents ---------------------------------------------

  /** The registry says this agent should come back; unless it already has. */
  expect(id: string, hostname: string, waiting: boolean, draining: boolean, principal?: string): void {
    if (this.agents.has(id)) return;
    this.forgetExpected(id);
    this.expectations.set(id, { id, hostname, waiting, draining, ...(principal !== undefined ? { principal } : {}) });
    if (waiting) this.waitingCount += 1;
  }

  /** True while some expected agent is still inside the re-registration window. */
  isWaiting(): boolean {
    return this.waitingCount > 0;
  }

  expected(id: string): ExpectedAgent | undefined {
    return this.expectations.get(id);
  }

  allExpected(): ExpectedAgent[] {
    return [...this.expectations.values()];
  }

  /** The expected agents still waited for; after this, none is. */
  stopWaiting(): ExpectedAgent[] {
    const stopped = [...this.expectations.values()].filter((e) => e.waiting);
    for (const e of stopped) e.waiting = false;
    this.waitingCount = 0;
    return stopped;
  }

  /** An expected agent marked gone before it came back. */
  retireExpected(id: string): void {
    this.forgetExpected(id);
    this.goneIds.add(id);
  }

  private forgetExpected(id: string): void {
    if (this.expectations.get(id)?.waiting) this.waitingCount -= 1;
    this.expectations.delete(id);
  }

  isGone(id: string): boolean {
    return this.goneIds.has(id);
  }

  /** After a restart: the registry says this agent is gone. */
  restoreGone(id: string): void {
    this.goneIds.add(id);
  }

  // ---- dynamic reservations ------------------------------------------------------------------

  /** Sets an agent's dynamic reservations (from the registry, or after a RESERVE/UNRESERVE). */
  setReservations(id: string, reserved: Resources): void {
    this.reserved.set(id, reserved.map((r) => ({ ...r, dynamic: true })));
  }

  /** After a RESERVE or UNRESERVE (the caller made the reservations durable): the agent's new resources. */
  setResources(agent: AgentRecord, resources: Resources): void {
    agent.info = { ...agent.info, resources };
    this.reserved.set(agent.info.id, resources.filter((r) => r.dynamic));
  }

  /** An agent's own resources with its dynamic reservations applied. */
  withReservations(id: string, resources: Resources): Resources {
    const reserved = this.reserved.get(id);
    if (!reserved || reserved.length === 0) return resources;
    const from = withRole(reserved, '*');
    if (!contains(resources, from)) {
      this.log.error({ agentId: id, reservations: formatResources(reserved) }, 'the agent no longer has the resources of its reservations; they are dropped');
      return resources;
    }
    return add(subtract(resources, from), reserved);
  }
}
