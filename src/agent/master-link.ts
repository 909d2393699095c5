/**
 * The agent's end of AgentLink: one bidirectional stream to the master. It registers (or
 * re-registers once it has an id), heartbeats at the interval the master gave, and reconnects
 * with jittered backoff — random in [0, base·2^n], capped — whenever the stream ends. Commands
 * stamped with an epoch lower than the highest seen are dropped: a stale master cannot act.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { jitteredBackoffMs } from '../common/backoff.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { errorMessage } from '../common/errors.js';
import { Outbox } from '../common/outbox.js';
import { CHANNEL_OPTIONS, orbitV1 } from '../common/proto.js';
import type { AgentLinkClient } from '../gen/orbit/v1/AgentLink.js';
import type { AgentMessage } from '../gen/orbit/v1/AgentMessage.js';
import type { MasterMessage__Output } from '../gen/orbit/v1/MasterMessage.js';

export interface MasterLinkHandlers {
  /** The first messages on a new stream: register, or re-register with the agent's tasks (in parts when they are many). */
  hello(): AgentMessage[];
  /** A command from the master (registered/reregistered included), epoch already checked. */
  onCommand(message: MasterMessage__Output): void;
  /** The master accepted the (re-)registration. */
  onConnected(agentId: string, heartbeatIntervalMs: number): void;
  onDisconnected(reason: string): void;
}

export interface MasterLinkOptions {
  master: string;
  clock: Clock;
  logger: Logger;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  random?: () => number;
  /**
   * A client shared with other agents in this process: their streams share its connection, and
   * stop() leaves it open. By default the link makes (and closes) a client of its own.
   */
  client?: AgentLinkClient;
}

/** A client for the master's AgentLink service, on a connection of its own. */
export function newAgentLinkClient(master: string): AgentLinkClient {
  // A distinct option keeps grpc-js from pooling this client's connection with another client's.
  return new (orbitV1().AgentLink)(master, grpc.credentials.createInsecure(), {
    ...CHANNEL_OPTIONS,
    'grpc.use_local_subchannel_pool': 1,
    // Notice a restarted master within a second, and never wait more than 3 s to try again.
    'grpc.initial_reconnect_backoff_ms': 500,
    'grpc.max_reconnect_backoff_ms': 3_000,
  });
}

/**
 * How long one wait for the master's connection lasts before it is renewed. Short: grpc-js keeps
 * the wait's timer until its deadline even after the client is closed, so a stopped agent would
 * otherwise hold its process open for as long.
 */
const MASTER_WAIT_MS = 3_000;

