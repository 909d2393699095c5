/**
 * The services framework's decisions, pure: given an app's record and `now`, how many instances
 * to launch, which to kill and why, and when launching may resume after a failure; given offers,
 * which instance goes where (or why none could).
 *
 * Rolling restarts and upgrades follow Marathon's strategy. While instances of an old version
 * live, at most `maxTotal` instances exist at once (old, new and those being killed), and an old
 * healthy instance is killed only while more than `minHealthy` instances are healthy, so healthy
 * capacity never drops below the minimum because of the upgrade itself. Old instances that are not
 * healthy are killed at once: they serve nobody.
 */
import { checkFit, subtract, takeResources, type Offer, type Resources } from '../../framework-sdk/index.js';
import { appConstraints, resourceRequest, upgradeBounds, type AppSpec } from './app-spec.js';
import { checkConstraints, type Placement } from './constraints.js';
import { isHealthy, isLive, type AppRecord, type Instance, type KillReason } from './instances.js';
import { launchDelayMs } from './restart-backoff.js';

/** What to do about one app now. */
export interface AppPlan {
  /** Instances of the current version to launch now (0 while backing off). */
  launch: number;
  /** Instances to launch once the backoff is over (same as `launch` when not backing off). */
  wanted: number;
  /** Set while a failure's backoff holds launches back: when they may resume. */
  launchNotBefore?: number;
  kill: { taskId: string; reason: KillReason }[];
  /** Live instances of older versions (an upgrade or restart is under way while > 0). */
  oldInstances: number;
  healthy: number;
}

const byNewestFirst = (a: Instance, b: Instance) => b.launchedAt - a.launchedAt;
/** Kill order for extras: not healthy first, then the newest. */
const killOrder = (spec: AppSpec) => (a: Instance, b: Instance) => Number(isHealthy(a, spec)) - Number(isHealthy(b, spec)) || byNewestFirst(a, b);

/** Decides launches and kills for one app. Kills already requested are not repeated. */
export function planApp(app: AppRecord, now: number): AppPlan {
  const { spec } = app;
  const live = app.instances.filter(isLive);
  const kill: AppPlan['kill'] = [];
  const healthy = live.filter((i) => isHealthy(i, spec)).length;
  if (app.removing) {
    for (const i of live) kill.push({ taskId: i.taskId, reason: 'remove' });
    return { launch: 0, wanted: 0, kill, oldInstances: 0, healthy };
  }
  const current = live.filter((i) => i.version === app.version);
  const old = live.filter((i) => i.version !== app.version);
  const target = spec.instances;

  // More current instances than asked for (a scale-down, or an unreachable one came back).
  const extra = [...current].sort(killOrder(spec)).slice(0, Math.max(0, current.length - target));
  for (const i of extra) kill.push({ taskId: i.taskId, reason: 'scale-down' });
  const keptCurrent = current.length - extra.length;

  let wanted = Math.max(0, target - keptCurrent);
  // Old versions' instances still being killed hold their resources: the cap applies until they end.
  const upgrading = app.instances.some((i) => i.version !== app.version && i.state !== 'UNREACHABLE');
  if (upgrading) {
    const { minHealthy, maxTotal } = upgradeBounds(target, spec.upgradeStrategy);
    const killing = app.instances.filter((i) => i.killReason !== undefined && i.state !== 'UNREACHABLE').length + extra.length;
    const total = current.length + old.length + killing;
    wanted = Math.max(0, Math.min(wanted, maxTotal - total));
    let allowance = live.filter((i) => isHealthy(i, spec) && !extra.includes(i)).length - minHealthy;
    for (const i of [...old].sort(killOrder(spec))) {
      if (!isHealthy(i, spec)) kill.push({ taskId: i.taskId, reason: 'upgrade' });
      else if (allowance > 0) {
        kill.push({ taskId: i.taskId, reason: 'upgrade' });
        allowance--;
      }
    }
  }

  const delay = launchDelayMs(app.failures, spec);
  const notBefore = app.lastFailureAt !== undefined && delay > 0 ? app.lastFailureAt + delay : undefined;
  const backingOff = wanted > 0 && notBefore !== undefined && now < notBefore;
  return {
    launch: backingOff ? 0 : wanted,
    wanted,
    ...(backingOff ? { launchNotBefore: notBefore } : {}),
    kill,
    oldInstances: old.length,
    healthy,
  };
}

