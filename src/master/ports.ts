/**
 * The master core's ports to its peers. The rpc/ layer implements them over gRPC streams; tests
 * and simulations can implement them in memory. Messages here are domain values; the rpc layer
 * encodes them (and stamps master → agent commands with the master's epoch).
 */
import type { FrameworkInfo } from '../common/cluster.js';
import type { AgentCommand, SchedulerEvent } from '../common/master-messages.js';

export type { AgentCommand, SchedulerEvent };

/** One agent's open AgentLink stream. */
export interface AgentChannel {
  send(command: AgentCommand): void;
  /** Ends the stream; the agent will reconnect. */
  close(): void;
  /** The peer's IP address, as the master saw it. */
  readonly address: string;
}

/** One framework's open Subscribe stream. */
export interface FrameworkChannel {
  send(event: SchedulerEvent): void;
  /** Ends the stream (after an ERROR event, when the master is done with this subscription). */
  close(): void;
}

/**
 * The live streams, by agent and framework id: the rpc layer's session table. The core attaches a
 * stream when a (re-)registration or subscription takes effect and sends through the table, so
 * records never hold a stream.
 */
export interface Sessions {
  /** Makes `channel` the agent's stream; an earlier, different one is closed. */
  attachAgent(agentId: string, channel: AgentChannel): void;
  /** Is `channel` the agent's current stream? (A replaced stream that ends late must change nothing.) */
  isAgentStream(agentId: string, channel: AgentChannel): boolean;
  hasAgentStream(agentId: string): boolean;
  /** Forgets the agent's stream, closing it unless it has ended already. */
  detachAgent(agentId: string, close: boolean): void;
  toAgent(agentId: string, command: AgentCommand): void;

  attachFramework(frameworkId: string, channel: FrameworkChannel): void;
  detachFramework(frameworkId: string, close: boolean): void;
  toFramework(frameworkId: string, event: SchedulerEvent): void;
  /** Calls `fn` for every framework with a stream (heartbeats). */
  eachFramework(fn: (frameworkId: string) => void): void;
}

/**
 * Where the core makes its durable changes (the registry). Each call resolves once durable; the
 * core changes memory, answers and sends only after (decide → persist → apply → send).
 */
export interface MasterPersistence {
  /** Sets the weights of several roles in one write: all of them are durable, or none. */
  setWeights(weights: readonly { role: string; weight: number }[]): Promise<void>;
  setQuota(role: string, quota: { guarantee: string; limit: string } | undefined): Promise<void>;
  /** Records an agent as admitted (first registration, or re-registration after a restart or while unreachable). */
  admitAgent(agentId: string, hostname: string, principal?: string): Promise<void>;
  /** Records an agent that stopped heartbeating (unreachable) or that an operator marked gone. */
  setAgentStatus(agentId: string, hostname: string, status: 'unreachable' | 'gone'): Promise<void>;
  /** Records whether an operator is draining an agent. */
  setAgentDraining(agentId: string, hostname: string, draining: boolean): Promise<void>;
  /** Records a framework; `failoverDeadline` while it is disconnected. */
  saveFramework(info: FrameworkInfo, failoverDeadline?: number): Promise<void>;
  /** Records that a framework was removed: its id may not subscribe again. */
  retireFramework(info: FrameworkInfo): Promise<void>;
  /** Records an agent's dynamic reservations (resource text form; all of them are dynamic). */
  saveReservations(agentId: string, hostname: string, reservations: string): Promise<void>;
}
