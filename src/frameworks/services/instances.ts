/**
 * What the services framework remembers about an app and its instances (persisted as JSON), and
 * the small pure questions asked of them: is this instance healthy, does it count, why was it
 * killed.
 */
import type { Attribute, TaskState } from '../../framework-sdk/index.js';
import type { AppSpec } from './app-spec.js';

/**
 * Why the framework asked for an instance to be killed; such an ending is not a failure.
 * - scale-down: more instances than asked for.   - upgrade: an old version's, being replaced.
 * - remove: the app is being removed.            - unknown: a task of ours this framework has no record of.
 */
export type KillReason = 'scale-down' | 'upgrade' | 'remove' | 'unknown';

/** One instance: a task launched for an app, until its terminal status. */
export interface Instance {
  taskId: string;
  /** The app version it was launched from (see AppRecord.version). */
  version: number;
  agentId: string;
  hostname: string;
  attributes: Attribute[];
  ports: number[];
  /** Its latest task state; STAGING from the moment it is launched. */
  state: TaskState;
  /** From its health check; undefined without one or before the first result. */
  healthy?: boolean;
  message: string;
  launchedAt: number;
  runningSince?: number;
  /** Since when it has been healthy without a break. */
  healthySince?: number;
  killReason?: KillReason;
  /** When the last kill was sent (kills are re-sent until the task ends). */
  killSentAt?: number;
}

/** How an instance ended, kept for `show`. */
export interface EndedInstance {
  taskId: string;
  version: number;
  hostname: string;
  state: TaskState;
  reason: string;
  message: string;
  endedAt: number;
  /** True when it counted as a failure (it ended without the framework asking). */
  failure: boolean;
}

/** Why an instance is still waiting for an agent, per agent, from the last offers seen. */
export interface PendingReason {
  agentId: string;
  hostname: string;
  reason: string;
  at: number;
}

/** An app and everything the framework knows about it. */
export interface AppRecord {
  spec: AppSpec;
  /** Bumped by every deploy that changes how it runs, and by every restart. */
  version: number;
  versionAt: number;
  /** Removal requested: its instances are being killed, then the record goes. */
  removing: boolean;
  /** Instances whose tasks have not ended. */
  instances: Instance[];
  /** Failures in a row (for the launch backoff) and when the last one was. */
  failures: number;
  lastFailureAt?: number;
  /** The last few endings, newest last. */
  ended: EndedInstance[];
}

/** How many endings an app keeps for `show`. */
export const ENDED_KEPT = 10;

/** Counted as serving: RUNNING, not being killed, and healthy when the app has a health check. */
export function isHealthy(i: Instance, spec: AppSpec): boolean {
  return i.state === 'RUNNING' && i.killReason === undefined && (spec.healthCheck ? i.healthy === true : true);
}

/** Counted toward the app's instances: not being killed and not out of contact. */
export function isLive(i: Instance): boolean {
  return i.killReason === undefined && i.state !== 'UNREACHABLE';
}

/** `healthy`, `unhealthy`, `unchecked` (no result yet) or `-` (no health check). */
export function healthWord(i: Instance, spec: AppSpec): string {
  if (!spec.healthCheck) return i.state === 'RUNNING' ? 'running' : '-';
  if (i.healthy === undefined) return 'unchecked';
  return i.healthy ? 'healthy' : 'unhealthy';
}
