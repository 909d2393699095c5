/**
 * SchedulerClient: a framework's connection to the master. It subscribes (a server stream of
 * events), keeps the subscription alive across failures by re-subscribing with the same framework
 * id (to the next master of its list when a connection attempt fails), and turns the unary
 * scheduler calls into promises. Events and calls speak domain types; its timers run on the
 * Clock it is given.
 */
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { hostname as osHostname, userInfo } from 'node:os';
import type { Acknowledgement } from '../gen/orbit/v1/Acknowledgement.js';
import type { CallHeader } from '../gen/orbit/v1/CallHeader.js';
import type { CallResponse__Output } from '../gen/orbit/v1/CallResponse.js';
import type { Event__Output } from '../gen/orbit/v1/Event.js';
import type { SchedulerClient as SchedulerStub } from '../gen/orbit/v1/Scheduler.js';
import { jitteredBackoffMs } from '../common/backoff.js';
import { CALL_CAPS } from '../common/call-limits.js';
import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';
import type { FrameworkInfo, Offer, Operation } from '../common/cluster.js';
import { frameworkInfoToProto } from '../common/codec.js';
import { clusterOf, isConnected, isEtcdMasters, NOT_LEADER_RETRY_MS, notLeaderHint, parseEtcdUrl, parseMasterList, resolveMasterList, schedulerClients, statusReason, type MasterClients } from '../common/connection.js';
import { Outbox } from '../common/outbox.js';
import { errorMessage } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logging.js';
import type { ReceivedSchedulerEvent } from '../common/master-messages.js';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, schedulerEventFromProto, unbatchEvent } from '../common/message-codec.js';
import type { TaskSpec, TaskStatus } from '../common/tasks.js';
import {
  DEFAULT_FAILOVER_TIMEOUT_MS,
  type SchedulerClientOptions,
  type SchedulerEvents,
  type SubscribedInfo,
} from './scheduler-events.js';
import { FATAL_SUBSCRIBE_CODES, MISSED_HEARTBEATS, nextState, type SubscriptionState } from './subscription-state.js';
import { callErrorFrom, filtersToProto, OrbitCallError, operationToProto, SubscriptionError, type CallFilters } from './wire.js';
import { findCredentials, type ClientSecurity } from '../common/credentials.js';

const DEFAULT_CALL_TIMEOUT_MS = 10_000;
/** At most this many acknowledgements in one Acknowledge call: the master's --max-acks-per-call default. */
export const MAX_ACKS_PER_CALL = CALL_CAPS.acksPerCall.default;
/** At most this many tasks in one Reconcile call: the master's --max-reconcile-tasks default. */
export const MAX_RECONCILE_TASKS_PER_CALL = CALL_CAPS.reconcileTasks.default;
/** At most this many offers in one Decline call (the master's default cap); more go in several. */
export const MAX_OFFERS_PER_DECLINE = CALL_CAPS.offersPerDecline.default;
/**
 * The most tasks one Accept may launch by the master's default (--max-tasks-per-accept): a
 * framework placing more on one offer launches this many and places the rest again later.
 */
export const MAX_TASKS_PER_ACCEPT = CALL_CAPS.tasksPerAccept.default;

/** How long one wait for a master's connection lasts before the next master of the list is tried. */
const MASTER_WAIT_MS = 3_000;

interface PendingAck {
  ack: Acknowledgement;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A framework's scheduler connection to the master; see SchedulerEvents for what it emits. */
export class SchedulerClient extends EventEmitter<SchedulerEvents> {
  private masterClients: MasterClients<SchedulerStub> | undefined;
  /** `etcd://...` until start() has read the masters from it. */
  private mastersFromEtcd: string | undefined;
  private readonly security: ClientSecurity;
  private readonly clock: Clock;
  private readonly info: FrameworkInfo;
  private readonly autoAcknowledge: boolean;
  private readonly reconnectBaseMs: number;
  private readonly reconnectMaxMs: number;
  private readonly callTimeoutMs: number;
  private readonly log: Logger;
  private state: SubscriptionState = 'idle';
  private stream: grpc.ClientReadableStream<Event__Output> | undefined;
  private streamId: string | undefined;
  private heartbeatMs = DEFAULT_HEARTBEAT_INTERVAL_MS;
  private attempt = 0;
  private reconnectTimer: TimerHandle | undefined;
  /**
   * Held while waiting to re-subscribe: a clock's timers do not keep the process alive, and a
   * framework whose master is away is not done.
   */
  private keepAlive: NodeJS.Timeout | undefined;
  private watchdog: TimerHandle | undefined;
  private lastSubscribed: SubscribedInfo | undefined;
  private waiters: { resolve: (info: SubscribedInfo) => void; reject: (err: Error) => void }[] = [];
  /** Acknowledgements waiting for the end of the tick (see acknowledge()). */
  private readonly pendingAcks = new Outbox<PendingAck>((queued) => this.sendAcks(queued));

