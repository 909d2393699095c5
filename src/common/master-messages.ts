/**
 * What a master sends its peers, as domain values: commands to an agent on its AgentLink stream,
 * events to a framework on its Subscribe stream. The master's rpc layer encodes them
 * (master/rpc/encode.ts, stamping agent commands with its epoch); agents and the SDK decode them
 * (message-codec.ts) and switch on these unions, never on generated types.
 */
import type { FrameworkInfo, Offer } from './cluster.js';
import type { ErrorReason } from './errors.js';
import type { StatusReason, TaskSpec, TaskStatus } from './tasks.js';

/** A master → agent command. */
export type AgentCommand =
  | { type: 'registered'; agentId: string; heartbeatIntervalMs: number }
  | { type: 'reregistered'; agentId: string; heartbeatIntervalMs: number }
  /** `acceptedAt`: when the master accepted the launch (ms); the agent reports it back on re-registration. */
  | { type: 'runTask'; framework: FrameworkInfo; task: TaskSpec; acceptedAt?: number }
  | { type: 'killTask'; frameworkId: string; taskId: string; killGraceMs?: number; reason: StatusReason }
  | { type: 'ack'; frameworkId: string; taskId: string; uuid: string }
  | { type: 'shutdownFramework'; frameworkId: string }
  | { type: 'reconcile'; frameworkId: string; taskIds: string[] }
  | { type: 'refused'; reason: ErrorReason; message: string };

/** A master → framework event. */
export type SchedulerEvent =
  | { type: 'subscribed'; frameworkId: string; streamId: string; heartbeatIntervalMs: number; masterId: string }
  | { type: 'offers'; offers: Offer[] }
  | { type: 'rescind'; offerId: string }
  | { type: 'update'; status: TaskStatus }
  | { type: 'failure'; agentId: string; message: string }
  | { type: 'error'; reason: ErrorReason; message: string }
  | { type: 'heartbeat' };

/**
 * A command as an agent receives it. The same union but for two things a receiver must allow:
 * a refusal's reason may be one this build does not know (undefined; the message still says
 * why), and a launch the agent refuses is a value naming the task, when its ids are usable, so
 * the agent can answer it with TASK_ERROR.
 */
export type ReceivedAgentCommand =
  | Exclude<AgentCommand, { type: 'refused' }>
  | { type: 'refused'; reason: ErrorReason | undefined; message: string }
  | { type: 'invalidLaunch'; message: string; frameworkId?: string; taskId?: string };

/** An event as a framework receives it: an ERROR's reason may be one this build does not know. */
export type ReceivedSchedulerEvent =
  | Exclude<SchedulerEvent, { type: 'error' }>
  | { type: 'error'; reason: ErrorReason | undefined; message: string };
