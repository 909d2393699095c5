/** The TaskSpec that runs one instance of an app on an offer. */
import { buildTask, newTaskId, portsOf, type HealthCheckOptions, type Offer, type Resources, type TaskSpec } from '../../framework-sdk/index.js';
import type { AppSpec } from './app-spec.js';

/** Labels every instance carries (besides the app's own). */
export const LABEL_APP = 'orbit.services.app';
export const LABEL_VERSION = 'orbit.services.version';

/** A task for an instance of `spec` at `version`, with `resources` taken from `offer`. Its id is `APP.vVERSION-RANDOM`. */
export function instanceTask(spec: AppSpec, version: number, offer: Offer, resources: Resources): TaskSpec {
  return buildTask({
    taskId: newTaskId(`${spec.id}.v${version}`),
    name: spec.id,
    offer,
    resources,
    ...(spec.image !== undefined ? { image: spec.image } : { process: true }),
    ...(spec.command !== undefined ? { command: spec.command } : {}),
    env: spec.env,
    killGraceMs: Math.round(spec.killGraceSeconds * 1000),
    labels: { ...spec.labels, [LABEL_APP]: spec.id, [LABEL_VERSION]: String(version) },
    ...(spec.healthCheck ? { healthCheck: healthCheckFor(spec, portsOf(resources)) } : {}),
  });
}

/** The SDK's health check for an app's check, with its port index resolved to the instance's port. */
function healthCheckFor(spec: AppSpec, ports: number[]): HealthCheckOptions {
  const h = spec.healthCheck!;
  return {
    type: h.type,
    ...(h.command !== undefined ? { command: h.command } : {}),
    ...(h.portIndex !== undefined ? { port: ports[h.portIndex] ?? 0 } : {}),
    ...(h.path !== undefined ? { path: h.path } : {}),
    delayMs: Math.round(h.delaySeconds * 1000),
    intervalMs: Math.round(h.intervalSeconds * 1000),
    timeoutMs: Math.round(h.timeoutSeconds * 1000),
    consecutiveFailures: h.maxConsecutiveFailures,
    gracePeriodMs: Math.round(h.gracePeriodSeconds * 1000),
  };
}
