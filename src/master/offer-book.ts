/**
 * The offers book: outstanding offers, by agent and by framework, what each agent has offered,
 * and each offer's timeout. Keeps "a resource is in at most one outstanding offer" true: every
 * offer adds to its agent's offered resources, every removal takes them back out.
 */
import type { Offer } from '../common/cluster.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { newOfferId } from '../common/ids.js';
import { add, EMPTY, subtract, type Resources } from '../common/resources.js';
import type { OfferDecision } from './allocator/allocator.js';
import type { OfferRecord } from './records.js';

export class OfferBook {
  private readonly offers = new Map<string, OfferRecord>();
  private readonly byAgent = new Map<string, Set<string>>();
  private readonly byFramework = new Map<string, Set<string>>();
  private readonly offeredOnAgent = new Map<string, Resources>();
  private readonly timers = new Map<string, TimerHandle>();

  constructor(private readonly clock: Clock) {}

  get(offerId: string): OfferRecord | undefined {
    return this.offers.get(offerId);
  }

  get size(): number {
    return this.offers.size;
  }

  /** Ids of the agent's outstanding offers (a copy: safe to remove them while iterating). */
  onAgent(agentId: string): string[] {
    return [...(this.byAgent.get(agentId) ?? [])];
  }

  /** Ids of the framework's outstanding offers (a copy). */
  ofFramework(frameworkId: string): string[] {
    return [...(this.byFramework.get(frameworkId) ?? [])];
  }

  /** What the agent has in outstanding offers. */
  offeredOn(agentId: string): Resources {
    return this.offeredOnAgent.get(agentId) ?? EMPTY;
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
    const onAgent = setOf(this.byAgent, offer.agentId);
    // Usually an agent's only outstanding offer: no arithmetic then (it runs on every offer).
    this.offeredOnAgent.set(offer.agentId, onAgent.size === 0 ? offer.resources : add(this.offeredOn(offer.agentId), offer.resources));
    onAgent.add(offer.id);
    setOf(this.byFramework, offer.frameworkId).add(offer.id);
    this.timers.set(offer.id, this.clock.setTimer(timeoutMs, () => onTimeout(offer.id)));
  }

  /** Removes an offer (its resources no longer offered on its agent); undefined, a no-op, when it is not outstanding. */
  remove(offerId: string): Offer | undefined {
    const record = this.offers.get(offerId);
    if (!record) return undefined;
    const { agentId, frameworkId } = record.offer;
    this.offers.delete(offerId);
    this.timers.get(offerId)?.cancel();
    this.timers.delete(offerId);
    const onAgent = this.byAgent.get(agentId)!;
    onAgent.delete(offerId);
    this.offeredOnAgent.set(agentId, onAgent.size === 0 ? EMPTY : subtract(this.offeredOn(agentId), record.offer.resources));
    if (onAgent.size === 0) this.byAgent.delete(agentId);
    const ofFramework = this.byFramework.get(frameworkId)!;
    ofFramework.delete(offerId);
    if (ofFramework.size === 0) this.byFramework.delete(frameworkId);
    return record.offer;
  }

  /** Cancels every offer timer. Idempotent. */
  stop(): void {
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }
}

function setOf(map: Map<string, Set<string>>, key: string): Set<string> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}
