/**
 * The master's Prometheus metrics (prom-client), served as text at GET /metrics. Counters and
 * histograms are fed through the MasterMetrics port as things happen; gauges (agents, frameworks,
 * tasks by state, resources, outstanding offers) are read off the books at scrape time. Each
 * master has its own Registry, so several masters in one process (tests) do not collide.
 * Default Node metrics come along, among them `nodejs_eventloop_lag_seconds`.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TASK_STATES } from '../common/tasks.js';
import { AGENT_STATUS_VIEWS } from '../common/state-view.js';
import { summarizeCluster } from './cluster-summary.js';
import type { MasterView } from './master-view.js';
import type { ClusterEvent, MasterMetrics, StreamKind } from './metrics-port.js';

/** Allocation cycles and registry writes take from tens of microseconds to a second or so. */
const LATENCY_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface PrometheusMetricsOptions {
  /** Also told about every cluster event (the dashboard's event list). */
  onClusterEvent?: (event: ClusterEvent) => void;
  /** Another MasterMetrics to forward every call to (tests pass a recorder). */
  forward?: MasterMetrics;
}

/** A standby's whole /metrics: it has no cluster to report, only that it does not lead. */
export const STANDBY_METRICS = '# HELP orbit_master_leader 1 on the master that leads (an embedded master always does); a standby reports 0.\n# TYPE orbit_master_leader gauge\norbit_master_leader 0\n';

export class PrometheusMetrics implements MasterMetrics {
  readonly registry = new Registry();
  private books: MasterView | undefined;
  private readonly made: Counter;
  private readonly accepted: Counter;
  private readonly declined: Counter;
  private readonly rescinded: Counter;
  private readonly allocation: Histogram;
  private readonly relayed: Counter<'source'>;
  private readonly registryWrites: Histogram;
  private readonly events: Counter<'type'>;
  private readonly streamsCut: Counter<'kind'>;
  private readonly agents: Gauge<'status'>;
  private readonly frameworks: Gauge<'status'>;
  private readonly tasks: Gauge<'state'>;
  private readonly resourcesTotal: Gauge<'resource'>;
  private readonly resourcesUsed: Gauge<'resource'>;
  private readonly resourcesOffered: Gauge<'resource'>;
  private readonly offersOutstanding: Gauge;

  constructor(private readonly options: PrometheusMetricsOptions = {}) {
    const registers = [this.registry];
    // Event-loop delay sampled every 1 ms (prom-client's default, 10 ms, reads about 10 ms on an idle loop).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 1 });
    // These metrics exist only while this master leads (a standby's /metrics is STANDBY_METRICS).
    new Gauge({ name: 'orbit_master_leader', help: '1 on the master that leads (an embedded master always does); a standby reports 0.', registers }).set(1);
    this.made = new Counter({ name: 'orbit_offers_made_total', help: 'Offers sent to frameworks.', registers });
    this.accepted = new Counter({ name: 'orbit_offers_accepted_total', help: 'Offers accepted by frameworks.', registers });
    this.declined = new Counter({ name: 'orbit_offers_declined_total', help: 'Offers declined by frameworks.', registers });
    this.rescinded = new Counter({ name: 'orbit_offers_rescinded_total', help: 'Offers rescinded by the master (timeout, agent lost, drain).', registers });
    this.allocation = new Histogram({ name: 'orbit_allocation_run_seconds', help: 'How long one allocation cycle took.', buckets: LATENCY_BUCKETS_S, registers });
    this.relayed = new Counter({ name: 'orbit_status_updates_relayed_total', help: 'Task status updates relayed to frameworks, by who made them.', labelNames: ['source'], registers });
    this.registryWrites = new Histogram({ name: 'orbit_registry_write_seconds', help: 'Latency of durable registry writes.', buckets: LATENCY_BUCKETS_S, registers });
    this.events = new Counter({ name: 'orbit_cluster_events_total', help: 'Cluster events (agents added and lost, frameworks connected, tasks failed), by type.', labelNames: ['type'], registers });
    this.streamsCut = new Counter({ name: 'orbit_streams_cut_total', help: 'Streams to frameworks and agents cut because they stopped reading and their unsent queue passed the bound, by kind.', labelNames: ['kind'], registers });
    this.agents = new Gauge({ name: 'orbit_agents', help: 'Agents by status.', labelNames: ['status'], registers });
    this.frameworks = new Gauge({ name: 'orbit_frameworks', help: 'Frameworks by status: active (subscribed), disconnected (within failover), removed (kept for display).', labelNames: ['status'], registers });
    this.tasks = new Gauge({ name: 'orbit_tasks', help: "Tasks by state: active ones, and terminal ones still in the frameworks' completed lists.", labelNames: ['state'], registers });
    this.resourcesTotal = new Gauge({ name: 'orbit_resources_total', help: 'Resources of all registered agents, by kind (mem and disk in MiB).', labelNames: ['resource'], registers });
    this.resourcesUsed = new Gauge({ name: 'orbit_resources_used', help: 'Resources held by tasks that have not ended, by kind.', labelNames: ['resource'], registers });
    this.resourcesOffered = new Gauge({ name: 'orbit_resources_offered', help: 'Resources in outstanding offers, by kind.', labelNames: ['resource'], registers });
    this.offersOutstanding = new Gauge({ name: 'orbit_offers_outstanding', help: 'Offers made and not yet accepted, declined or rescinded.', registers });
    for (const source of ['AGENT', 'MASTER']) this.relayed.inc({ source }, 0);
    for (const kind of ['framework', 'agent'] satisfies StreamKind[]) this.streamsCut.inc({ kind }, 0);
  }