export class MasterLink {
  private client: AgentLinkClient | undefined;
  private call: grpc.ClientDuplexStream<AgentMessage, MasterMessage__Output> | undefined;
  /** What is to be written on `call` at the end of this turn. */
  private outbox: Outbox<AgentMessage> | undefined;
  private connected = false;
  private attempt = 0;
  private highestEpoch = 0;
  private heartbeat: TimerHandle | undefined;
  private retry: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly options: MasterLinkOptions, private readonly handlers: MasterLinkHandlers) {}

  /** Opens the stream (and keeps reopening it until stop()). */
  start(): void {
    this.client = this.options.client ?? newAgentLinkClient(this.options.master);
    this.connect();
  }

  /** True while registered with a master. */
  get isConnected(): boolean {
    return this.connected;
  }

  /** The highest master epoch seen so far. */
  get epoch(): number {
    return this.highestEpoch;
  }

  /**
   * Sends on the stream, with whatever else is sent in this turn of the event loop (one write);
   * false when there is no stream (the caller retries later).
   */
  send(message: AgentMessage): boolean {
    if (!this.call || !this.connected || !this.outbox) return false;
    this.outbox.push(message);
    return true;
  }

  /** Closes the stream and stops reconnecting. Idempotent. */
  stop(): void {
    this.stopped = true;
    this.heartbeat?.cancel();
    this.retry?.cancel();
    this.call?.cancel();
    this.call = undefined;
    this.outbox = undefined;
    if (!this.options.client) this.client?.close();
  }

  private connect(): void {
    if (this.stopped || !this.client) return;
    const call = this.client.Connect();
    this.call = call;
    let ended = false;
    const outbox = Outbox.forStream<AgentMessage>(
      (message) => !ended && call.write(message),
      (messages) => ({ batch: { messages } }),
    );
    this.outbox = outbox;
    const end = (reason: string) => {
      if (ended) return;
      ended = true;
      outbox.clear();
      if (this.call === call) {
        this.call = undefined;
        this.outbox = undefined;
      }
      this.heartbeat?.cancel();
      const wasConnected = this.connected;
      this.connected = false;
      // After stop() the stream's end is the agent's own doing: nothing to report.
      if (wasConnected && !this.stopped) this.handlers.onDisconnected(reason);
      call.cancel();
      this.scheduleReconnect(reason);
    };
    call.on('data', (message: MasterMessage__Output) => this.receive(message, end));
    call.on('error', (err: Error) => end(errorMessage(err)));
    call.on('end', () => end('the master closed the stream'));
    for (const message of this.handlers.hello()) call.write(message);
  }

  private receive(message: MasterMessage__Output, end: (reason: string) => void, inBatch = false): void {
    if (message.message === 'batch') {
      if (inBatch) {
        this.options.logger.warn('ignored a batch inside a batch from the master');
        return;
      }
      for (const m of message.batch?.messages ?? []) {
        this.receive(m, end, true);
        if (m.message === 'refused') return;
      }
      return;
    }
    const epoch = Number(message.epoch);
    if (epoch < this.highestEpoch) {
      this.options.logger.warn({ epoch, highestEpoch: this.highestEpoch }, 'ignored a command from a stale master');
      return;
    }
    this.highestEpoch = epoch;
    if (message.message === 'refused') {
      this.options.logger.error(`the master refused this agent: ${message.refused?.message ?? ''}`);
      end(`refused: ${message.refused?.message ?? ''}`);
      return;
    }
    const registered = message.registered ?? message.reregistered;
    if (registered && (message.message === 'registered' || message.message === 'reregistered')) {
      this.connected = true;
      this.attempt = 0;
      const intervalMs = Math.max(100, registered.heartbeatIntervalSeconds * 1000);
      this.heartbeat?.cancel();
      this.heartbeat = this.options.clock.setRepeating(intervalMs, () => {
        this.send({ heartbeat: { timestamp: this.options.clock.now() / 1000 } });
      });
      this.handlers.onConnected(registered.agentId, intervalMs);
    }
    this.handlers.onCommand(message);
  }

  /**
   * While no connection to the master is up, waits for one (the channel retries on its own, every
   * 0.5–3 s) without counting attempts: like a Mesos agent detecting a new master, it then backs
   * off from where it was, so agents come back within a second of a restarted master listening
   * instead of after backoffs that doubled while it was down. A master that is there but ends the
   * stream counts as a failed attempt, and the backoff doubles.
   */
  private scheduleReconnect(reason: string): void {
    if (this.stopped || !this.client) return;
    if (this.client.getChannel().getConnectivityState(false) !== grpc.connectivityState.READY) {
      this.options.logger.warn({ attempt: this.attempt }, `lost the master (${reason}); waiting for it to answer`);
      this.waitForMaster();
      return;
    }
    this.retryAfterBackoff(this.attempt++, `lost the master (${reason})`);
  }

  private waitForMaster(): void {
    const client = this.client;
    if (this.stopped || !client) return;
    client.waitForReady(Date.now() + MASTER_WAIT_MS, (err) => {
      if (this.stopped) return;
      if (err) this.waitForMaster();
      else this.retryAfterBackoff(this.attempt, 'the master answers again');
    });
  }

  private retryAfterBackoff(attempt: number, reason: string): void {
    const delay = jitteredBackoffMs(attempt, this.options.backoffBaseMs ?? 1000, this.options.backoffMaxMs ?? 60_000, this.options.random);
    this.options.logger.warn({ delayMs: delay, attempt: attempt + 1 }, `${reason}; registering again`);
    this.retry = this.options.clock.setTimer(delay, () => this.connect());
  }
}
