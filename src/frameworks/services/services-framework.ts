/**
 * The services framework (Marathon on Orbit): keeps each app's instances running and healthy,
 * built only on the public SDK. This file is the I/O shell: it feeds offers, status updates and
 * user requests into the pure planner (planner.ts), carries out its launches and kills, persists
 * every change before acting on it, and turns offers on (revive) only while something waits.
 *
 * Ordering that matters:
 * - an instance is saved (STAGING) before the Accept that launches it, so a crash between the two
 *   leaves a task id that reconciliation answers (LOST, then replaced), never an unknown task;
 * - after every (re)subscription the framework reconciles every task it knows, explicitly, then
 *   implicitly, and kills any task of its own that it has no record of.
 *
 * It knows when it has lost the master (`connection`): instance states and health are then as last
 * known, and its API and the `orbit services` commands say so.
 */
import { EventEmitter } from 'node:events';
import {
  isTerminal,
  OfferDemand,
  portsOf,
  SchedulerClient,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
  type Offer,
  type SubscribedInfo,
  type SubscriptionError,
  type TaskSpec,
  type TaskStatus,
  type TimerHandle,
} from '../../framework-sdk/index.js';
import { deployApp, findApp, restartApp, scaleApp, type DeployOutcome } from './app-requests.js';
import { describe, summarize, type AppDetails, type AppSummary } from './app-view.js';
import { connectedAt, disconnectedAt, initialConnection, type MasterConnection } from '../common/master-connection.js';
import { isRetiredId, launchAndDecline, reconcileAll, subscribe } from '../common/subscription.js';
import { instanceTask } from './instance-task.js';
import { ENDED_KEPT, isHealthy, type AppRecord, type Instance, type KillReason, type PendingReason } from './instances.js';
import { placeInstances, placementsOf, planApp, type AppPlan, type LaunchRequest } from './planner.js';
import { ServicesStateStore } from './services-state.js';
import type { ClientSecurity } from '../../framework-sdk/index.js';

/** A failure after this long healthy starts the backoff afresh instead of adding to it. */
const BACKOFF_RESET_HEALTHY_MS = 10_000;
/** Reasons kept per app: one per agent, the newest. */
const REASONS_KEPT = 20;

/** What a ServicesFramework needs; everything but the master and the state dir has a default. */
export interface ServicesFrameworkOptions {
  /** The master's gRPC address, `host:port`. */
  master: string;
  /** Credentials for the master (default: the SDK's, from $ORBIT_CREDENTIALS or ~/.orbit/credentials.json). */
  security?: ClientSecurity;
  /** Where apps, task ids and the framework id are kept. */
  stateDir: string;
  /** Default `orbit-services`. */
  name?: string;
  /** The role to subscribe with; default `*`. */
  role?: string;
  /** How long the master keeps the instances running while this framework is away; default 1 week. */
  failoverTimeoutMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** Declined offers come back after this many seconds while instances wait; default 1. */
  pendingRefuseSeconds?: number;
  /** ... and after this many when nothing waits (offers are suppressed then too); default 30. */
  idleRefuseSeconds?: number;
  /** A kill without a terminal status is sent again after this long; default 10 s. */
  killResendMs?: number;
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
}

export interface ServicesFrameworkEvents {
  /** Something about an app changed (status, instance, deploy). */
  changed: [];
  /** The master ended the subscription for good; the framework has stopped. `message` says so, and why. */
  error: [message: string];
}

/** The services framework; `start()` it, then deploy apps. */
export class ServicesFramework extends EventEmitter<ServicesFrameworkEvents> {
  private readonly store: ServicesStateStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly apps = new Map<string, AppRecord>();
  /** Task id → app id, for every live instance. */
  private readonly taskIndex = new Map<string, string>();
  private readonly reasons = new Map<string, Map<string, PendingReason>>();
  private frameworkId: string | undefined;
  private client: SchedulerClient | undefined;
  private demand: OfferDemand | undefined;
  private lastOfferAt: number | undefined;
  private backoffTimer: TimerHandle | undefined;
  private backoffTimerAt: number | undefined;
  private killTimer: TimerHandle | undefined;
  private stopped = false;
  private conn: MasterConnection;
  /** Settles start(): the first subscription, whichever client makes it. */
  private firstSubscription: { resolve: (info: SubscribedInfo) => void; reject: (err: Error) => void } | undefined;
  private loaded = false;

