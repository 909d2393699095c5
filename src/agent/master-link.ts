/**
 * The agent's end of AgentLink: one bidirectional stream to the master. It registers (or
 * re-registers once it has an id), heartbeats at the interval the master gave, and reconnects
 * with jittered backoff — random in [0, base·2^n], capped — whenever the stream ends, to the next
 * master of its list when a connection attempt fails, and to the leader a standby names at once. Commands stamped with an epoch lower than
 * the highest seen are dropped: a stale master cannot act. A refusal the agent cannot fix by
 * trying again (FINAL_REFUSALS) stops the link for good.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { jitteredBackoffMs } from '../common/backoff.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { agentLinkClients, isConnected, NOT_LEADER_RETRY_MS, notLeaderHint, type MasterClients, type MasterList } from '../common/connection.js';
import type { ClientSecurity } from '../common/credentials.js';
import { errorMessage, type ErrorReason } from '../common/errors.js';
import type { ReceivedAgentCommand } from '../common/master-messages.js';
import { agentCommandFromProto, unbatchMasterMessage, type DecodedAgentCommand } from '../common/message-codec.js';
import { Outbox } from '../common/outbox.js';
import type { AgentLinkClient } from '../gen/orbit/v1/AgentLink.js';
import type { AgentMessage } from '../gen/orbit/v1/AgentMessage.js';
import type { MasterMessage__Output } from '../gen/orbit/v1/MasterMessage.js';

/** Refusals that registering again cannot change: the agent stops instead of retrying. */
export const FINAL_REFUSALS: ReadonlySet<ErrorReason> = new Set<ErrorReason>(['AGENT_GONE', 'AGENT_RESOURCES_SHRANK']);

/** The commands a link hands on: all but a refusal, which the link acts on itself. */
export type LinkCommand = Exclude<ReceivedAgentCommand, { type: 'refused' }>;

export interface MasterLinkHandlers {
  /** The first messages on a new stream: register, or re-register with the agent's tasks (in parts when they are many). */
  hello(): AgentMessage[];
  /** A command from the master (registered/reregistered included), decoded, its epoch checked. */
  onCommand(command: LinkCommand): void;
  /** The master accepted the (re-)registration. */
  onConnected(agentId: string, heartbeatIntervalMs: number): void;
  onDisconnected(reason: string): void;
  /** The master refused this agent for good (FINAL_REFUSALS); the link has stopped. `line` says why, for a log or an exit. */
  onRefused(reason: ErrorReason, line: string): void;
}

export interface MasterLinkOptions {
  /** The masters, tried in order (see MasterClients). */
  masters: MasterList;
  /** How to reach them: the agent's certificate, or --insecure. */
  security: ClientSecurity;
  clock: Clock;
  logger: Logger;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  random?: () => number;
  /**
   * Clients shared with other agents in this process: their streams share a connection, and
   * stop() leaves it open. By default the link makes (and closes) clients of its own.
   */
  clients?: MasterClients<AgentLinkClient>;
}

/**
 * How long one wait for the master's connection lasts before it is renewed. Short: grpc-js keeps
 * the wait's timer until its deadline even after the client is closed, so a stopped agent would
 * otherwise hold its process open for as long.
 */
const MASTER_WAIT_MS = 3_000;

/**
 * At most this many messages in one AgentLink write. A status update is at most about 13 KiB (a
 * 4,096-character message in UTF-8, and its ids), so 64 stay under the smallest receive limit a
 * master may set (--max-receive-bytes 1 MiB), however many updates are resent in one turn.
 */
const MAX_BATCH_MESSAGES = 64;

