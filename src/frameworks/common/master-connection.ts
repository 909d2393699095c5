/**
 * Whether a framework is subscribed to the master, as its API reports it and the `orbit services`
 * and `orbit jobs` commands print it. While it is disconnected, what the framework says about its
 * tasks is as last known: their updates wait at the master and the agents until it re-subscribes
 * (a master restart or failover takes tens of seconds), so a count such as "2/2 healthy" is not
 * current then, and the commands say so.
 */
import { shortDuration } from './command-io.js';

/**
 * Where the framework's subscription is.
 * - connected: subscribed since `since` (to the master `masterId`); updates flow.
 * - disconnected: not subscribed since `since`, the start of the outage; `reason` is the latest
 *   one (why the stream ended, or why the last attempt to re-subscribe failed). A framework that
 *   has not subscribed yet is disconnected since it was created.
 */
export type MasterConnection =
  | { state: 'connected'; since: number; masterId: string }
  | { state: 'disconnected'; since: number; reason: string };

/** The reason of a framework that has not subscribed yet. */
export const NOT_SUBSCRIBED_YET = 'not subscribed yet';

/** An API answer with the framework's connection to the master alongside (`master`). */
export type WithConnection<T> = T & { master: MasterConnection };

/** The connection of a framework created at `now`: disconnected, not subscribed yet. */
export function initialConnection(now: number): MasterConnection {
  return { state: 'disconnected', since: now, reason: NOT_SUBSCRIBED_YET };
}

/** The connection after a (re-)subscription at `now`. */
export function connectedAt(now: number, masterId: string): MasterConnection {
  return { state: 'connected', since: now, masterId };
}

/**
 * The connection after a disconnect at `now` for `reason`. An outage already going keeps its
 * start (each failed attempt to re-subscribe reports a disconnect again) and takes the new reason.
 */
export function disconnectedAt(previous: MasterConnection, now: number, reason: string): MasterConnection {
  return { state: 'disconnected', since: previous.state === 'disconnected' ? previous.since : now, reason };
}

/** `2024-01-15 10:31:02 UTC` */
function utc(ms: number): string {
  return `${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

/** `disconnected from the master since 2024-01-15 10:31:02 UTC, 25s ago (REASON)` */
export function describeDisconnect(c: Extract<MasterConnection, { state: 'disconnected' }>, now = Date.now()): string {
  return `disconnected from the master since ${utc(c.since)}, ${shortDuration(now - c.since)} ago (${c.reason})`;
}

/**
 * The line a command prints above what a disconnected framework reports: `warning:
 * disconnected from the master since ... (REASON); what follows is as last known`. Empty when
 * connected, or when the framework sent no connection state (an older one).
 */
export function disconnectedNotice(c: MasterConnection | undefined, now = Date.now()): string {
  if (c?.state !== 'disconnected') return '';
  return `warning: ${describeDisconnect(c, now)}; what follows is as last known\n`;
}

/** True when the framework reports itself disconnected from the master. */
export function isDisconnected(c: MasterConnection | undefined): boolean {
  return c?.state === 'disconnected';
}
