/**
 * The agent's own Prometheus metrics (GET /metrics on its HTTP port): its tasks by state, its
 * resources total and in use, unacknowledged status updates, whether it is connected to a master,
 * and Node's defaults (event-loop lag among them). Read off the agent at scrape time; each agent
 * has its own registry, so several agents in one process do not collide.
 */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { add, type Resources } from '../common/resources.js';
import { TASK_STATES, type TaskState } from '../common/tasks.js';
import { toScalars } from '../common/scalars.js';

export interface AgentMetricsSource {
  total(): Resources;
  tasks(): { state: TaskState; resources: Resources }[];
  pendingUpdates(): number;
  connected(): boolean;
}

export class AgentMetrics {
  readonly registry = new Registry();

  constructor(source: AgentMetricsSource) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    new Gauge({
      name: 'orbit_agent_tasks',
      help: 'Tasks on this agent by state (active ones; ended ones while their updates are pending).',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = new Map<string, number>(TASK_STATES.map((s) => [s, 0]));
        for (const t of source.tasks()) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    const byKind = (resources: Resources) => toScalars(resources);
    new Gauge({
      name: 'orbit_agent_resources_total',
      help: 'Scalar resources this agent offers, by kind.',
      labelNames: ['resource'],
      registers,
      collect() {
        for (const [resource, v] of Object.entries(byKind(source.total()))) this.set({ resource }, v);
      },
    });
    new Gauge({
      name: 'orbit_agent_resources_used',
      help: 'Scalar resources held by this agent\'s running tasks, by kind.',
      labelNames: ['resource'],
      registers,
      collect() {
        const used = source.tasks().reduce((sum, t) => add(sum, t.resources), [] as Resources);
        const scalars = byKind(used);
        for (const resource of Object.keys(byKind(source.total()))) this.set({ resource }, scalars[resource] ?? 0);
      },
    });
    new Gauge({
      name: 'orbit_agent_status_updates_pending',
      help: 'Status updates sent but not yet acknowledged by their framework.',
      registers,
      collect() {
        this.set(source.pendingUpdates());
      },
    });
    new Gauge({
      name: 'orbit_agent_connected',
      help: '1 while registered with a master.',
      registers,
      collect() {
        this.set(source.connected() ? 1 : 0);
      },
    });
  }
}
