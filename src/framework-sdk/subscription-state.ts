/** Where a SchedulerClient's subscription is, how it moves, and what ends it. Internal to the SDK. */
import * as grpc from '@grpc/grpc-js';

/**
 * Where the subscription is.
 * - idle: start() not called yet.       - connecting: a Subscribe call is open, no SUBSCRIBED yet.
 * - subscribed: events flow; calls are allowed.
 * - backoff: waiting to re-subscribe.   - closed: close(), teardown() or the master ended it; final.
 */
export type SubscriptionState = 'idle' | 'connecting' | 'subscribed' | 'backoff' | 'closed';

const ALLOWED_FROM: Record<SubscriptionState, readonly SubscriptionState[]> = {
  idle: [],
  connecting: ['idle', 'backoff'],
  subscribed: ['connecting', 'subscribed'],
  backoff: ['connecting', 'subscribed'],
  closed: ['idle', 'connecting', 'subscribed', 'backoff'],
};

/** `to`, when the subscription may move there from `from`; throws otherwise (a bug, not a wire event). */
export function nextState(from: SubscriptionState, to: SubscriptionState): SubscriptionState {
  if (!ALLOWED_FROM[to].includes(from)) throw new Error(`scheduler client: illegal transition ${from} -> ${to}`);
  return to;
}

/** Without an event for this many heartbeat intervals the stream is taken for dead. */
export const MISSED_HEARTBEATS = 3;

/** Subscribe statuses that re-subscribing cannot fix: the client stops instead of retrying. */
export const FATAL_SUBSCRIBE_CODES: ReadonlySet<grpc.status> = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNAUTHENTICATED,
  grpc.status.UNIMPLEMENTED,
]);
