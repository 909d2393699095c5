/**
 * What the master core tells its metrics about. A port: the core calls it on the events it alone
 * sees (offers made, accepted, declined, rescinded; allocation cycles; status updates relayed;
 * registry writes); the HTTP layer turns it into Prometheus metrics. Gauges that can be read off
 * the books (agents, tasks by state, resources) are computed at scrape time instead.
 */
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
}

/** Does nothing; the default, and what tests use. */
export const NO_METRICS: MasterMetrics = {
  offersMade: () => undefined,
  offersAccepted: () => undefined,
  offersDeclined: () => undefined,
  offersRescinded: () => undefined,
  allocationRun: () => undefined,
  statusUpdateRelayed: () => undefined,
  registryWrite: () => undefined,
};
