/**
 * The master core's ports to its peers. The rpc/ layer implements them over gRPC streams; tests
 * and simulations can implement them in memory. Messages here are domain values; the rpc layer
 * encodes them (and stamps master → agent commands with the master's epoch).
 */
import type { FrameworkInfo, Offer } from '../common/cluster.js';
import type { ErrorReason } from '../common/errors.js';
import type { StatusReason, TaskSpec, TaskStatus } from '../common/tasks.js';

export type AgentCommand =
  | { type: 'registered'; agentId: string; heartbeatIntervalMs: number }
  | { type: 'reregistered'; agentId: string; heartbeatIntervalMs: number }
  | { type: 'runTask'; framework: FrameworkInfo; task: TaskSpec }
  | { type: 'killTask'; frameworkId: string; taskId: string; killGraceMs?: number; reason: StatusReason }
  | { type: 'ack'; frameworkId: string; taskId: string; uuid: string }
  | { type: 'shutdownFramework'; frameworkId: string }
  | { type: 'reconcile'; frameworkId: string; taskIds: string[] }
  | { type: 'refused'; reason: ErrorReason; message: string };

/** One agent's open AgentLink stream. */
export interface AgentChannel {
  send(command: AgentCommand): void;
  /** Ends the stream; the agent will reconnect. */
  close(): void;
  /** The peer's IP address, as the master saw it. */
  readonly address: string;
}

export type SchedulerEvent =
  | { type: 'subscribed'; frameworkId: string; streamId: string; heartbeatIntervalMs: number; masterId: string }
  | { type: 'offers'; offers: Offer[] }
  | { type: 'rescind'; offerId: string }
  | { type: 'update'; status: TaskStatus }
  | { type: 'failure'; agentId: string; message: string }
  | { type: 'error'; reason: ErrorReason; message: string }
  | { type: 'heartbeat' };

/** One framework's open Subscribe stream. */
export interface FrameworkChannel {
  send(event: SchedulerEvent): void;
  /** Ends the stream (after an ERROR event, when the master is done with this subscription). */
  close(): void;
}
