/**
 * What the user asks of apps (deploy, scale, restart, remove), applied to the records: pure
 * checks and record changes, no I/O. The framework acts on the result in its next evaluation.
 */
import { SpecError } from '../common/spec-reader.js';
import { appConstraints, parseAppSpec, sameRunConfig, strategyProblem } from './app-spec.js';
import { contradictions } from './constraints.js';
import type { AppRecord } from './instances.js';

/** What a deploy, scale or restart did. */
export interface DeployOutcome {
  id: string;
  version: number;
  /** created: new app; upgrading: a new version rolls out; scaled: only `instances` changed. */
  change: 'created' | 'upgrading' | 'scaled' | 'unchanged';
}

/** No app has this id. */
export class AppNotFoundError extends Error {
  override readonly name = 'AppNotFoundError';
  constructor(readonly appId: string) {
    super(`no app '${appId}'`);
  }
}

/** The app is being removed; it cannot be changed until it is gone. */
export class AppRemovingError extends Error {
  override readonly name = 'AppRemovingError';
  constructor(readonly appId: string) {
    super(`app '${appId}' is being removed; wait until it is gone`);
  }
}

/** The app, or AppNotFoundError; with `forChange`, AppRemovingError for one being removed. */
export function findApp(apps: ReadonlyMap<string, AppRecord>, appId: string, forChange = false): AppRecord {
  const app = apps.get(appId);
  if (!app) throw new AppNotFoundError(appId);
  if (forChange && app.removing) throw new AppRemovingError(appId);
  return app;
}

/** A new version: every instance of an older one gets replaced, and the backoff starts afresh. */
function newVersion(app: AppRecord, now: number): void {
  app.version++;
  app.versionAt = now;
  app.failures = 0;
  delete app.lastFailureAt;
}

/**
 * Creates or updates an app from a user's spec (parsed JSON). A change in how it runs is a new
 * version (a rolling upgrade); a change of `instances` alone scales. Throws SpecError or
 * AppRemovingError, and then changes nothing.
 */
export function deployApp(apps: Map<string, AppRecord>, input: unknown, now: number): DeployOutcome {
  const parsed = parseAppSpec(input);
  if (!parsed.ok) throw new SpecError(parsed.problems);
  const spec = parsed.spec;
  const existing = apps.get(spec.id);
  if (!existing) {
    apps.set(spec.id, { spec, version: 1, versionAt: now, removing: false, instances: [], failures: 0, ended: [] });
    return { id: spec.id, version: 1, change: 'created' };
  }
  if (existing.removing) throw new AppRemovingError(spec.id);
  const sameRun = sameRunConfig(existing.spec, spec);
  if (sameRun && existing.spec.instances === spec.instances) return { id: spec.id, version: existing.version, change: 'unchanged' };
  existing.spec = spec;
  if (!sameRun) newVersion(existing, now);
  return { id: spec.id, version: existing.version, change: sameRun ? 'scaled' : 'upgrading' };
}

/** Sets the instance count, re-checking what depends on it. Throws SpecError naming the field. */
export function scaleApp(app: AppRecord, instances: number): DeployOutcome {
  if (!Number.isInteger(instances) || instances < 0) throw new SpecError([{ field: 'instances', message: `expected an integer >= 0, got ${instances}` }]);
  const problems = [
    ...contradictions(appConstraints(app.spec), instances).map((message) => ({ field: 'constraints', message })),
    ...[strategyProblem(instances, app.spec.upgradeStrategy)].filter((m): m is string => m !== undefined).map((message) => ({ field: 'upgradeStrategy', message })),
  ];
  if (problems.length > 0) throw new SpecError(problems.map((p) => ({ ...p, message: `with instances ${instances}: ${p.message}` })));
  const unchanged = app.spec.instances === instances;
  app.spec = { ...app.spec, instances };
  return { id: app.spec.id, version: app.version, change: unchanged ? 'unchanged' : 'scaled' };
}

/** A new version of the same spec: every instance is replaced, rolling. */
export function restartApp(app: AppRecord, now: number): DeployOutcome {
  newVersion(app, now);
  return { id: app.spec.id, version: app.version, change: 'upgrading' };
}
