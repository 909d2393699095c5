/**
 * Outstanding offers and the bookkeeping that keeps "a resource is in at most one outstanding
 * offer" true: every offer adds to its agent's `offered`, every removal takes it back out.
 */
import type { Offer } from '../common/cluster.js';
import { newOfferId } from '../common/ids.js';
import { add, EMPTY, subtract } from '../common/resources.js';
import type { OfferDecision } from './allocator/allocator.js';
import type { AgentRecord, FrameworkRecord, OfferRecord } from './records.js';

export class OfferBook {
  private readonly offers = new Map<string, OfferRecord>();

  get(offerId: string): OfferRecord | undefined {
    return this.offers.get(offerId);
  }

  get size(): number {
    return this.offers.size;
  }

  /** Records a decision as an offer, marking its resources offered on the agent. */
  create(decision: OfferDecision, agent: AgentRecord, framework: FrameworkRecord, now: number): Offer {
    const offer: Offer = {
      id: newOfferId(),
      frameworkId: decision.frameworkId,
      agentId: decision.agentId,
      hostname: agent.info.hostname,
      role: decision.role,
      resources: decision.resources,
      attributes: agent.info.attributes,
    };
    this.offers.set(offer.id, { offer, createdAt: now });
    // Usually an agent's only outstanding offer: no arithmetic then (it runs on every offer).
    agent.offered = agent.offers.size === 0 ? offer.resources : add(agent.offered, offer.resources);
    agent.offers.add(offer.id);
    framework.offers.add(offer.id);
    return offer;
  }

  /**
   * Removes an offer and returns its resources to the agent's pool; returns the offer, or
   * undefined (a no-op) when it is not outstanding.
   */
  remove(offerId: string, agent: AgentRecord | undefined, framework: FrameworkRecord | undefined): Offer | undefined {
    const record = this.offers.get(offerId);
    if (!record) return undefined;
    this.offers.delete(offerId);
    if (agent) {
      agent.offers.delete(offerId);
      agent.offered = agent.offers.size === 0 ? EMPTY : subtract(agent.offered, record.offer.resources);
    }
    framework?.offers.delete(offerId);
    return record.offer;
  }
}
