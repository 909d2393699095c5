/**
 * What the master core tells its metrics about. A port: the core calls it on the events it alone
 * sees (offers made, accepted, declined, rescinded; allocation cycles; status updates relayed;
 * registry writes), the rpc layer on the streams it cuts; the HTTP layer turns it into Prometheus
 * metrics. Gauges that can be read off the books (agents, tasks by state, resources) are computed
 * at scrape time instead.
 */
/** Something an operator would want in a "recent events" list. */
export interface ClusterEvent {
  type:
    | 'agent-registered'
    | 'agent-reregistered'
    | 'agent-disconnected'
    | 'agent-unreachable'
    | 'agent-gone'
    | 'agent-draining'
    | 'agent-reactivated'
    | 'framework-subscribed'
    | 'framework-disconnected'
    | 'framework-removed'
    | 'task-ended';
  /** Milliseconds since the epoch. */
  time: number;
  message: string;
  agentId?: string;
  frameworkId?: string;
  taskId?: string;
  /** For task-ended: the terminal state (FAILED, KILLED, ...; FINISHED is not reported). */
  state?: string;
}

export interface MasterMetrics {
  offersMade(count: number): void;
  offersAccepted(count: number): void;
  offersDeclined(count: number): void;
  offersRescinded(count: number): void;
  /** One allocation cycle took this long and made this many offers. */
  allocationRun(ms: number, offers: number): void;
  statusUpdateRelayed(source: 'AGENT' | 'MASTER'): void;
  /** A durable registry write took this long. */
  registryWrite(ms: number): void;
  /** Something happened that the dashboard's event list shows. */
  clusterEvent(event: ClusterEvent): void;
  /** A framework's or agent's stream was cut: it had stopped reading and its unsent queue passed the bound. */
  streamCut(kind: StreamKind): void;
}

/** Who is at the other end of a stream the master writes to. */
export type StreamKind = 'framework' | 'agent';

/** Does nothing; the default, and what tests use. */
export const NO_METRICS: MasterMetrics = {
  offersMade: () => undefined,
  offersAccepted: () => undefined,
  offersDeclined: () => undefined,
  offersRescinded: () => undefined,
  allocationRun: () => undefined,
  statusUpdateRelayed: () => undefined,
  registryWrite: () => undefined,
  clusterEvent: () => undefined,
  streamCut: () => undefined,
};