  constructor(options: SchedulerClientOptions) {
    super();
    // etcd://... is checked here and read at start(); a list is taken as it is.
    const masters = isEtcdMasters(options.master) ? (parseEtcdUrl(options.master, 'master'), undefined) : parseMasterList(options.master, 'master');
    const f = options.framework;
    this.info = {
      id: f.id ?? '',
      name: f.name,
      roles: f.roles ?? ['*'],
      user: f.user ?? currentUser(),
      hostname: f.hostname ?? osHostname(),
      failoverTimeoutMs: f.failoverTimeoutMs ?? DEFAULT_FAILOVER_TIMEOUT_MS,
      principal: '',
      labels: f.labels ?? {},
    };
    this.autoAcknowledge = options.autoAcknowledge ?? true;
    this.reconnectBaseMs = options.reconnectBaseMs ?? 1_000;
    this.reconnectMaxMs = options.reconnectMaxMs ?? 60_000;
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.log = (options.logger ?? silentLogger).child({ framework: f.name });
    this.clock = options.clock ?? systemClock;
    this.security = options.security ?? findCredentials({});
    if (masters === undefined) this.mastersFromEtcd = options.master;
    else this.masterClients = schedulerClients(masters, this.security);
  }

  private get clients(): MasterClients<SchedulerStub> {
    if (!this.masterClients) throw new Error('the masters have not been read from etcd yet');
    return this.masterClients;
  }

  /** The stub of the master in use. */
  private get stub(): SchedulerStub {
    return this.clients.current;
  }

  /** The framework id, once the master assigned it (or the one given to resume). */
  get frameworkId(): string | undefined {
    return this.info.id || undefined;
  }

  /** True while subscribed: calls are allowed. */
  get subscribed(): boolean {
    return this.state === 'subscribed';
  }

  /**
   * Subscribes; resolves at the first SUBSCRIBED (at once if already subscribed). Until then the
   * client keeps retrying with backoff; rejects with a SubscriptionError if the master ends the
   * subscription for good first (an ERROR event, a refused Subscribe), or if close() is called.
   */
  start(): Promise<SubscribedInfo> {
    if (this.state === 'closed') return Promise.reject(new Error('the scheduler client is closed'));
    if (this.state === 'subscribed' && this.lastSubscribed) return Promise.resolve(this.lastSubscribed);
    const wait = new Promise<SubscribedInfo>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.state === 'idle' && this.mastersFromEtcd !== undefined) {
      const spec = this.mastersFromEtcd;
      this.mastersFromEtcd = undefined;
      resolveMasterList(spec, 'master', clusterOf(this.security)).then(
        (masters) => {
          if (this.state === 'closed') return;
          this.masterClients = schedulerClients(masters, this.security);
          if (this.state === 'idle') this.connect();
        },
        (err: Error) => {
          this.mastersFromEtcd = spec;
          for (const w of this.waiters.splice(0)) w.reject(err);
        },
      );
    } else if (this.state === 'idle') this.connect();
    return wait;
  }

  /** Accepts offers (all from one agent) with operations; unused resources go back filtered. */
  accept(offerIds: string[], operations: Operation[], filters?: CallFilters): Promise<void> {
    const req = { offerIds, operations: operations.map(operationToProto), filters: filtersToProto(filters) };
    return this.unary('Accept', (header, opts, cb) => this.stub.Accept({ header, ...req }, opts, cb));
  }

  /** Accepts `offers` with one LAUNCH of `tasks`. */
  launch(offers: Offer | Offer[], tasks: TaskSpec[], filters?: CallFilters): Promise<void> {
    const ids = (Array.isArray(offers) ? offers : [offers]).map((o) => o.id);
    return this.accept(ids, [{ type: 'LAUNCH', tasks }], filters);
  }

