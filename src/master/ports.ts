/**
 * The master core's ports to its peers. The rpc/ layer implements them over gRPC streams; tests
 * and simulations can implement them in memory. Messages here are domain values; the rpc layer
 * encodes them (and stamps master → agent commands with the master's epoch).
 */
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
