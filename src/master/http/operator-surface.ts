/**
 * The master's operator surface, composed: Prometheus metrics (the core reports through them),
 * the utilisation history sampled every few seconds, the recent-events list, the dashboard's
 * stream and the HTTP routes that serve them all. master.ts makes one, hands `metrics` to the
 * core, then `attach`es the core to get the routes.
 */
import type { Clock, TimerHandle } from '../../common/clock.js';
import { summarizeCluster } from '../cluster-summary.js';
import type { MasterCore } from '../core.js';
import { ClusterHistory, sampleOf } from '../history.js';
import type { MasterMetrics } from '../metrics-port.js';
import type { MasterPeerView } from '../../common/state-view.js';
import { PrometheusMetrics } from '../metrics.js';
import { clusterStateJson, ORBIT_VERSION } from '../state-view.js';
import { dashboardRoutes } from './dashboard-assets.js';
import { dashboardSnapshot } from './dashboard-feed.js';
import { DashboardStream } from './dashboard-stream.js';
import type { Routes } from './router.js';
import { statusRoutes } from './status-server.js';

export interface OperatorSurfaceOptions {
  clock: Clock;
  /** Another MasterMetrics the core's reports also go to. */
  forward?: MasterMetrics;
  /** How often utilisation is sampled (default 5 s; an hour of samples is kept). */
  historySampleMs?: number;
  /** How often the dashboard's stream sends (default 1 s). */
  streamIntervalMs?: number;
}

export class OperatorSurface {
  readonly history: ClusterHistory;
  readonly metrics: PrometheusMetrics;
  private readonly clock: Clock;
  private readonly streamIntervalMs: number | undefined;
  private sampler: TimerHandle | undefined;
  private stream: DashboardStream | undefined;

  constructor(options: OperatorSurfaceOptions) {
    this.clock = options.clock;
    this.streamIntervalMs = options.streamIntervalMs;
    this.history = new ClusterHistory(options.historySampleMs !== undefined ? { sampleIntervalMs: options.historySampleMs } : {});
    this.metrics = new PrometheusMetrics({
      onClusterEvent: (event) => void this.history.addEvent(event),
      ...(options.forward ? { forward: options.forward } : {}),
    });
  }

  /** Starts sampling and streaming from `core` and returns the HTTP routes; `masters` lists the cluster's masters. Call once. */
  attach(core: MasterCore, masters: () => MasterPeerView[] = () => []): Routes {
    const view = core.view;
    this.metrics.observe(view);
    const sample = (): void => this.history.addSample(sampleOf(summarizeCluster(view), this.clock.now()));
    sample();
    this.sampler = this.clock.setRepeating(this.history.sampleIntervalMs, sample);
    this.stream = new DashboardStream(() => dashboardSnapshot(view, this.history, { version: ORBIT_VERSION, now: this.clock.now(), masters: masters() }), this.clock, this.streamIntervalMs);
    this.stream.start();
    return statusRoutes({
      stateJson: () => clusterStateJson(view, undefined, masters()),
      metrics: this.metrics,
      history: this.history,
      dashboard: dashboardRoutes(),
      stream: this.stream.handle,
    });
  }

  /** Stops sampling and ends the dashboard streams. Idempotent. */
  stop(): void {
    this.sampler?.cancel();
    this.sampler = undefined;
    this.stream?.stop();
  }
}