  /** Declines offers; their resources are not offered again for `refuseSeconds` (master default 5). */
  async decline(offerIds: string[], filters?: CallFilters): Promise<void> {
    const filtersMsg = filtersToProto(filters);
    const calls: Promise<void>[] = [];
    for (let i = 0; i === 0 || i < offerIds.length; i += MAX_OFFERS_PER_DECLINE) {
      const chunk = offerIds.slice(i, i + MAX_OFFERS_PER_DECLINE);
      calls.push(this.unary('Decline', (header, opts, cb) => this.stub.Decline({ header, offerIds: chunk, filters: filtersMsg }, opts, cb)));
    }
    await Promise.all(calls);
  }

  /** Asks for offers again and clears filters; no roles means every role of the framework. */
  revive(roles: string[] = []): Promise<void> {
    return this.unary('Revive', (header, opts, cb) => this.stub.Revive({ header, roles }, opts, cb));
  }

  /** Stops offers (until revive); no roles means every role of the framework. */
  suppress(roles: string[] = []): Promise<void> {
    return this.unary('Suppress', (header, opts, cb) => this.stub.Suppress({ header, roles }, opts, cb));
  }

  /** Kills a task; `killGraceMs` overrides the task's grace period between SIGTERM and SIGKILL. */
  kill(taskId: string, agentId = '', killGraceMs?: number): Promise<void> {
    const grace = killGraceMs === undefined ? {} : { killGraceSeconds: killGraceMs / 1000 };
    return this.unary('Kill', (header, opts, cb) => this.stub.Kill({ header, taskId, agentId, ...grace }, opts, cb));
  }

