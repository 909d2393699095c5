/** The SchedulerClient's options and the events it emits, with their arguments. */
import type { Clock } from '../common/clock.js';
import type { Offer } from '../common/cluster.js';
import type { Logger } from '../common/logging.js';
import type { TaskStatus } from '../common/tasks.js';
import type { SubscriptionError } from './wire.js';
import type { ClientSecurity } from '../common/credentials.js';

/** The SDK's default failover timeout: the master keeps a disconnected framework's tasks a week. */
export const DEFAULT_FAILOVER_TIMEOUT_MS = 7 * 24 * 3600 * 1000;

/** Who the framework is; everything but the name has a default. */
export interface FrameworkOptions {
  name: string;
  /** Default `['*']`. */
  roles?: string[];
  /** How long the master keeps the tasks after a disconnect; default 1 week, 0 = remove at once. */
  failoverTimeoutMs?: number;
  /** Set to resume an existing framework (failover); otherwise the master assigns one. */
  id?: string;
  /** Default: the current OS user. */
  user?: string;
  /** Default: this machine's hostname. */
  hostname?: string;
  labels?: Record<string, string>;
}

/** How to reach the master, who the framework is, and how the client behaves. */
export interface SchedulerClientOptions {
  /**
   * The masters' gRPC addresses, `host:port[,host:port...]`: the client subscribes to the first,
   * and moves to the next when a connection attempt fails.
   */
  master: string;
  framework: FrameworkOptions;
  /**
   * How to reach the masters: mutual TLS with credentials (`readCredentials(path)`), or
   * `{ mode: 'insecure' }` for a master run with --insecure. Default: `findCredentials({})`, that is
   * `$ORBIT_CREDENTIALS`, else `~/.orbit/credentials.json`. The framework's principal is the one
   * in the certificate; `framework.principal` is ignored under TLS.
   */
  security?: ClientSecurity;
  /** Acknowledge each update after the `update` listeners ran (default true). */
  autoAcknowledge?: boolean;
  /** Reconnect backoff: random in [0, base·2^attempt], capped at max. Defaults 1000 and 60000. */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** Deadline of each unary call; default 10 s. */
  callTimeoutMs?: number;
  logger?: Logger;
  /** The clock of the reconnect backoff and the heartbeat watchdog (default: the system clock). */
  clock?: Clock;
}

/** What the `subscribed` event carries. */
export interface SubscribedInfo {
  frameworkId: string;
  streamId: string;
  heartbeatIntervalMs: number;
  masterId: string;
  /** True when the subscription named an existing framework id (a failover or a reconnect). */
  resubscribed: boolean;
}

/** An agent the master lost for good (the `failure` event). */
export interface AgentFailure {
  agentId: string;
  message: string;
}

/** The events a SchedulerClient emits, with their arguments. */
export interface SchedulerEvents {
  subscribed: [info: SubscribedInfo];
  offers: [offers: Offer[]];
  rescind: [offerId: string];
  update: [status: TaskStatus];
  failure: [failure: AgentFailure];
  /** The master ended the subscription for good (e.g. torn down); the client has stopped. */
  error: [error: SubscriptionError];
  heartbeat: [];
  /** The stream broke; the client re-subscribes after a backoff. */
  disconnected: [reason: string];
}
