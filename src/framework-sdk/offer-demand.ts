/**
 * Offers only while something waits for them (the Mesos offer-starvation lesson: a framework that
 * needs nothing but keeps receiving and declining offers holds resources back from the others).
 * Tell it how many tasks wait for an offer, whenever that may have changed: it suppresses offers
 * at 0 and revives them when the count goes above 0, or grows (a revive also clears the filters of
 * earlier declines, so the new tasks see every agent). After each (re)subscription the master's
 * view is unknown, so the last count is applied afresh.
 */
import type { SchedulerClient } from './scheduler-client.js';

export class OfferDemand {
  private waiting = 0;
  /** What the master was last told; undefined when unknown (before the first call, after a reconnect). */
  private suppressedAtMaster: boolean | undefined;

  constructor(
    private readonly client: SchedulerClient,
    /** The roles to revive and suppress; none means all of the framework's. */
    private readonly roles: string[] = [],
  ) {
    client.on('subscribed', () => {
      this.suppressedAtMaster = undefined;
      this.apply(false);
    });
    client.on('disconnected', () => (this.suppressedAtMaster = undefined));
  }

  /** True when offers are suppressed (as far as this client last told the master). */
  get suppressed(): boolean {
    return this.suppressedAtMaster === true;
  }

  /** Sets how many tasks wait for an offer now; a no-op when nothing changes at the master. */
  set(waiting: number): void {
    const grew = waiting > this.waiting;
    this.waiting = Math.max(0, waiting);
    this.apply(grew);
  }

  private apply(grew: boolean): void {
    if (!this.client.subscribed) return;
    if (this.waiting > 0 && (this.suppressedAtMaster !== false || grew)) {
      this.suppressedAtMaster = false;
      this.client.revive(this.roles).catch(() => (this.suppressedAtMaster = undefined));
    } else if (this.waiting === 0 && this.suppressedAtMaster !== true) {
      this.suppressedAtMaster = true;
      this.client.suppress(this.roles).catch(() => (this.suppressedAtMaster = undefined));
    }
  }
}
