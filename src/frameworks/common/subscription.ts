/**
 * The connection plumbing the services and jobs frameworks share: subscribing under their saved
 * id, reconciling what they know after every (re-)subscription, and turning one offer round into
 * Accepts and one Decline. What they do with offers and updates stays theirs.
 */
import { MAX_TASKS_PER_ACCEPT, SchedulerClient, type ClientSecurity, type Clock, type Logger, type Offer, type SubscribedInfo, type SubscriptionError, type TaskSpec, type TaskStatus } from '../../framework-sdk/index.js';

export interface SubscriptionOptions {
  master: string;
  security?: ClientSecurity;
  name?: string;
  role?: string;
  failoverTimeoutMs?: number;
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** The clock of the client's reconnect backoff and heartbeat watchdog: the framework's own. */
  clock?: Clock;
}

export interface SubscriptionHandlers {
  subscribed(info: SubscribedInfo): void;
  offers(offers: Offer[]): void;
  update(status: TaskStatus): void;
  /** The subscription was lost (or an attempt to re-subscribe failed); the client re-subscribes by itself. */
  disconnected(client: SchedulerClient, reason: string): void;
  /** The master ended the subscription for good (see isRetiredId). */
  fatal(client: SchedulerClient, error: SubscriptionError): void;
}

/** A started SchedulerClient for the framework (under `frameworkId` once it has one), its events wired to `on`. */
export function subscribe(options: SubscriptionOptions, defaultName: string, frameworkId: string | undefined, log: Logger, on: SubscriptionHandlers): SchedulerClient {
  const client = new SchedulerClient({
    master: options.master,
    framework: {
      name: options.name ?? defaultName,
      roles: [options.role ?? '*'],
      ...(options.failoverTimeoutMs !== undefined ? { failoverTimeoutMs: options.failoverTimeoutMs } : {}),
      ...(frameworkId ? { id: frameworkId } : {}),
    },
    logger: log,
    ...(options.security ? { security: options.security } : {}),
    ...(options.reconnectBaseMs !== undefined ? { reconnectBaseMs: options.reconnectBaseMs } : {}),
    ...(options.reconnectMaxMs !== undefined ? { reconnectMaxMs: options.reconnectMaxMs } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  client.on('subscribed', (info) => on.subscribed(info));
  client.on('offers', (offers) => on.offers(offers));
  client.on('update', (status) => on.update(status));
  client.on('disconnected', (reason) => {
    log.warn({ reason }, 'lost the master; re-subscribing');
    on.disconnected(client, reason);
  });
  client.on('error', (error) => on.fatal(client, error));
  client.start().catch(() => undefined); // the subscribed and error events say how it went
  return client;
}

/**
 * The master refused to subscribe a framework id it has retired (torn down, or failed over too
 * late): its tasks are gone, and a fresh subscription is the way back. The same reason in an ERROR
 * event ends a live subscription (an operator's teardown), which stops the framework instead.
 */
export function isRetiredId(error: SubscriptionError): boolean {
  return error.reason === 'FRAMEWORK_REMOVED' && error.code !== undefined;
}

/**
 * Explicit reconciliation first (an answer for every task known, LOST for those the master never
 * got), then implicit (every task the master has for the framework, so unknown ones show up).
 */
export function reconcileAll(client: SchedulerClient, known: { taskId: string; agentId: string }[], log: Logger): void {
  const reconcile = known.length > 0 ? client.reconcile(known).then(() => client.reconcile()) : client.reconcile();
  reconcile.catch((err: unknown) => log.warn({ err: String(err) }, 'reconcile failed'));
}

/**
 * One Accept per offer that got tasks, and one Decline for the rest, all with `refuseSeconds`. A
 * failed Accept may or may not have reached the master: its tasks are reconciled, and LOST answers
 * get them replaced. So are the tasks placed on an offer past the master's cap of one Accept
 * (MAX_TASKS_PER_ACCEPT): they are never sent, and come back LOST to be placed again.
 */
export function launchAndDecline(client: SchedulerClient, offers: readonly Offer[], byOffer: ReadonlyMap<string, TaskSpec[]>, refuseSeconds: number, log: Logger): void {
  const unused: string[] = [];
  for (const offer of offers) {
    const tasks = byOffer.get(offer.id);
    if (!tasks) {
      unused.push(offer.id);
      continue;
    }
    const sent = tasks.slice(0, MAX_TASKS_PER_ACCEPT);
    const held = tasks.slice(MAX_TASKS_PER_ACCEPT);
    const reconcile = (list: readonly TaskSpec[]) => client.reconcile(list.map((t) => ({ taskId: t.taskId, agentId: t.agentId }))).catch(() => undefined);
    log.info({ agentId: offer.agentId, tasks: sent.map((t) => t.taskId) }, 'launching');
    client.launch(offer, sent, { refuseSeconds }).then(
      () => {
        if (held.length > 0) {
          log.warn({ agentId: offer.agentId, held: held.length }, `more than ${MAX_TASKS_PER_ACCEPT} tasks on one offer; the rest are placed again`);
          void reconcile(held);
        }
      },
      (err: unknown) => {
        log.warn({ err: String(err), tasks: tasks.map((t) => t.taskId) }, 'launch call failed; reconciling');
        void reconcile(tasks);
      },
    );
  }
  if (unused.length > 0) client.decline(unused, { refuseSeconds }).catch(() => undefined);
}