/** One app's request for new instances, for placement. */
export interface LaunchRequest {
  appId: string;
  spec: AppSpec;
  count: number;
  /** Where its instances are now (for constraints); placement adds what it places. */
  placed: Placement[];
}

/** One instance placed on an offer, with the concrete resources taken for it. */
export interface PlacedLaunch {
  appId: string;
  offer: Offer;
  resources: Resources;
}

/** Why an app's offer did not take an instance, one per agent seen. */
export interface PlacementMiss {
  appId: string;
  agentId: string;
  hostname: string;
  reason: string;
}

/** The outcome of placing requests on offers. */
export interface PlacementResult {
  launches: PlacedLaunch[];
  /** For each app left with instances to place: why each offer could not take one. */
  misses: PlacementMiss[];
  /** Instances each app still could not place. */
  unplaced: Map<string, number>;
}

/**
 * Places instances on offers, in rounds: each round gives each offer at most one instance of each
 * app, so instances spread over agents before they double up. An instance goes on an offer when
 * every constraint holds, given the app's instances (and those placed in earlier rounds), and
 * its resources fit what is left of the offer.
 */
export function placeInstances(requests: readonly LaunchRequest[], offers: readonly Offer[]): PlacementResult {
  const left = new Map<string, Resources>(offers.map((o) => [o.id, o.resources]));
  const wants = requests.map((r) => ({ ...r, placed: [...r.placed], constraints: appConstraints(r.spec), request: resourceRequest(r.spec) }));
  const launches: PlacedLaunch[] = [];
  const lastMiss = new Map<string, PlacementMiss>();
  for (let progress = true; progress; ) {
    progress = false;
    for (const offer of offers) {
      for (const w of wants) {
        if (w.count <= 0) continue;
        const here: Placement = { hostname: offer.hostname, attributes: offer.attributes };
        const missKey = `${w.appId}\u0000${offer.agentId}`;
        const verdict = checkConstraints(w.constraints, here, w.placed);
        if (!verdict.ok) {
          lastMiss.set(missKey, { appId: w.appId, agentId: offer.agentId, hostname: offer.hostname, reason: `constraint ${verdict.constraint}: ${verdict.reason}` });
          continue;
        }
        const available = left.get(offer.id) ?? [];
        const taken = takeResources(available, w.request, offer.role);
        if (!taken) {
          const fit = checkFit(available, w.request, offer.role);
          const why = fit.ok ? 'resources do not fit' : fit.reasons.map((s) => `${s.resource}: requested ${s.requested}, available ${s.available}`).join('; ');
          lastMiss.set(missKey, { appId: w.appId, agentId: offer.agentId, hostname: offer.hostname, reason: `resources: ${why}` });
          continue;
        }
        left.set(offer.id, subtract(available, taken));
        launches.push({ appId: w.appId, offer, resources: taken });
        w.placed.push(here);
        w.count--;
        progress = true;
      }
    }
  }
  const unplaced = new Map<string, number>();
  for (const w of wants) if (w.count > 0) unplaced.set(w.appId, w.count);
  const misses = [...lastMiss.values()].filter((m) => unplaced.has(m.appId));
  return { launches, misses, unplaced };
}

/** The placements of an app's instances that constraints must respect: all but those being killed. */
export function placementsOf(app: AppRecord): Placement[] {
  return app.instances.filter((i) => i.killReason === undefined).map((i) => ({ hostname: i.hostname, attributes: i.attributes }));
}