  /**
   * Acknowledges a status by its uuid; a no-op (resolved) for a status without uuid.
   * Acknowledgements made in the same tick go to the master in one call (a unary call costs far
   * more than an acknowledgement); each promise settles with that call.
   */
  acknowledge(status: Pick<TaskStatus, 'agentId' | 'taskId' | 'uuid'>): Promise<void> {
    const { agentId, taskId, uuid } = status;
    if (!uuid) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pendingAcks.push({ ack: { agentId, taskId, uuid }, resolve, reject });
    });
  }

  /**
   * Asks for the latest status of the listed tasks (as `update` events); none listed = all
   * (implicit). A long list goes in calls of MAX_RECONCILE_TASKS_PER_CALL.
   */
  async reconcile(tasks: { taskId: string; agentId?: string }[] = []): Promise<void> {
    const list = tasks.map((t) => ({ taskId: t.taskId, agentId: t.agentId ?? '' }));
    if (list.length === 0) return this.unary('Reconcile', (header, opts, cb) => this.stub.Reconcile({ header, tasks: [] }, opts, cb));
    const calls: Promise<void>[] = [];
    for (let i = 0; i < list.length; i += MAX_RECONCILE_TASKS_PER_CALL) {
      const chunk = list.slice(i, i + MAX_RECONCILE_TASKS_PER_CALL);
      calls.push(this.unary('Reconcile', (header, opts, cb) => this.stub.Reconcile({ header, tasks: chunk }, opts, cb)));
    }
    await Promise.all(calls);
  }

  /** Ends the framework (the master kills its tasks), then closes the client. */
  async teardown(): Promise<void> {
    await this.unary('Teardown', (header, opts, cb) => this.stub.Teardown({ header }, opts, cb));
    this.close();
  }

  /** Closes the stream and the channel without tearing the framework down; idempotent. */
  close(): void {
    if (this.state === 'closed') return;
    this.stop();
    for (const w of this.waiters.splice(0)) w.reject(new Error('the scheduler client was closed before it subscribed'));
  }

  // ---- subscription -------------------------------------------------------------------------

  private transition(to: SubscriptionState): void {
    this.state = nextState(this.state, to);
  }

  private connect(): void {
    this.transition('connecting');
    this.releaseProcess();
    const resubscribed = this.info.id !== '';
    const call = this.stub.Subscribe({ framework: frameworkInfoToProto(this.info) });
    this.stream = call;
    this.armWatchdog();
    call.on('data', (message: Event__Output) => {
      // A batch holds the events of one turn on the master, in order; an event may end the stream.
      for (const m of unbatchEvent(message)) {
        if (this.stream !== call) return;
        let event: ReceivedSchedulerEvent;
        try {
          const decoded = schedulerEventFromProto(m);
          for (const warning of decoded.warnings) this.log.warn(`from the master: ${warning}`);
          event = decoded.event;
        } catch (err) {
          this.log.warn({ err: errorMessage(err) }, 'ignoring a scheduler event that does not decode');
          continue;
        }
        try {
          this.onEvent(event, resubscribed);
        } catch (err) {
          this.log.error({ err: errorMessage(err), event: event.type }, 'failed to handle a scheduler event');
        }
      }
    });
    call.on('error', () => {}); // 'status' below says why; without a listener grpc-js would throw
    // Deferred so that data events already pushed are handled before the end (an ERROR event
    // followed by the end of the stream must stop the client, not reconnect it).
    call.on('status', (s: grpc.StatusObject) => setImmediate(() => this.onStreamEnded(call, s)));
  }

  private onStreamEnded(call: grpc.ClientReadableStream<Event__Output>, s: grpc.StatusObject): void {
    if (this.stream !== call || this.state === 'closed') return;
    this.stream = undefined;
    const hint = notLeaderHint(s);
    if (hint) {
      this.followLeader(hint.leader, `${grpc.status[s.code]}: ${s.details}`);
      return;
    }
    if (FATAL_SUBSCRIBE_CODES.has(s.code)) {
      this.fail(new SubscriptionError(statusReason(s), s.details, grpc.status[s.code]));
      return;
    }
    this.disconnect(s.code === grpc.status.OK ? 'the master ended the subscription' : `${grpc.status[s.code]}: ${s.details}`);
  }

  /**
   * The stream ended. While the master's connection is down, waits for one (the channel retries on
   * its own) without counting attempts, moving down the list each time a wait passes, and
   * subscribes as soon as one answers: the framework is back within a second of a restarted master
   * listening, instead of after
   * backoffs that doubled while it was away. A master that is there but ends the stream counts as
   * a failed attempt, and the backoff doubles.
   */
  private disconnect(reason: string, masterSilent = false): void {
    this.streamId = undefined;
    this.clearWatchdog();
    this.transition('backoff');
    this.holdProcess();
    const stub = this.stub;
    if (masterSilent || !isConnected(stub)) {
      this.clients.failed(stub);
      this.log.warn({ reason, master: this.clients.address }, 'scheduler stream lost; waiting for a master to answer');
      this.waitForMaster();
    } else {
      this.retryAfter(jitteredBackoffMs(this.attempt++, this.reconnectBaseMs, this.reconnectMaxMs), reason);
    }
    this.safeEmit('disconnected', reason);
  }

  /** Waits for the current master's connection, moving down the list each time a wait passes without one. */
  private waitForMaster(): void {
    const stub = this.stub;
    stub.waitForReady(Date.now() + MASTER_WAIT_MS, (err) => {
      if (this.state !== 'backoff' || this.reconnectTimer) return;
      // A framework is one client, not a fleet's thousands: no herd to spread, so at once.
      if (!err) return this.retryAfter(0, 'a master answers again');
      this.clients.failed(stub);
      this.waitForMaster();
    });
  }

  /** The master is a standby: subscribe with the leader it named at once, or ask again shortly while none is elected. */
  private followLeader(leader: string | undefined, reason: string): void {
    this.streamId = undefined;
    this.clearWatchdog();
    this.transition('backoff');
    this.holdProcess();
    this.clients.follow(this.stub, leader);
    this.retryAfter(leader ? 0 : NOT_LEADER_RETRY_MS, leader ? `the master is a standby; the leader is ${leader}` : 'no leader is elected yet');
    this.safeEmit('disconnected', reason);
  }

  private retryAfter(delayMs: number, reason: string): void {
    this.log.warn({ reason, delayMs, master: this.clients.address }, 're-subscribing');
    if (delayMs === 0) {
      setImmediate(() => this.state === 'backoff' && !this.reconnectTimer && this.connect());
      return;
    }
    this.reconnectTimer = this.clock.setTimer(delayMs, () => {
      this.reconnectTimer = undefined;
      if (this.state === 'backoff') this.connect();
    });
  }

  /** The master ended the subscription for good: stop, then tell the listeners. */
  private fail(error: SubscriptionError): void {
    this.stop();
    for (const w of this.waiters.splice(0)) w.reject(error);
    if (this.listenerCount('error') > 0) this.safeEmit('error', error);
    else this.log.error({ reason: error.reason }, error.message);
  }

  private stop(): void {
    this.transition('closed');
    this.streamId = undefined;
    this.clearWatchdog();
    this.reconnectTimer?.cancel();
    this.releaseProcess();
    const call = this.stream;
    this.stream = undefined;
    call?.cancel();
    this.masterClients?.close();
  }

  private holdProcess(): void {
    this.keepAlive ??= setInterval(() => undefined, 2 ** 30);
  }

  private releaseProcess(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  private armWatchdog(): void {
    this.clearWatchdog();
    const ms = MISSED_HEARTBEATS * this.heartbeatMs;
    this.watchdog = this.clock.setTimer(ms, () => {
      const call = this.stream;
      this.stream = undefined;
      call?.cancel();
      // A master silent this long is paused or cut off, though its connection may look alive:
      // move on to the next (in HA, another leads by now, and a standby will name it).
      this.disconnect(`no event from the master in ${ms} ms`, true);
    });
  }

  private clearWatchdog(): void {
    this.watchdog?.cancel();
    this.watchdog = undefined;
  }

  private onEvent(event: ReceivedSchedulerEvent, resubscribed: boolean): void {
    this.armWatchdog();
    switch (event.type) {
      case 'subscribed': {
        this.info.id = event.frameworkId;
        this.streamId = event.streamId;
        this.heartbeatMs = event.heartbeatIntervalMs;
        this.attempt = 0;
        this.transition('subscribed');
        this.armWatchdog();
        const info: SubscribedInfo = {
          frameworkId: event.frameworkId,
          streamId: event.streamId,
          heartbeatIntervalMs: event.heartbeatIntervalMs,
          masterId: event.masterId,
          resubscribed,
        };
        this.lastSubscribed = info;
        this.log.info({ frameworkId: info.frameworkId, resubscribed, master: this.clients.address }, 'subscribed');
        for (const w of this.waiters.splice(0)) w.resolve(info);
        this.safeEmit('subscribed', info);
        return;
      }
      case 'offers':
        if (event.offers.length > 0) this.safeEmit('offers', event.offers);
        return;
      case 'rescind':
        this.safeEmit('rescind', event.offerId);
        return;
      case 'update':
        this.onUpdate(event.status);
        return;
      case 'failure':
        this.safeEmit('failure', { agentId: event.agentId, message: event.message });
        return;
      case 'error':
        this.fail(new SubscriptionError(event.reason, event.message));
        return;
      case 'heartbeat':
        this.safeEmit('heartbeat');
        return;
    }
  }

  /** Emits the update, then acknowledges it unless a listener threw (so the agent resends it). */
  private onUpdate(status: TaskStatus): void {
    const handled = this.safeEmit('update', status);
    if (handled && this.autoAcknowledge && status.uuid && this.state === 'subscribed') {
      this.acknowledge(status).catch((err: unknown) => {
        this.log.warn({ taskId: status.taskId, err: errorMessage(err) }, 'acknowledgement failed; the agent will resend');
      });
    }
  }

  /** Emits, catching a listener's exception; false when one threw. */
  private safeEmit<K extends keyof SchedulerEvents>(event: K, ...args: SchedulerEvents[K]): boolean {
    try {
      (this.emit as (e: K, ...a: SchedulerEvents[K]) => boolean)(event, ...args);
      return true;
    } catch (err) {
      this.log.error({ event, err: errorMessage(err) }, 'a scheduler event listener threw');
      return false;
    }
  }

  // ---- calls ----------------------------------------------------------------------------------

  /** Sends the acknowledgements queued this tick, MAX_ACKS_PER_CALL to a call; one alone goes in the call's own fields. */
  private sendAcks(queued: PendingAck[]): void {
    for (let i = 0; i < queued.length; i += MAX_ACKS_PER_CALL) {
      const batch = queued.slice(i, i + MAX_ACKS_PER_CALL);
      const acks = batch.map((p) => p.ack);
      const req = acks.length === 1 ? acks[0]! : { acks };
      this.unary('Acknowledge', (header, opts, cb) => this.stub.Acknowledge({ header, ...req }, opts, cb)).then(
        () => batch.forEach((p) => p.resolve()),
        (err: unknown) => batch.forEach((p) => p.reject(err)),
      );
    }
  }

  private unary(
    name: string,
    invoke: (header: CallHeader, options: grpc.CallOptions, cb: grpc.requestCallback<CallResponse__Output>) => void,
  ): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new OrbitCallError(name, 'UNAVAILABLE', 'the scheduler client is closed'));
    const streamId = this.streamId;
    if (this.state !== 'subscribed' || !streamId) {
      return Promise.reject(
        new OrbitCallError(name, 'UNAVAILABLE', 'not subscribed: call start() and wait for the subscribed event'),
      );
    }
    const header: CallHeader = { frameworkId: this.info.id, streamId };
    return new Promise((resolve, reject) => {
      // A gRPC deadline is wall-clock time, whatever clock the client runs on.
      invoke(header, { deadline: Date.now() + this.callTimeoutMs }, (err) => (err ? reject(callErrorFrom(name, err)) : resolve()));
    });
  }
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}
