/**
 * The jobs framework (an Airflow-style executor on Orbit): runs DAGs of tasks, retrying failed
 * attempts with backoff, killing attempts past their timeout, firing scheduled jobs, built only
 * on the public SDK. This file is the I/O shell around run-state.ts (pure).
 *
 * One timer (`tickMs`) drives everything that depends on time: cron fires, retry backoffs ending,
 * timeouts, and re-sent kills; it keeps no per-task timers, so a restarted framework needs nothing
 * but its state file. An attempt is saved (STAGING) before the Accept that launches it, and after
 * every (re)subscription every live attempt is reconciled; tasks of this framework that no run
 * knows are killed.
 *
 * It knows when it has lost the master (`connection`): a schedule that fires then still starts its
 * run, whose tasks launch at the first offers after re-subscribing; a fire whose previous run may
 * have ended unseen is held until reconciliation says (schedule-fires.ts).
 */
import { EventEmitter } from 'node:events';
import {
  buildTask,
  isTerminal,
  newTaskId,
  OfferDemand,
  SchedulerClient,
  silentLogger,
  subtract,
  systemClock,
  takeResources,
  type Clock,
  type Logger,
  type Offer,
  type Resources,
  type SubscribedInfo,
  type SubscriptionError,
  type TaskSpec,
  type TaskStatus,
  type TimerHandle,
} from '../../framework-sdk/index.js';
import { connectedAt, disconnectedAt, initialConnection, type MasterConnection } from '../common/master-connection.js';
import { SpecError } from '../common/spec-reader.js';
import { isRetiredId, launchAndDecline, reconcileAll, subscribe } from '../common/subscription.js';
import { nextFire, parseCron } from './cron.js';
import { parseJobSpec, taskRequest } from './job-spec.js';
import { JobsStateStore, type JobRecord } from './jobs-state.js';
import { applyStatus, cancelRun, findAttempt, launchable, liveAttempts, newRun, overdue, recordLaunch, taskSpec, type Attempt, type Run, type RunTask } from './run-state.js';
import { decideFire, previousRun } from './schedule-fires.js';
import type { ClientSecurity } from '../../framework-sdk/index.js';

/** What a JobsFramework needs; everything but the master and the state dir has a default. */
export interface JobsFrameworkOptions {
  /** The master's gRPC address, `host:port`. */
  master: string;
  /** Credentials for the master (default: the SDK's, from $ORBIT_CREDENTIALS or ~/.orbit/credentials.json). */
  security?: ClientSecurity;
  /** Where jobs, runs and the framework id are kept. */
  stateDir: string;
  /** Default `orbit-jobs`. */
  name?: string;
  /** The role to subscribe with; default `*`. */
  role?: string;
  /** How long the master keeps running attempts while this framework is away; default 1 week. */
  failoverTimeoutMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** How often time-driven work is checked (cron, backoff, timeouts, kills); default 250 ms. */
  tickMs?: number;
  /** Declined offers come back after this many seconds while tasks wait; default 1. */
  pendingRefuseSeconds?: number;
  /** ... and after this many when nothing waits; default 30. */
  idleRefuseSeconds?: number;
  /** A kill without a terminal status is sent again after this long; default 10 s. */
  killResendMs?: number;
  /** Finished runs kept (the oldest are forgotten); default 100. */
  runsKept?: number;
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
}

/** What a submit did: started a run now, and/or scheduled the job. */
export interface SubmitOutcome {
  jobId: string;
  runId?: string;
  schedule?: string;
  nextRunAt?: number;
}

/** No run or job has this id. */
export class RunNotFoundError extends Error {
  override readonly name = 'RunNotFoundError';
}

export interface JobsFrameworkEvents {
  /** A run, task or schedule changed. */
  changed: [];
  /** The master ended the subscription for good; the framework has stopped. `message` says so, and why. */
  error: [message: string];
}

/** The jobs framework; `start()` it, then submit jobs. */
export class JobsFramework extends EventEmitter<JobsFrameworkEvents> {
  private readonly store: JobsStateStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly jobs = new Map<string, JobRecord>();
  private runs: Run[] = [];
  private frameworkId: string | undefined;
  private client: SchedulerClient | undefined;
  private demand: OfferDemand | undefined;
  private ticker: TimerHandle | undefined;
  private loaded = false;
  private stopped = false;
  private conn: MasterConnection;
  /**
   * Task ids of the attempts that were live at the last (re-)subscription and have not been heard
   * of since: until reconciliation answers, they may have ended unseen.
   */
  private unconfirmed = new Set<string>();
  /** Settles start(): the first subscription, whichever client makes it. */
  private firstSubscription: { resolve: (info: SubscribedInfo) => void; reject: (err: Error) => void } | undefined;

