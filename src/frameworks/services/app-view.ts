/**
 * What `list` and `show` report about apps: plain JSON views built from the records and the
 * planner's verdict, served by the API and printed by the CLI.
 */
import type { TaskState } from '../../framework-sdk/index.js';
import { upgradeBounds, type AppSpec } from './app-spec.js';
import { healthWord, isHealthy, type AppRecord, type EndedInstance, type KillReason, type PendingReason } from './instances.js';
import type { AppPlan } from './planner.js';

/**
 * Where an app stands.
 * - running: every wanted instance is up (and healthy, with a health check).
 * - deploying: instances are being launched or replaced (a deploy, scale, restart or recovery).
 * - backoff: launches wait after failures.       - removing: its instances are being killed.
 */
export type AppStatus = 'running' | 'deploying' | 'backoff' | 'removing';

/** One line of `list`. */
export interface AppSummary {
  id: string;
  version: number;
  status: AppStatus;
  /** Instances asked for. */
  instances: number;
  /** Instances whose task is RUNNING (any version). */
  running: number;
  /** Instances counted as serving (see isHealthy). */
  healthy: number;
  runs: string;
}

/** One instance in `show`. */
export interface InstanceView {
  taskId: string;
  version: number;
  state: TaskState;
  health: string;
  agentId: string;
  hostname: string;
  ports: number[];
  launchedAt: number;
  runningSince?: number;
  message: string;
  killReason?: KillReason;
}

/** Everything `show` prints. */
export interface AppDetails extends AppSummary {
  spec: AppSpec;
  instanceList: InstanceView[];
  /** Instances still to be launched, and why the last offers could not take them. */
  pending: { count: number; reasons: PendingReason[]; backoffUntil?: number; failures: number; lastOfferAt?: number };
  upgrade?: { oldInstances: number; minHealthy: number; maxTotal: number };
  ended: EndedInstance[];
}

export function appStatus(app: AppRecord, plan: AppPlan): AppStatus {
  if (app.removing) return 'removing';
  if (plan.launchNotBefore !== undefined) return 'backoff';
  const settled = plan.wanted === 0 && plan.oldInstances === 0 && plan.kill.length === 0 && app.instances.every((i) => isHealthy(i, app.spec));
  return settled && app.instances.length === app.spec.instances ? 'running' : 'deploying';
}

export function summarize(app: AppRecord, plan: AppPlan): AppSummary {
  const { spec } = app;
  return {
    id: spec.id,
    version: app.version,
    status: appStatus(app, plan),
    instances: spec.instances,
    running: app.instances.filter((i) => i.state === 'RUNNING').length,
    healthy: app.instances.filter((i) => isHealthy(i, spec)).length,
    runs: spec.image ? `${spec.image}${spec.command ? ` ${spec.command}` : ''}` : (spec.command ?? ''),
  };
}

export function describe(app: AppRecord, plan: AppPlan, reasons: PendingReason[], lastOfferAt: number | undefined): AppDetails {
  const { spec } = app;
  const upgrading = plan.oldInstances > 0 || app.instances.some((i) => i.version !== app.version);
  return {
    ...summarize(app, plan),
    spec,
    instanceList: app.instances.map((i) => ({
      taskId: i.taskId,
      version: i.version,
      state: i.state,
      health: healthWord(i, spec),
      agentId: i.agentId,
      hostname: i.hostname,
      ports: i.ports,
      launchedAt: i.launchedAt,
      ...(i.runningSince !== undefined ? { runningSince: i.runningSince } : {}),
      message: i.message,
      ...(i.killReason ? { killReason: i.killReason } : {}),
    })),
    pending: {
      count: plan.wanted,
      reasons: plan.wanted > 0 ? reasons : [],
      failures: app.failures,
      ...(plan.launchNotBefore !== undefined ? { backoffUntil: plan.launchNotBefore } : {}),
      ...(lastOfferAt !== undefined ? { lastOfferAt } : {}),
    },
    ...(upgrading ? { upgrade: { oldInstances: plan.oldInstances, ...upgradeBounds(spec.instances, spec.upgradeStrategy) } } : {}),
    ended: app.ended,
  };
}
