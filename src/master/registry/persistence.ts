/**
 * The core's MasterPersistence port on the Registry, and the start-up step that loads what the
 * registry holds back into a fresh core (weights, quota, dynamic reservations).
 */
import { parseResources } from '../../common/resources.js';
import { toScalars } from '../../common/scalars.js';
import type { MasterCore, MasterPersistence } from '../core.js';
import type { Registry } from './registry.js';

export function registryPersistence(registry: Registry, now: () => number): MasterPersistence {
  return {
    setWeight: (role, weight) => registry.setWeight(role, weight),
    setQuota: (role, quota) => (quota ? registry.setQuota(role, quota) : registry.removeQuota(role)),
    admitAgent: async (agentId, hostname) => {
      const known = registry.agent(agentId);
      if (known?.status === 'admitted' && known.hostname === hostname) return;
      await registry.putAgent({ ...(known ?? {}), id: agentId, hostname, status: 'admitted', since: now() });
    },
    setAgentStatus: async (agentId, hostname, status) => {
      const known = registry.agent(agentId);
      await registry.putAgent({ ...(known ?? {}), id: agentId, hostname, status, since: now() });
    },
    saveFramework: (info, failoverDeadline) => registry.putFramework({ info, ...(failoverDeadline !== undefined ? { failoverDeadline } : {}) }),
    retireFramework: (info) => registry.putFramework({ info, removed: true }),
    saveReservations: async (agentId, hostname, reservations) => {
      const known = registry.agent(agentId) ?? { id: agentId, hostname, status: 'admitted' as const, since: now() };
      await registry.putAgent({ ...known, reservations });
    },
  };
}

/** Puts the registry's weights, quota and reservations into a core that has just started. */
export function restoreFromRegistry(core: MasterCore, registry: Registry): void {
  for (const [role, weight] of registry.weights()) core.allocator.setWeight(role, weight);
  for (const [role, quota] of registry.quotas()) {
    core.allocator.setQuota(role, { guarantee: toScalars(parseResources(quota.guarantee)), limit: toScalars(parseResources(quota.limit)) });
  }
  for (const agent of registry.agents()) {
    if (agent.reservations) core.restoreReservations(agent.id, parseResources(agent.reservations));
    if (agent.status === 'gone') core.restoreGoneAgent(agent.id);
    else core.expectAgent(agent.id, agent.hostname, agent.status);
  }
  for (const f of registry.frameworks()) core.restoreFramework(f.info, f.failoverDeadline, f.removed ?? false);
}
