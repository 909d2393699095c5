/**
 * The jobs framework's local HTTP API (127.0.0.1 by default), which `orbit jobs` talks to:
 *
 *   GET    /health                 {status, frameworkId, master}
 *   POST   /v1/jobs                body: a job spec → SubmitOutcome (422 with problems when refused)
 *   GET    /v1/jobs                {jobs: scheduled jobs, master}
 *   POST   /v1/jobs/:id/run        → SubmitOutcome: a run of a scheduled job, now
 *   DELETE /v1/jobs/:id            → {id, unscheduled: true}
 *   GET    /v1/runs                {runs: RunSummary[], master}, newest first
 *   GET    /v1/runs/:id            the Run: every task's state and attempts (task ids, agents, times), and master
 *   POST   /v1/runs/:id/cancel     → the Run
 *
 * `master` is the framework's connection to the master (MasterConnection): while it says
 * disconnected, run and task states are as last known.
 */
import { startApiServer, type RunningApi, type Route } from '../common/api-server.js';
import type { WithConnection } from '../common/master-connection.js';
import type { JobsFramework } from './jobs-framework.js';
import type { JobRecord } from './jobs-state.js';
import type { Run, RunState, RunTaskState } from './run-state.js';

/** The default API port of `orbit jobs serve`. */
export const JOBS_API_PORT = 5061;

/** One line of `runs`. */
export interface RunSummary {
  runId: string;
  jobId: string;
  state: RunState;
  trigger: Run['trigger'];
  createdAt: number;
  endedAt?: number;
  /** How many tasks are in each state. */
  tasks: Partial<Record<RunTaskState, number>>;
}

/** What `GET /v1/runs` answers. */
export type RunListResponse = WithConnection<{ runs: RunSummary[] }>;
/** What `GET /v1/jobs` answers. */
export type JobListResponse = WithConnection<{ jobs: JobRecord[] }>;
/** What `GET /v1/runs/:id` answers. */
export type RunResponse = WithConnection<Run>;

/** A run's line in `GET /v1/runs`. */
export function summarizeRun(run: Run): RunSummary {
  const tasks: Partial<Record<RunTaskState, number>> = {};
  for (const t of run.tasks) tasks[t.state] = (tasks[t.state] ?? 0) + 1;
  return { runId: run.runId, jobId: run.jobId, state: run.state, trigger: run.trigger, createdAt: run.createdAt, ...(run.endedAt !== undefined ? { endedAt: run.endedAt } : {}), tasks };
}

/** The routes of the API, over `fw`. */
export function jobsRoutes(fw: JobsFramework): Route[] {
  return [
    { method: 'GET', path: '/health', handler: () => ({ status: 'ok', frameworkId: fw.id ?? null, master: fw.connection }) },
    { method: 'POST', path: '/v1/jobs', handler: ({ body }) => fw.submit(body) },
    { method: 'GET', path: '/v1/jobs', handler: (): JobListResponse => ({ jobs: fw.scheduled(), master: fw.connection }) },
    { method: 'POST', path: '/v1/jobs/:id/run', handler: ({ params }) => fw.trigger(params['id']!) },
    {
      method: 'DELETE',
      path: '/v1/jobs/:id',
      handler: ({ params }) => {
        fw.unschedule(params['id']!);
        return { id: params['id'], unscheduled: true };
      },
    },
    { method: 'GET', path: '/v1/runs', handler: (): RunListResponse => ({ runs: fw.listRuns().map(summarizeRun), master: fw.connection }) },
    { method: 'GET', path: '/v1/runs/:id', handler: ({ params }): RunResponse => ({ ...fw.run(params['id']!), master: fw.connection }) },
    { method: 'POST', path: '/v1/runs/:id/cancel', handler: ({ params }) => fw.cancel(params['id']!) },
  ];
}

/** Serves the API for `fw` on host:port (port 0: any free one); a handler's fault is logged to the framework's logger. */
export function startJobsApi(fw: JobsFramework, host: string, port: number): Promise<RunningApi> {
  return startApiServer(jobsRoutes(fw), host, port, { log: fw.logger });
}
