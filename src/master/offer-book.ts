/**
 * The offers book: outstanding offers, by agent and by framework, what each agent has offered,
 * and each offer's timeout (on one timer for all, deadline-queue.ts). Keeps "a resource is in at most one outstanding offer" true: every
 * offer adds to its agent's offered resources, every removal takes them back out.
 */
import type { Offer } from '../common/cluster.js';
import type { Clock } from '../common/clock.js';
import { newOfferId } from '../common/ids.js';
import { add, EMPTY, subtract, type Resources } from '../common/resources.js';
import type { OfferDecision } from './allocator/allocator.js';
import { DeadlineQueue } from './deadline-queue.js';
import type { OfferRecord } from './records.js';

/** An agent's outstanding offers and what they hold; kept when it has none (agents get offers every cycle). */
interface AgentOffers {
  ids: Set<string>;
  offered: Resources;
}

export class OfferBook {
  private readonly offers = new Map<string, OfferRecord>();
  private readonly byAgent = new Map<string, AgentOffers>();
  private readonly byFramework = new Map<string, Set<string>>();
  private readonly deadlines: DeadlineQueue;

  constructor(private readonly clock: Clock) {
    this.deadlines = new DeadlineQueue(clock);
  }

  get(offerId: string): OfferRecord | undefined {
    return this.offers.get(offerId);
  }

  get size(): number {
    return this.offers.size;
  }

  /** Ids of the agent's outstanding offers (a copy: safe to remove them while iterating). */
  onAgent(agentId: string): string[] {
    return [...(this.byAgent.get(agentId)?.ids ?? [])];
  }

  /** Ids of the framework's outstanding offers (a copy). */
  ofFramework(frameworkId: string): string[] {
    return [...(this.byFramework.get(frameworkId) ?? [])];
  }

  /** What the agent has in outstanding offers. */
  offeredOn(agentId: string): Resources {
    return this.byAgent.get(agentId)?.offered ?? EMPTY;
  }

  /** What the framework holds in outstanding offers. */
  offeredTo(frameworkId: string): Resources {
    let total = EMPTY;
    for (const id of this.byFramework.get(frameworkId) ?? []) total = add(total, this.offers.get(id)!.offer.resources);
    return total;
  }

  /** Records an allocator decision as an offer; `onTimeout` runs if it is still outstanding after `timeoutMs`. */
  create(decision: OfferDecision, agent: { hostname: string; attributes: Offer['attributes'] }, now: number, timeoutMs: number, onTimeout: (offerId: string) => void): Offer {
    const offer: Offer = {
      id: newOfferId(),
      frameworkId: decision.frameworkId,
      agentId: decision.agentId,
      hostname: agent.hostname,
      role: decision.role,
      resources: decision.resources,
      attributes: agent.attributes,
    };
    this.put({ offer, createdAt: now }, timeoutMs, onTimeout);
    return offer;
  }

  /** Puts back an offer taken out by an accept whose durable part failed (its timer runs anew). */
  restore(record: OfferRecord, timeoutMs: number, onTimeout: (offerId: string) => void): void {
    if (!this.offers.has(record.offer.id)) this.put(record, timeoutMs, onTimeout);
  }

  private put(record: OfferRecord, timeoutMs: number, onTimeout: (offerId: string) => void): void {
    const { offer } = record;
    this.offers.set(offer.id, record);
    let onAgent = this.byAgent.get(offer.agentId);
    if (!onAgent) this.byAgent.set(offer.agentId, (onAgent = { ids: new Set(), offered: EMPTY }));
    // Usually an agent's only outstanding offer: no arithmetic then (it runs on every offer).
    onAgent.offered = onAgent.ids.size === 0 ? offer.resources : add(onAgent.offered, offer.resources);
    onAgent.ids.add(offer.id);
    setOf(this.byFramework, offer.frameworkId).add(offer.id);
    // Fires for this record only: an id is never reused, and a taken offer put back is the same record.
    this.deadlines.add(this.clock.now() + timeoutMs, () => {
      if (this.offers.get(offer.id) === record) onTimeout(offer.id);
    });
  }

  /** Removes an offer (its resources no longer offered on its agent) and returns it; undefined, a no-op, when it is not outstanding. */
  remove(offerId: string): OfferRecord | undefined {
    const record = this.offers.get(offerId);
    if (!record) return undefined;
    const { agentId, frameworkId } = record.offer;
    this.offers.delete(offerId);
    const onAgent = this.byAgent.get(agentId)!;
    onAgent.ids.delete(offerId);
    onAgent.offered = onAgent.ids.size === 0 ? EMPTY : subtract(onAgent.offered, record.offer.resources);
    this.byFramework.get(frameworkId)!.delete(offerId);
    return record;
  }

  /** Forgets an agent or framework that will get no more offers (gone, removed); a no-op while it has some. */
  forget(id: string): void {
    if (this.byAgent.get(id)?.ids.size === 0) this.byAgent.delete(id);
    if (this.byFramework.get(id)?.size === 0) this.byFramework.delete(id);
  }

  /** Cancels every offer's timeout. Idempotent. */
  stop(): void {
    this.deadlines.stop();
  }
}

function setOf(map: Map<string, Set<string>>, key: string): Set<string> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}
