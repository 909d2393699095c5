/**
 * The master's HTTP endpoint for operators:
 * - GET /health, GET /state (JSON, the shape of src/common/state-view.ts);
 * - GET /metrics (Prometheus text);
 * - GET /history (utilisation samples over the last hour; `?since=MS` for newer ones only);
 * - GET /events (recent cluster events, newest first; `?limit=N`);
 * - GET / (the dashboard) and its files, GET /stream (its server-sent events).
 * Anything else is a JSON 404 (or 405 for another method), so scripts always get JSON back.
 */
import type { RequestTarget } from '../../common/http-request.js';
import type { ClusterHistory } from '../history.js';
import { jsonRoute, textRoute, type Handler, type Routes } from './router.js';
import { batchedJsonRoute } from './state-endpoint.js';

export { createRouter, type Routes } from './router.js';

export interface StatusSources {
  /** The /state body, JSON in UTF-8 (clusterStateJson); concurrent requests share one build. */
  stateJson: () => Promise<Buffer>;
  metrics: { text(): Promise<string>; readonly contentType: string };
  history: ClusterHistory;
  /** The dashboard's page and files. */
  dashboard: Routes;
  stream: Handler;
}

/** A non-negative integer query parameter, or the fallback when absent or malformed. */
function intParam(url: RequestTarget, name: string, fallback: number): number {
  const n = Number(url.searchParams.get(name) ?? '');
  return url.searchParams.has(name) && Number.isInteger(n) && n >= 0 ? n : fallback;
}

export function statusRoutes(s: StatusSources): Routes {
  return {
    ...s.dashboard,
    '/health': jsonRoute(() => ({ status: 'ok' })),
    '/state': batchedJsonRoute(s.stateJson),
    '/metrics': textRoute(s.metrics.contentType, () => s.metrics.text()),
    '/history': jsonRoute((url) => ({ intervalMs: s.history.sampleIntervalMs, samples: s.history.samplesSince(intParam(url, 'since', 0)) })),
    '/events': jsonRoute((url) => ({ total: s.history.eventCount, events: s.history.events(intParam(url, 'limit', 100)) })),
    '/stream': s.stream,
  };
}