  constructor(private readonly options: ServicesFrameworkOptions) {
    super();
    this.store = new ServicesStateStore(options.stateDir);
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? silentLogger).child({ framework: options.name ?? 'orbit-services' });
    this.conn = initialConnection(this.clock.now());
  }

  /** Whether it is subscribed to the master now; while not, instance states and health are as last known. */
  get connection(): MasterConnection {
    return this.conn;
  }

  /** The framework id, once subscribed (or loaded from the state dir). */
  get id(): string | undefined {
    return this.frameworkId;
  }

  /** Where the framework logs; its API server logs its faults there too. */
  get logger(): Logger {
    return this.log;
  }

  /** Reads the state dir (apps, task ids, framework id); a no-op once done. Throws StateFileError. */
  load(): void {
    if (this.loaded) return;
    const state = this.store.load();
    this.frameworkId = state.frameworkId;
    for (const app of state.apps) {
      this.apps.set(app.spec.id, app);
      for (const i of app.instances) this.taskIndex.set(i.taskId, app.spec.id);
    }
    this.loaded = true;
  }

  /** Loads the state dir (see load) and subscribes; resolves at the first subscription. */
  async start(): Promise<SubscribedInfo> {
    this.load();
    const resend = this.options.killResendMs ?? 10_000;
    this.killTimer = this.clock.setRepeating(Math.max(100, Math.floor(resend / 2)), () => this.resendKills());
    const first = new Promise<SubscribedInfo>((resolve, reject) => (this.firstSubscription = { resolve, reject }));
    this.connect();
    return first;
  }

  /** Closes the connection without tearing the framework down: its instances keep running. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.firstSubscription?.reject(new Error('stopped before the first subscription'));
    this.firstSubscription = undefined;
    this.killTimer?.cancel();
    this.backoffTimer?.cancel();
    this.client?.close();
    this.conn = disconnectedAt(this.conn, this.clock.now(), 'stopped');
  }

  // ---- user requests ----------------------------------------------------------------------

  /**
   * Creates or updates an app from a user's spec (parsed JSON). A change in how it runs starts a
   * rolling upgrade to a new version; a change of `instances` alone scales. Throws SpecError
   * (nothing changes) or AppRemovingError.
   */
  deploy(input: unknown): DeployOutcome {
    const outcome = deployApp(this.apps, input, this.clock.now());
    this.log.info({ app: outcome.id, version: outcome.version, change: outcome.change }, 'deployed');
    this.evaluate();
    return outcome;
  }

  /** Sets the instance count. Throws AppNotFoundError, AppRemovingError, or SpecError naming the field. */
  scale(appId: string, instances: number): DeployOutcome {
    const outcome = scaleApp(findApp(this.apps, appId, true), instances);
    this.evaluate();
    return outcome;
  }

  /** Replaces every instance, rolling, under the app's upgrade strategy. */
  restart(appId: string): DeployOutcome {
    const outcome = restartApp(findApp(this.apps, appId, true), this.clock.now());
    this.evaluate();
    return outcome;
  }

  /** Kills every instance; the app is forgotten once they have all ended. Idempotent. */
  remove(appId: string): void {
    findApp(this.apps, appId).removing = true;
    this.evaluate();
  }

  /** Every app, by id: status, version, healthy and running counts. */
  list(): AppSummary[] {
    const now = this.clock.now();
    return [...this.apps.values()].sort((a, b) => a.spec.id.localeCompare(b.spec.id)).map((app) => summarize(app, planApp(app, now)));
  }

  /** One app: its instances (where, health), pending reasons, recent endings. Throws AppNotFoundError. */
  show(appId: string): AppDetails {
    const app = findApp(this.apps, appId);
    const reasons = [...(this.reasons.get(appId)?.values() ?? [])].sort((a, b) => a.hostname.localeCompare(b.hostname));
    return describe(app, planApp(app, this.clock.now()), reasons, this.lastOfferAt);
  }

  // ---- the connection ---------------------------------------------------------------------

  private connect(): void {
    const client = subscribe(this.options, 'orbit-services', this.frameworkId, this.log, {
      subscribed: (info) => this.onSubscribed(info),
      offers: (offers) => this.onOffers(offers),
      update: (status) => this.onUpdate(status),
      disconnected: (c, reason) => this.onDisconnected(c, reason),
      fatal: (c, error) => this.onFatal(c, error),
    });
    this.client = client;
    this.demand = new OfferDemand(client);
  }

  private onSubscribed(info: SubscribedInfo): void {
    this.firstSubscription?.resolve(info);
    this.firstSubscription = undefined;
    if (this.frameworkId !== info.frameworkId) {
      this.frameworkId = info.frameworkId;
      this.save();
    }
    this.log.info({ frameworkId: info.frameworkId, resubscribed: info.resubscribed }, 'subscribed');
    this.conn = connectedAt(this.clock.now(), info.masterId);
    const client = this.client;
    if (!client) return;
    const known = [...this.apps.values()].flatMap((a) => a.instances.map((i) => ({ taskId: i.taskId, agentId: i.agentId })));
    // Unknown tasks the master reports are killed (onUpdate).
    reconcileAll(client, known, this.log);
    for (const app of this.apps.values()) for (const i of app.instances) if (i.killReason) delete i.killSentAt;
    this.resendKills();
    this.evaluate();
  }

  /** The master is gone for now; the client re-subscribes by itself. Instances keep their last known states. */
  private onDisconnected(client: SchedulerClient, reason: string): void {
    if (client !== this.client || this.stopped) return;
    this.conn = disconnectedAt(this.conn, this.clock.now(), reason);
    this.emit('changed');
  }

  /** The master refused the subscription for good. A torn-down id starts afresh; anything else stops. */
  private onFatal(client: SchedulerClient, error: SubscriptionError): void {
    if (client !== this.client || this.stopped) return;
    const message = error.details;
    if (this.frameworkId && isRetiredId(error)) {
      this.log.warn({ frameworkId: this.frameworkId, message }, 'the master retired this framework id; its tasks are gone; subscribing afresh');
      const now = this.clock.now();
      this.conn = disconnectedAt(this.conn, now, error.message);
      for (const app of this.apps.values()) {
        for (const i of [...app.instances]) this.ended(app, i, { state: 'LOST', reason: 'FRAMEWORK_REMOVED', message }, now, false);
      }
      this.frameworkId = undefined;
      this.save();
      this.connect();
      return;
    }
    this.firstSubscription?.reject(error);
    this.firstSubscription = undefined;
    this.stop();
    if (this.listenerCount('error') > 0) this.emit('error', error.message);
    else this.log.error({ reason: error.reason }, `${error.message}; stopped`);
  }

  // ---- offers and updates -----------------------------------------------------------------

  private onOffers(offers: Offer[]): void {
    const client = this.client;
    if (!client) return;
    const now = this.clock.now();
    this.lastOfferAt = now;
    const requests: LaunchRequest[] = [];
    for (const app of this.apps.values()) {
      const plan = planApp(app, now);
      if (plan.launch > 0) requests.push({ appId: app.spec.id, spec: app.spec, count: plan.launch, placed: placementsOf(app) });
    }
    const result = placeInstances(requests, offers);
    for (const miss of result.misses) this.rememberReason(miss.appId, { agentId: miss.agentId, hostname: miss.hostname, reason: miss.reason, at: now });
    for (const r of requests) if (!result.unplaced.has(r.appId)) this.reasons.delete(r.appId);

    const byOffer = new Map<string, TaskSpec[]>();
    for (const launch of result.launches) {
      const app = this.apps.get(launch.appId)!;
      const task = instanceTask(app.spec, app.version, launch.offer, launch.resources);
      app.instances.push({
        taskId: task.taskId,
        version: app.version,
        agentId: launch.offer.agentId,
        hostname: launch.offer.hostname,
        attributes: [...launch.offer.attributes],
        ports: portsOf(launch.resources),
        state: 'STAGING',
        message: 'launching',
        launchedAt: now,
      });
      this.taskIndex.set(task.taskId, app.spec.id);
      byOffer.set(launch.offer.id, [...(byOffer.get(launch.offer.id) ?? []), task]);
    }
    if (result.launches.length > 0) this.save(); // before the Accept: see the header

    const stillWaiting = result.unplaced.size > 0;
    const refuseSeconds = stillWaiting ? (this.options.pendingRefuseSeconds ?? 1) : (this.options.idleRefuseSeconds ?? 30);
    launchAndDecline(client, offers, byOffer, refuseSeconds, this.log);
    this.evaluate();
  }

  private onUpdate(s: TaskStatus): void {
    const appId = this.taskIndex.get(s.taskId);
    const app = appId === undefined ? undefined : this.apps.get(appId);
    const instance = app?.instances.find((i) => i.taskId === s.taskId);
    if (!app || !instance) {
      if (!isTerminal(s.state)) {
        this.log.warn({ taskId: s.taskId, state: s.state }, 'killing a task this framework has no record of');
        this.client?.kill(s.taskId, s.agentId).catch(() => undefined);
      }
      return;
    }
    const now = this.clock.now();
    if (isTerminal(s.state)) {
      // An unknown-to-the-master task that we launched is replaced like any ending.
      const failure = instance.killReason === undefined && !['DROPPED', 'GONE', 'LOST'].includes(s.state);
      this.ended(app, instance, { state: s.state, reason: s.reason, message: s.message }, now, failure);
    } else {
      instance.state = s.state;
      if (s.agentId) instance.agentId = s.agentId;
      if (s.message) instance.message = s.message;
      if (s.state === 'RUNNING' && instance.runningSince === undefined) instance.runningSince = now;
      if (s.healthy !== undefined) instance.healthy = s.healthy;
      const healthyNow = isHealthy(instance, app.spec);
      if (healthyNow && instance.healthySince === undefined) instance.healthySince = now;
      if (!healthyNow) delete instance.healthySince;
    }
    this.save();
    this.evaluate();
  }

  /** Moves an instance from the live list to the ended list, counting a failure for the backoff. */
  private ended(app: AppRecord, i: Instance, how: { state: TaskStatus['state']; reason: string; message: string }, now: number, failure: boolean): void {
    app.instances = app.instances.filter((x) => x !== i);
    this.taskIndex.delete(i.taskId);
    app.ended = [...app.ended, { taskId: i.taskId, version: i.version, hostname: i.hostname, state: how.state, reason: how.reason, message: how.message, endedAt: now, failure }].slice(-ENDED_KEPT);
    if (failure) {
      const longHealthy = i.healthySince !== undefined && now - i.healthySince >= BACKOFF_RESET_HEALTHY_MS;
      app.failures = longHealthy ? 1 : app.failures + 1;
      app.lastFailureAt = now;
    }
    this.log.info({ app: app.spec.id, taskId: i.taskId, state: how.state, reason: how.reason, failure }, 'instance ended');
  }

  private rememberReason(appId: string, reason: PendingReason): void {
    const map = this.reasons.get(appId) ?? new Map<string, PendingReason>();
    map.delete(reason.agentId);
    map.set(reason.agentId, reason);
    while (map.size > REASONS_KEPT) map.delete(map.keys().next().value!);
    this.reasons.set(appId, map);
  }

  // ---- the loop -----------------------------------------------------------------------------

  /**
   * Applies the planner to every app: sends the kills it asks for, forgets removed apps with no
   * instances left, arms the backoff timer, and turns offers on or off.
   */
  private evaluate(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    let wanted = 0;
    let nextLaunchAt: number | undefined;
    let changed = false;
    for (const app of [...this.apps.values()]) {
      const plan: AppPlan = planApp(app, now);
      for (const k of plan.kill) changed = this.requestKill(app, k.taskId, k.reason, now) || changed;
      if (app.removing && app.instances.length === 0) {
        this.apps.delete(app.spec.id);
        this.reasons.delete(app.spec.id);
        changed = true;
        continue;
      }
      wanted += plan.launch;
      if (plan.launchNotBefore !== undefined) nextLaunchAt = Math.min(nextLaunchAt ?? Infinity, plan.launchNotBefore);
      if (plan.wanted === 0) this.reasons.delete(app.spec.id);
    }
    if (changed) this.save();
    this.armBackoffTimer(nextLaunchAt, now);
    this.demand?.set(wanted);
    this.emit('changed');
  }

  private requestKill(app: AppRecord, taskId: string, reason: KillReason, now: number): boolean {
    const i = app.instances.find((x) => x.taskId === taskId);
    if (!i || i.killReason) return false;
    i.killReason = reason;
    delete i.healthySince;
    this.sendKill(app, i, now);
    return true;
  }

  private sendKill(app: AppRecord, i: Instance, now: number): void {
    const client = this.client;
    if (!client?.subscribed) return; // sent after the next subscription
    i.killSentAt = now;
    this.log.info({ app: app.spec.id, taskId: i.taskId, reason: i.killReason }, 'killing');
    client.kill(i.taskId, i.agentId, Math.round(app.spec.killGraceSeconds * 1000)).catch((err: unknown) => this.log.warn({ taskId: i.taskId, err: String(err) }, 'kill failed; will retry'));
  }

  private resendKills(): void {
    const now = this.clock.now();
    const resend = this.options.killResendMs ?? 10_000;
    for (const app of this.apps.values()) {
      for (const i of app.instances) {
        if (i.killReason && (i.killSentAt === undefined || now - i.killSentAt >= resend)) this.sendKill(app, i, now);
      }
    }
  }

  private armBackoffTimer(at: number | undefined, now: number): void {
    if (at === this.backoffTimerAt) return;
    this.backoffTimer?.cancel();
    this.backoffTimer = undefined;
    this.backoffTimerAt = at;
    if (at === undefined) return;
    this.backoffTimer = this.clock.setTimer(Math.max(0, at - now), () => {
      this.backoffTimer = undefined;
      this.backoffTimerAt = undefined;
      this.evaluate();
    });
  }

  private save(): void {
    try {
      this.store.save({ ...(this.frameworkId ? { frameworkId: this.frameworkId } : {}), apps: [...this.apps.values()] });
    } catch (err) {
      this.log.error({ err: String(err), path: this.store.path }, 'cannot save the state');
    }
  }
}
