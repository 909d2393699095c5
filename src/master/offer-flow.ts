/**
 * Offers, from the allocator's decisions to their end: the allocation cycle (every interval, and
 * soon after an agent or framework arrives or a framework revives), offers sent in one event per
 * framework, and an offer's end (used by an accept, declined, rescinded, timed out), which gives
 * what it held back to the allocator.
 */
import { DEFAULT_REFUSE_SECONDS, type Offer } from '../common/cluster.js';
import type { TimerHandle } from '../common/clock.js';
import type { Allocator, OfferDecision } from './allocator/allocator.js';
import type { AgentBook } from './agents.js';
import type { Effects } from './effects.js';
import type { FrameworkBook } from './frameworks.js';
import type { OfferBook } from './offer-book.js';
import type { OfferRecord } from './records.js';
import { recoverResources } from './status-relay.js';

/**
 * Offers outstanding longer than this are rescinded, so that frameworks that never answer cannot
 * hoard the cluster (Mesos has no default; its operators set --offer_timeout). A lapsed offer
 * counts as declined with the default filter, so it goes to someone else next.
 */
export const DEFAULT_OFFER_TIMEOUT_MS = 30_000;

export class OfferFlow {
  private pending: TimerHandle | undefined;

  constructor(
    private readonly offers: OfferBook,
    private readonly agents: AgentBook,
    private readonly frameworks: FrameworkBook,
    private readonly allocator: Allocator,
    private readonly effects: Effects,
    private readonly offerTimeoutMs: number,
  ) {}

  /** Asks for an allocation soon (coalesced): on agent or framework arrival and on revive. */
  request(): void {
    if (this.pending) return;
    this.pending = this.effects.clock.setTimer(0, () => {
      this.pending = undefined;
      this.allocate();
    });
  }

  /** One allocation cycle: the allocator's decisions become offers, sent in one event per framework. */
  allocate(): void {
    const now = this.effects.clock.now();
    const started = performance.now();
    const decisions = this.allocator.allocate(now);
    this.effects.metrics.allocationRun(performance.now() - started, decisions.length);
    this.effects.metrics.offersMade(decisions.length);
    const batches = new Map<string, Offer[]>();
    for (const decision of decisions) {
      const offer = this.create(decision, now);
      if (!offer) continue;
      const batch = batches.get(offer.frameworkId);
      if (batch) batch.push(offer);
      else batches.set(offer.frameworkId, [offer]);
    }
    for (const [frameworkId, offers] of batches) this.effects.toFramework(frameworkId, { type: 'offers', offers });
  }

  /** Takes an offer out of the books; its resources stay allocated to the framework (an accept uses them). */
  take(offerId: string): OfferRecord | undefined {
    return this.offers.remove(offerId);
  }

  /** Puts back offers an accept took, when what it had to make durable first could not be. */
  putBack(records: readonly OfferRecord[]): void {
    for (const record of records) this.offers.restore(record, this.offerTimeoutMs, (offerId) => this.timedOut(offerId, record.offer.frameworkId));
  }

  /** Ends an offer and gives its resources back to the allocator; `refuseUntil` filters them from its framework. False when it is not outstanding. */
  discard(offerId: string, refuseUntil?: number): boolean {
    const offer = this.offers.remove(offerId)?.offer;
    if (!offer) return false;
    recoverResources(this.allocator, this.effects, offer.agentId, offer.frameworkId, offer.role, offer.resources, refuseUntil);
    return true;
  }

  /** Discards an offer and tells its framework it is gone. */
  rescind(offerId: string, refuseUntil?: number): void {
    const frameworkId = this.offers.get(offerId)?.offer.frameworkId;
    if (!frameworkId || !this.discard(offerId, refuseUntil)) return;
    this.effects.metrics.offersRescinded(1);
    this.effects.toFramework(frameworkId, { type: 'rescind', offerId });
  }

  /** Rescinds every outstanding offer of an agent (it left `active`). */
  rescindAllOn(agentId: string): void {
    for (const id of this.offers.onAgent(agentId)) this.rescind(id);
  }

  /** An agent gone or a framework removed: it will get no more offers. */
  forget(id: string): void {
    this.offers.forget(id);
  }

  /** Discards every outstanding offer of a framework (it left `subscribed`: nobody to tell). */
  discardAllOf(frameworkId: string): void {
    for (const id of this.offers.ofFramework(frameworkId)) this.discard(id);
  }

  stop(): void {
    this.pending?.cancel();
    this.pending = undefined;
    this.offers.stop();
  }

  /** Records a decision as an offer; undefined (its resources recovered) if its agent or framework went away meanwhile. */
  private create(decision: OfferDecision, now: number): Offer | undefined {
    const agent = this.agents.get(decision.agentId);
    if (!agent || !this.frameworks.has(decision.frameworkId)) {
      this.allocator.recover(decision.agentId, decision.frameworkId, decision.role, decision.resources);
      return undefined;
    }
    return this.offers.create(decision, agent.info, now, this.offerTimeoutMs, (offerId) => this.timedOut(offerId, decision.frameworkId));
  }

  private timedOut(offerId: string, frameworkId: string): void {
    this.effects.log.info({ offerId, frameworkId, timeoutMs: this.offerTimeoutMs }, 'offer timed out: the framework did not answer it; rescinded');
    this.rescind(offerId, this.effects.clock.now() + DEFAULT_REFUSE_SECONDS * 1000);
  }
}