export class MasterLink {
  private clients: MasterClients<AgentLinkClient> | undefined;
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
    this.clients = this.options.clients ?? agentLinkClients(this.options.masters, this.options.security);
    this.connect();
  }

  /** True while registered with a master. */
  get isConnected(): boolean {
    return this.connected;
  }

  /** The master the link talks to, or tries next. */
  get master(): string {
    return this.clients?.address ?? this.options.masters[0];
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
    if (!this.options.clients) this.clients?.close();
  }

  private connect(): void {
    // One stream at a time: a second wake-up (grpc-js may call a waitForReady back twice when its
    // client was closed under it) must not open another, whose registration would end this one.
    if (this.stopped || !this.clients || this.call) return;
    // The client this stream is on: when it ends, that master is the one that failed, even if
    // another link sharing the list (orbit fleet) has moved on meanwhile.
    const client = this.clients.current;
    const call = client.Connect();
    this.call = call;
    let ended = false;
    const outbox = Outbox.forStream<AgentMessage>(
      (message) => !ended && call.write(message),
      (messages) => ({ batch: { messages } }),
      MAX_BATCH_MESSAGES,
    );
    this.outbox = outbox;
    const end = (reason: string, err?: unknown) => {
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
      const hint = notLeaderHint(err as { metadata?: grpc.Metadata } | undefined);
      if (hint) this.followLeader(client, hint.leader);
      else this.scheduleReconnect(reason, client);
    };
    call.on('data', (message: MasterMessage__Output) => this.receive(message, end));
    call.on('error', (err: Error) => end(errorMessage(err), err));
    call.on('end', () => end('the master closed the stream'));
    for (const message of this.handlers.hello()) call.write(message);
  }

  /** Acts on one stream message: a batch's commands in order, until one ends the stream. */
  private receive(message: MasterMessage__Output, end: (reason: string) => void): void {
    for (const m of unbatchMasterMessage(message)) {
      if (!this.take(m, end)) return;
    }
  }

  /** Acts on one command; false once it ended the stream (a refusal). */
  private take(message: MasterMessage__Output, end: (reason: string) => void): boolean {
    const log = this.options.logger;
    let decoded: DecodedAgentCommand;
    try {
      decoded = agentCommandFromProto(message);
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'ignored a message from the master that does not decode');
      return true;
    }
    const { epoch, command, warnings } = decoded;
    if (epoch < this.highestEpoch) {
      log.warn({ epoch, highestEpoch: this.highestEpoch }, 'ignored a command from a stale master');
      return true;
    }
    this.highestEpoch = epoch;
    for (const warning of warnings) log.warn(`from the master: ${warning}`);
    if (command.type === 'refused') {
      this.refused(command.reason, command.message, end);
      return false;
    }
    if (command.type === 'registered' || command.type === 'reregistered') {
      this.connected = true;
      this.attempt = 0;
      this.heartbeat?.cancel();
      this.heartbeat = this.options.clock.setRepeating(command.heartbeatIntervalMs, () => {
        this.send({ heartbeat: { timestamp: this.options.clock.now() / 1000 } });
      });
      this.handlers.onConnected(command.agentId, command.heartbeatIntervalMs);
    }
    this.handlers.onCommand(command);
    return true;
  }

  /** A final refusal stops the link and is reported once; any other ends the stream, to register again after a backoff. */
  private refused(reason: ErrorReason | undefined, message: string, end: (reason: string) => void): void {
    if (reason !== undefined && FINAL_REFUSALS.has(reason)) {
      const line = `the master refused this agent for good (${reason}): ${message}`;
      this.options.logger.error(line);
      this.connected = false;
      this.stop();
      this.handlers.onRefused(reason, line);
      return;
    }
    this.options.logger.error({ reason }, `the master refused this agent: ${message}; registering again`);
    end(`refused (${reason ?? 'no reason given'}): ${message}`);
  }

  /**
   * While no connection to the master is up, waits for one (the channel retries on its own, every
   * 0.5–3 s) without counting attempts: like a Mesos agent detecting a new master, it then backs
   * off from where it was, so agents come back within a second of a restarted master listening
   * instead of after backoffs that doubled while it was down. A master that is there but ends the
   * stream counts as a failed attempt, and the backoff doubles. `client` is the one the stream was
   * on: if links sharing the list already moved past it, this one only waits for the new master.
   */
  private scheduleReconnect(reason: string, client: AgentLinkClient): void {
    const clients = this.clients;
    if (this.stopped || !clients) return;
    if (client !== clients.current || !isConnected(client)) {
      // The connection is down: the next master of the list, if there are several (a no-op when
      // another link already moved on from this one).
      clients.failed(client);
      this.options.logger.warn({ attempt: this.attempt, master: clients.address }, `lost the master (${reason}); waiting for one to answer`);
      this.waitForMaster();
      return;
    }
    this.retryAfterBackoff(this.attempt++, `lost the master (${reason})`);
  }

  /**
   * The master is a standby: register with the leader it named at once (no backoff: a known new
   * leader is not a failure), or, while none is elected, ask the next master shortly.
   */
  private followLeader(client: AgentLinkClient, leader: string | undefined): void {
    const clients = this.clients;
    if (this.stopped || !clients) return;
    clients.follow(client, leader);
    this.options.logger.info({ master: clients.address }, leader ? 'the master is a standby; registering with the leader it named' : 'no leader is elected yet; asking again shortly');
    this.retry?.cancel();
    this.retry = this.options.clock.setTimer(leader ? 0 : NOT_LEADER_RETRY_MS, () => this.connect());
  }

  /** Waits for the current master, moving down the list each time a wait passes without a connection. */
  private waitForMaster(): void {
    const clients = this.clients;
    if (this.stopped || !clients) return;
    const client = clients.current;
    // A gRPC deadline is wall-clock time, whatever clock the link runs on.
    client.waitForReady(Date.now() + MASTER_WAIT_MS, (err) => {
      if (this.stopped) return;
      if (!err) {
        this.retryAfterBackoff(this.attempt, 'the master answers again');
        return;
      }
      clients.failed(client);
      this.waitForMaster();
    });
  }

  private retryAfterBackoff(attempt: number, reason: string): void {
    const delay = jitteredBackoffMs(attempt, this.options.backoffBaseMs ?? 1000, this.options.backoffMaxMs ?? 60_000, this.options.random);
    this.options.logger.warn({ delayMs: delay, attempt: attempt + 1 }, `${reason}; registering again`);
    this.retry?.cancel();
    this.retry = this.options.clock.setTimer(delay, () => this.connect());
  }
}
