/** Domain types for the parties of the cluster: frameworks, agents, offers and operations. */
import type { Attributes } from './attributes.js';
import type { Resources } from './resources.js';
import type { Bounds } from './task-limits.js';
import type { TaskSpec } from './tasks.js';

const YEAR_MS = 365 * 24 * 3_600_000;

export interface FrameworkInfo {
  /** Empty on a first subscription; the master assigns it. */
  id: string;
  name: string;
  roles: string[];
  user: string;
  hostname: string;
  /** How long the master keeps a disconnected framework's tasks. */
  failoverTimeoutMs: number;
  principal: string;
  labels: Record<string, string>;
}

export interface AgentInfo {
  /** Empty on a first registration; the master assigns it. */
  id: string;
  hostname: string;
  resources: Resources;
  attributes: Attributes;
  httpPort: number;
  containerizers: string[];
  /** The principal (`agent:NAME`) of the certificate it registered with; set by the master, never read from a message. */
  principal?: string;
}

/** A bundle of one agent's resources, made to one framework for one role. */
export interface Offer {
  id: string;
  frameworkId: string;
  agentId: string;
  hostname: string;
  role: string;
  resources: Resources;
  attributes: Attributes;
}

/**
 * What an accept asks for, in order. A LAUNCH's `refused` maps the index of a task in `tasks` that
 * the master must refuse alone (TASK_ERROR, TASK_INVALID) to why, naming the field: a problem
 * found on the wire (overlapping ranges, NUL in its environment) that leaves its id usable.
 */
export type Operation =
  | { type: 'LAUNCH'; tasks: TaskSpec[]; refused?: ReadonlyMap<number, string> }
  | { type: 'RESERVE'; resources: Resources }
  | { type: 'UNRESERVE'; resources: Resources }
  | { type: 'CREATE'; volumes: Resources }
  | { type: 'DESTROY'; volumes: Resources };

/** Mesos' default for declined resources: do not offer them again for 5 s. */
export const DEFAULT_REFUSE_SECONDS = 5;
/** Refuse seconds: 0 to a year (Mesos caps filters at 365 days). */
export const REFUSE_MS: Bounds = { min: 0, max: YEAR_MS };
/** A framework's failover timeout: 0 (its tasks die with its connection) to a year. */
export const FAILOVER_TIMEOUT_MS: Bounds = { min: 0, max: YEAR_MS };
/** Roles one framework subscribes with. */
export const MAX_ROLES_PER_FRAMEWORK = 100;
