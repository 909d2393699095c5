/** Domain types for the parties of the cluster: frameworks, agents, offers and operations. */
import type { Attributes } from './attributes.js';
import type { Resources } from './resources.js';
import type { TaskSpec } from './tasks.js';

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

export type Operation =
  | { type: 'LAUNCH'; tasks: TaskSpec[] }
  | { type: 'RESERVE'; resources: Resources }
  | { type: 'UNRESERVE'; resources: Resources }
  | { type: 'CREATE'; volumes: Resources }
  | { type: 'DESTROY'; volumes: Resources };

/** Mesos' default for declined resources: do not offer them again for 5 s. */
export const DEFAULT_REFUSE_SECONDS = 5;