  /** Where the scrape-time gauges read from; until called they stay at zero. */
  observe(books: MasterView): void {
    this.books = books;
  }

  offersMade(count: number): void {
    if (count > 0) this.made.inc(count);
    this.options.forward?.offersMade(count);
  }

  offersAccepted(count: number): void {
    if (count > 0) this.accepted.inc(count);
    this.options.forward?.offersAccepted(count);
  }

  offersDeclined(count: number): void {
    if (count > 0) this.declined.inc(count);
    this.options.forward?.offersDeclined(count);
  }

  offersRescinded(count: number): void {
    if (count > 0) this.rescinded.inc(count);
    this.options.forward?.offersRescinded(count);
  }

  allocationRun(ms: number, offers: number): void {
    this.allocation.observe(ms / 1000);
    this.options.forward?.allocationRun(ms, offers);
  }

  statusUpdateRelayed(source: 'AGENT' | 'MASTER'): void {
    this.relayed.inc({ source });
    this.options.forward?.statusUpdateRelayed(source);
  }

  registryWrite(ms: number): void {
    this.registryWrites.observe(ms / 1000);
    this.options.forward?.registryWrite(ms);
  }

  clusterEvent(event: ClusterEvent): void {
    this.events.inc({ type: event.type });
    this.options.onClusterEvent?.(event);
    this.options.forward?.clusterEvent(event);
  }

  streamCut(kind: StreamKind): void {
    this.streamsCut.inc({ kind });
    this.options.forward?.streamCut(kind);
  }

  /** The Prometheus text exposition, with the gauges read off the books now. */
  async text(): Promise<string> {
    this.refreshGauges();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private refreshGauges(): void {
    if (!this.books) return;
    const s = summarizeCluster(this.books);
    for (const status of AGENT_STATUS_VIEWS) this.agents.set({ status }, s.agents[status]);
    this.frameworks.set({ status: 'active' }, s.frameworks.active);
    this.frameworks.set({ status: 'disconnected' }, s.frameworks.disconnected);
    this.frameworks.set({ status: 'removed' }, s.frameworks.removed);
    for (const state of TASK_STATES) this.tasks.set({ state }, s.tasks[state]);
    // Kinds that disappeared (the last agent with gpus left) must not keep their old value.
    for (const gauge of [this.resourcesTotal, this.resourcesUsed, this.resourcesOffered]) gauge.reset();
    for (const [resource, v] of Object.entries(s.resources.total)) this.resourcesTotal.set({ resource }, v);
    for (const [resource, v] of Object.entries(s.resources.used)) this.resourcesUsed.set({ resource }, v);
    for (const [resource, v] of Object.entries(s.resources.offered)) this.resourcesOffered.set({ resource }, v);
    this.offersOutstanding.set(s.offersOutstanding);
  }
}