  constructor(private readonly options: JobsFrameworkOptions) {
    super();
    this.store = new JobsStateStore(options.stateDir);
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? silentLogger).child({ framework: options.name ?? 'orbit-jobs' });
    this.conn = initialConnection(this.clock.now());
  }

  /** Whether it is subscribed to the master now; while not, run and task states are as last known. */
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

  /** Reads the state dir; a no-op once done. Throws StateFileError. */
  load(): void {
    if (this.loaded) return;
    const state = this.store.load();
    this.frameworkId = state.frameworkId;
    for (const j of state.jobs) this.jobs.set(j.spec.id, j);
    this.runs = state.runs;
    this.loaded = true;
  }

  /** Loads the state dir and subscribes; resolves at the first subscription. */
  async start(): Promise<SubscribedInfo> {
    this.load();
    this.ticker = this.clock.setRepeating(this.options.tickMs ?? 250, () => this.tick());
    const first = new Promise<SubscribedInfo>((resolve, reject) => (this.firstSubscription = { resolve, reject }));
    this.connect();
    return first;
  }

  /** Closes the connection; running attempts keep running. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.firstSubscription?.reject(new Error('stopped before the first subscription'));
    this.firstSubscription = undefined;
    this.ticker?.cancel();
    this.client?.close();
    this.conn = disconnectedAt(this.conn, this.clock.now(), 'stopped');
  }

  // ---- user requests ----------------------------------------------------------------------

  /**
   * Submits a job (parsed JSON). Without a schedule it runs once, now; with one, it is scheduled
   * (replacing a job of the same id) and runs at each fire. Throws SpecError, changing nothing.
   */
  submit(input: unknown): SubmitOutcome {
    const parsed = parseJobSpec(input);
    if (!parsed.ok) throw new SpecError(parsed.problems);
    const spec = parsed.spec;
    const now = this.clock.now();
    const record: JobRecord = { spec, submittedAt: now, skipped: 0 };
    if (spec.schedule === undefined) {
      const runId = this.startRun(record, 'submit', now);
      this.save();
      this.evaluate();
      return { jobId: spec.id, runId };
    }
    const next = nextFire(parseCron(spec.schedule), now);
    if (next !== undefined) record.nextRunAt = next;
    const previous = this.jobs.get(spec.id);
    if (previous?.lastRunId) record.lastRunId = previous.lastRunId;
    this.jobs.set(spec.id, record);
    this.save();
    this.evaluate();
    return { jobId: spec.id, schedule: spec.schedule, ...(next !== undefined ? { nextRunAt: next } : {}) };
  }

  /** Starts a run of a scheduled job now. */
  trigger(jobId: string): SubmitOutcome {
    const job = this.jobs.get(jobId);
    if (!job) throw new RunNotFoundError(`no scheduled job '${jobId}'`);
    const runId = this.startRun(job, 'submit', this.clock.now());
    this.save();
    this.evaluate();
    return { jobId, runId };
  }

  /** Stops a job's schedule; its runs go on. */
  unschedule(jobId: string): void {
    if (!this.jobs.delete(jobId)) throw new RunNotFoundError(`no scheduled job '${jobId}'`);
    this.save();
    this.emit('changed');
  }

  /** Cancels a run: what has not started never will, and running attempts are killed. */
  cancel(runId: string): Run {
    const run = this.findRun(runId);
    const now = this.clock.now();
    for (const a of cancelRun(run, now)) this.sendKill(a, graceOf(run, a), now);
    this.save();
    this.evaluate();
    return run;
  }

  /** Scheduled jobs. */
  scheduled(): JobRecord[] {
    return [...this.jobs.values()].sort((a, b) => a.spec.id.localeCompare(b.spec.id));
  }

  /** Every run kept, newest first. */
  listRuns(): Run[] {
    return [...this.runs].sort((a, b) => b.createdAt - a.createdAt);
  }

  /** One run with every task and attempt. Throws RunNotFoundError. */
  run(runId: string): Run {
    return this.findRun(runId);
  }

  private findRun(runId: string): Run {
    const run = this.runs.find((r) => r.runId === runId);
    if (!run) throw new RunNotFoundError(`no run '${runId}'`);
    return run;
  }

  private startRun(job: JobRecord, trigger: Run['trigger'], now: number): string {
    const runId = newTaskId(job.spec.id);
    this.runs.push(newRun(job.spec, runId, trigger, now));
    job.lastRunId = runId;
    this.log.info({ job: job.spec.id, runId, trigger }, 'run started');
    return runId;
  }

  // ---- the connection ---------------------------------------------------------------------

  private connect(): void {
    const client = subscribe(this.options, 'orbit-jobs', this.frameworkId, this.log, {
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
    const now = this.clock.now();
    this.conn = connectedAt(now, info.masterId);
    const client = this.client!;
    const live = this.runs.flatMap(liveAttempts);
    this.unconfirmed = new Set(live.map((a) => a.taskId));
    reconcileAll(client, live.map((a) => ({ taskId: a.taskId, agentId: a.agentId })), this.log);
    for (const a of live) delete a.killSentAt;
    this.resendKills(now);
    if (this.fireSchedules(now)) this.save();
    this.evaluate();
  }

  /** The master is gone for now; the client re-subscribes by itself. Runs keep their last known states. */
  private onDisconnected(client: SchedulerClient, reason: string): void {
    if (client !== this.client || this.stopped) return;
    this.conn = disconnectedAt(this.conn, this.clock.now(), reason);
    this.emit('changed');
  }

  private onFatal(client: SchedulerClient, error: SubscriptionError): void {
    if (client !== this.client || this.stopped) return;
    const message = error.details;
    if (this.frameworkId && isRetiredId(error)) {
      this.log.warn({ frameworkId: this.frameworkId, message }, 'the master retired this framework id; its tasks are gone; subscribing afresh');
      const now = this.clock.now();
      this.conn = disconnectedAt(this.conn, now, error.message);
      for (const run of this.runs) {
        for (const a of liveAttempts(run)) applyStatus(run, { taskId: a.taskId, frameworkId: '', agentId: a.agentId, state: 'LOST', source: 'MASTER', reason: 'FRAMEWORK_REMOVED', message, timestamp: now }, now);
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

  private onOffers(offers: Offer[]): void {
    const client = this.client;
    if (!client) return;
    const now = this.clock.now();
    const wants = this.runs
      .filter((r) => r.state === 'RUNNING')
      .sort((a, b) => a.createdAt - b.createdAt)
      .flatMap((run) => launchable(run, now).map((task) => ({ run, task })));
    const left = new Map<string, Resources>(offers.map((o) => [o.id, o.resources]));
    const byOffer = new Map<string, TaskSpec[]>();
    let placedAny = false;
    let start = 0;
    for (const want of wants) {
      // First fit, starting after the offer used last, so tasks spread over agents.
      for (let k = 0; k < offers.length; k++) {
        const index = (start + k) % offers.length;
        const offer = offers[index]!;
        const available = left.get(offer.id)!;
        const resources = takeResources(available, taskRequest(taskSpec(want.run, want.task.id)), offer.role);
        if (!resources) continue;
        left.set(offer.id, subtract(available, resources));
        const attempt = recordLaunch(want.run, want.task.id, { agentId: offer.agentId, hostname: offer.hostname }, now);
        byOffer.set(offer.id, [...(byOffer.get(offer.id) ?? []), this.attemptTask(want.run, want.task, attempt, offer, resources)]);
        placedAny = true;
        start = index + 1;
        break;
      }
    }
    if (placedAny) this.save(); // before the Accept: see the header
    const stillWaiting = this.runs.some((r) => launchable(r, now).length > 0);
    const refuseSeconds = stillWaiting ? (this.options.pendingRefuseSeconds ?? 1) : (this.options.idleRefuseSeconds ?? 30);
    launchAndDecline(client, offers, byOffer, refuseSeconds, this.log);
    this.evaluate();
  }

  private attemptTask(run: Run, task: RunTask, attempt: Attempt, offer: Offer, resources: Resources): TaskSpec {
    const spec = taskSpec(run, task.id);
    return buildTask({
      taskId: attempt.taskId,
      name: `${run.jobId}.${task.id}`,
      offer,
      resources,
      ...(spec.image !== undefined ? { image: spec.image } : { process: true }),
      ...(spec.command !== undefined ? { command: spec.command } : {}),
      env: { ...run.spec.env, ...spec.env, ORBIT_JOB_ID: run.jobId, ORBIT_RUN_ID: run.runId, ORBIT_JOB_TASK: task.id, ORBIT_ATTEMPT: String(attempt.n) },
      killGraceMs: Math.round(spec.killGraceSeconds * 1000),
      labels: { 'orbit.jobs.job': run.jobId, 'orbit.jobs.run': run.runId, 'orbit.jobs.task': task.id },
    });
  }

  private onUpdate(s: TaskStatus): void {
    this.unconfirmed.delete(s.taskId);
    const run = this.runs.find((r) => findAttempt(r, s.taskId));
    if (!run) {
      if (!isTerminal(s.state)) {
        this.log.warn({ taskId: s.taskId, state: s.state }, 'killing a task no run knows');
        this.client?.kill(s.taskId, s.agentId).catch(() => undefined);
      }
      return;
    }
    const now = this.clock.now();
    const wasRunning = run.state === 'RUNNING';
    const applied = applyStatus(run, s, now);
    if (wasRunning && run.state !== 'RUNNING') {
      this.log.info({ runId: run.runId, state: run.state }, 'run ended');
      this.prune();
    }
    // A held fire is decided as soon as its previous run is known: not at the next tick.
    const fired = this.fireSchedules(now);
    if (!applied && !fired) return;
    this.save();
    this.evaluate();
  }

  // ---- time ---------------------------------------------------------------------------------

  private tick(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    let changed = this.fireSchedules(now);
    for (const run of this.runs) {
      for (const a of overdue(run, now)) {
        this.log.info({ runId: run.runId, taskId: a.taskId }, 'attempt timed out; killing');
        this.sendKill(a, graceOf(run, a), now);
        changed = true;
      }
    }
    this.resendKills(now);
    if (changed) this.save();
    this.evaluate(changed);
  }

  /**
   * Applies decideFire to every scheduled job with a fire due or held: starts runs, counts skips,
   * holds fires. Returns true when any job or run changed (the caller saves).
   */
  private fireSchedules(now: number): boolean {
    let changed = false;
    for (const job of this.jobs.values()) {
      const schedule = job.spec.schedule;
      if (schedule === undefined) continue;
      const due = job.nextRunAt !== undefined && job.nextRunAt <= now;
      if (!due && job.heldFireAt === undefined) continue;
      const active = this.runs.filter((r) => r.jobId === job.spec.id && r.state === 'RUNNING');
      const live = active.flatMap(liveAttempts).map((a) => a.taskId);
      const previous = previousRun(active.length, live, (taskId) => this.conn.state !== 'connected' || this.unconfirmed.has(taskId));
      const d = decideFire(parseCron(schedule), job, previous, now);
      if (d.skipped > 0) this.log.warn({ job: job.spec.id, skipped: d.skipped }, 'schedule fired while the previous run is still going; skipped');
      if (d.heldFireAt !== undefined && d.heldFireAt !== job.heldFireAt) {
        this.log.info({ job: job.spec.id, dueAt: d.heldFireAt }, 'schedule fired while the previous run may have ended unseen; held until the master says');
      }
      const moved = d.nextRunAt !== job.nextRunAt || d.heldFireAt !== job.heldFireAt;
      job.skipped += d.skipped;
      if (d.nextRunAt === undefined) delete job.nextRunAt;
      else job.nextRunAt = d.nextRunAt;
      if (d.heldFireAt === undefined) delete job.heldFireAt;
      else job.heldFireAt = d.heldFireAt;
      if (d.startFor !== undefined) {
        const runId = this.startRun(job, 'schedule', now);
        this.log.info({ job: job.spec.id, runId, dueAt: d.startFor, lateMs: now - d.startFor, connected: this.conn.state === 'connected' }, 'scheduled run started');
      }
      changed ||= moved || d.skipped > 0 || d.startFor !== undefined;
    }
    return changed;
  }

  private sendKill(a: Attempt, graceSeconds: number, now: number): void {
    const client = this.client;
    if (!client?.subscribed) return;
    a.killSentAt = now;
    client.kill(a.taskId, a.agentId, Math.round(graceSeconds * 1000)).catch((err: unknown) => this.log.warn({ taskId: a.taskId, err: String(err) }, 'kill failed; will retry'));
  }

  /** Kills wanted (timed out, or cancelled) and not confirmed are sent again. */
  private resendKills(now: number): void {
    const resend = this.options.killResendMs ?? 10_000;
    for (const run of this.runs) {
      for (const a of liveAttempts(run)) {
        const wanted = a.timedOut || run.cancelRequested;
        if (wanted && (a.killSentAt === undefined || now - a.killSentAt >= resend)) this.sendKill(a, graceOf(run, a), now);
      }
    }
  }

  /** Tells the master whether anything waits for offers, and listeners that something changed. */
  private evaluate(changed = true): void {
    if (this.stopped) return;
    const now = this.clock.now();
    this.demand?.set(this.runs.reduce((n, r) => n + launchable(r, now).length, 0));
    if (changed) this.emit('changed');
  }

  /** Forgets the oldest finished runs past `runsKept`. */
  private prune(): void {
    const kept = this.options.runsKept ?? 100;
    const finished = this.runs.filter((r) => r.state !== 'RUNNING').sort((a, b) => (a.endedAt ?? 0) - (b.endedAt ?? 0));
    const drop = new Set(finished.slice(0, Math.max(0, finished.length - kept)));
    if (drop.size > 0) this.runs = this.runs.filter((r) => !drop.has(r));
  }

  private save(): void {
    try {
      this.store.save({ ...(this.frameworkId ? { frameworkId: this.frameworkId } : {}), jobs: [...this.jobs.values()], runs: this.runs });
    } catch (err) {
      this.log.error({ err: String(err), path: this.store.path }, 'cannot save the state');
    }
  }
}

/** The kill grace of an attempt's task. */
function graceOf(run: Run, a: Attempt): number {
  const found = findAttempt(run, a.taskId);
  return found ? taskSpec(run, found.task.id).killGraceSeconds : 3;
}
