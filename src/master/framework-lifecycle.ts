/** A framework's life at this master, as one state union and one transition check. */

/** Where a framework is in its life at this master. */
export type FrameworkState =
  /** Subscribed on a live stream: offered, and its calls accepted. */
  | 'subscribed'
  /** No stream (it disconnected, or this master restarted): its tasks are kept until its failover deadline. */
  | 'disconnected'
  /** Torn down or failed over too late: its tasks were killed and its id is retired. Final. */
  | 'removed';

const ALLOWED_FROM: Record<FrameworkState, readonly FrameworkState[]> = {
  subscribed: ['subscribed', 'disconnected'],
  disconnected: ['subscribed'],
  removed: ['subscribed', 'disconnected'],
};

/** May a framework in `from` move to `to`? (Staying `subscribed` is a re-subscription on a new stream.) */
export function frameworkTransitionAllowed(from: FrameworkState, to: FrameworkState): boolean {
  return ALLOWED_FROM[to].includes(from);
}
