/**
 * The core's MasterPersistence port on the Registry, and what the registry holds read back for a
 * core that has just started (weights, quota, agents, frameworks, dynamic reservations).
 */
import { parseResources } from '../../common/resources.js';
import type { MasterCore, RestoredState } from '../core.js';
import type { MasterPersistence } from '../ports.js';
import { registryChange, type AgentEntry, type Registry } from './registry.js';

export function registryPersistence(registry: Registry, now: () => number): MasterPersistence {
  /** The agent's entry as known, or a fresh admitted one; `change` applied. */
  const putAgent = (agentId: string, hostname: string, change: Partial<AgentEntry>): Promise<void> => {
    const known = registry.agent(agentId) ?? { id: agentId, hostname, status: 'admitted' as const, since: now() };
    return registry.putAgent({ ...known, ...change });
  };
  return {
    setWeights: (weights) => registry.update(weights.map(({ role, weight }) => registryChange.setWeight(role, weight))),
    setQuota: (role, quota) => (quota ? registry.setQuota(role, quota) : registry.removeQuota(role)),
    admitAgent: async (agentId, hostname, principal) => {
      const known = registry.agent(agentId);
      if (known?.status === 'admitted' && known.hostname === hostname && (principal === undefined || known.principal === principal)) return;
      await putAgent(agentId, hostname, { hostname, status: 'admitted', since: now(), ...(principal !== undefined ? { principal } : {}) });
    },
    setAgentStatus: (agentId, hostname, status) => putAgent(agentId, hostname, { hostname, status, since: now() }),
    setAgentDraining: (agentId, hostname, draining) => putAgent(agentId, hostname, { draining }),
    saveFramework: (info, failoverDeadline) => registry.putFramework({ info, ...(failoverDeadline !== undefined ? { failoverDeadline } : {}) }),
    retireFramework: (info) => registry.putFramework({ info, removed: true }),
    saveReservations: (agentId, hostname, reservations) => putAgent(agentId, hostname, { reservations }),
  };
}

/** What the registry holds, as the core's restore takes it. */
export function restoredState(registry: Registry): RestoredState {
  const quotas = new Map<string, { guarantee: ReturnType<typeof parseResources>; limit: ReturnType<typeof parseResources> }>();
  for (const [role, q] of registry.quotas()) quotas.set(role, { guarantee: parseResources(q.guarantee), limit: parseResources(q.limit) });
  return {
    weights: registry.weights(),
    quotas,
    agents: registry.agents().map((a) => ({
      id: a.id,
      hostname: a.hostname,
      status: a.status,
      draining: a.draining ?? false,
      ...(a.reservations ? { reservations: parseResources(a.reservations) } : {}),
      ...(a.principal !== undefined ? { principal: a.principal } : {}),
    })),
    frameworks: registry.frameworks().map((f) => ({ info: f.info, removed: f.removed ?? false, ...(f.failoverDeadline !== undefined ? { failoverDeadline: f.failoverDeadline } : {}) })),
  };
}

/** Puts what the registry holds into a core that has just started; resolves once deadlines set now are durable. */
export function restoreFromRegistry(core: MasterCore, registry: Registry): Promise<void> {
  return core.restore(restoredState(registry));
}
