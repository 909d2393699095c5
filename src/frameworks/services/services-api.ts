/**
 * The services framework's local HTTP API (127.0.0.1 by default), which `orbit services` talks to:
 *
 *   GET    /health                 {status, frameworkId, master}
 *   GET    /v1/apps                {apps: AppSummary[], master}
 *   POST   /v1/apps                body: an app spec  → DeployOutcome (422 with problems when refused)
 *   GET    /v1/apps/:id            AppDetails (instances, health, placement, pending reasons) and master
 *   POST   /v1/apps/:id/scale      body: {instances: N} → DeployOutcome
 *   POST   /v1/apps/:id/restart    → DeployOutcome (a rolling restart)
 *   DELETE /v1/apps/:id            → {id, removing: true}
 *
 * `master` is the framework's connection to the master (MasterConnection): while it says
 * disconnected, statuses and health counts are as last known.
 */
import { ApiError, startApiServer, type RunningApi, type Route } from '../common/api-server.js';
import type { WithConnection } from '../common/master-connection.js';
import type { AppDetails, AppSummary } from './app-view.js';
import type { ServicesFramework } from './services-framework.js';

/** The default API port of `orbit services serve`. */
export const SERVICES_API_PORT = 5060;

/** What `GET /v1/apps` answers. */
export type AppListResponse = WithConnection<{ apps: AppSummary[] }>;
/** What `GET /v1/apps/:id` answers. */
export type AppDetailsResponse = WithConnection<AppDetails>;

/** The routes of the API, over `fw`. */
export function servicesRoutes(fw: ServicesFramework): Route[] {
  return [
    { method: 'GET', path: '/health', handler: () => ({ status: 'ok', frameworkId: fw.id ?? null, master: fw.connection }) },
    { method: 'GET', path: '/v1/apps', handler: (): AppListResponse => ({ apps: fw.list(), master: fw.connection }) },
    { method: 'POST', path: '/v1/apps', handler: ({ body }) => fw.deploy(body) },
    { method: 'GET', path: '/v1/apps/:id', handler: ({ params }): AppDetailsResponse => ({ ...fw.show(params['id']!), master: fw.connection }) },
    {
      method: 'POST',
      path: '/v1/apps/:id/scale',
      handler: ({ params, body }) => {
        const n = (body as { instances?: unknown } | undefined)?.instances;
        if (typeof n !== 'number') throw new ApiError(400, 'instances: expected {"instances": N}');
        return fw.scale(params['id']!, n);
      },
    },
    { method: 'POST', path: '/v1/apps/:id/restart', handler: ({ params }) => fw.restart(params['id']!) },
    {
      method: 'DELETE',
      path: '/v1/apps/:id',
      handler: ({ params }) => {
        fw.remove(params['id']!);
        return { id: params['id'], removing: true };
      },
    },
  ];
}

/** Serves the API for `fw` on host:port (port 0: any free one); a handler's fault is logged to the framework's logger. */
export function startServicesApi(fw: ServicesFramework, host: string, port: number): Promise<RunningApi> {
  return startApiServer(servicesRoutes(fw), host, port, { log: fw.logger });
}
