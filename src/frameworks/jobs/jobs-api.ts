/**
 * The jobs framework's local HTTP API (127.0.0.1 by default), which `orbit jobs` talks to:
 *
 *   GET    /health                 {status, frameworkId}
 *   POST   /v1/jobs                body: a job spec → SubmitOutcome (422 with problems when refused)
 *   GET    /v1/jobs                {jobs: scheduled jobs}
 *   POST   /v1/jobs/:id/run        → SubmitOutcome: a run of a scheduled job, now
 *   DELETE /v1/jobs/:id            → {id, unscheduled: true}
 *   GET    /v1/runs                {runs: RunSummary[]}, newest first
 *   GET    /v1/runs/:id            the Run: every task's state and attempts (task ids, agents, times)
 *   POST   /v1/runs/:id/cancel     → the Run
 */
import { startApiServer, type RunningApi, type Route } from '../common/api-server.js';
import type { JobsFramework } from './jobs-framework.js';
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

export function summarizeRun(run: Run): RunSummary {
  const tasks: Partial<Record<RunTaskState, number>> = {};
  for (const t of run.tasks) tasks[t.state] = (tasks[t.state] ?? 0) + 1;
  return { runId: run.runId, jobId: run.jobId, state: run.state, trigger: run.trigger, createdAt: run.createdAt, ...(run.endedAt !== undefined ? { endedAt: run.endedAt } : {}), tasks };
}

export function jobsRoutes(fw: JobsFramework): Route[] {
  return [
    { method: 'GET', path: '/health', handler: () => ({ status: 'ok', frameworkId: fw.id ?? null }) },
    { method: 'POST', path: '/v1/jobs', handler: ({ body }) => fw.submit(body) },
    { method: 'GET', path: '/v1/jobs', handler: () => ({ jobs: fw.scheduled() }) },
    { method: 'POST', path: '/v1/jobs/:id/run', handler: ({ params }) => fw.trigger(params['id']!) },
    {
      method: 'DELETE',
      path: '/v1/jobs/:id',
      handler: ({ params }) => {
        fw.unschedule(params['id']!);
        return { id: params['id'], unscheduled: true };
      },
    },
    { method: 'GET', path: '/v1/runs', handler: () => ({ runs: fw.listRuns().map(summarizeRun) }) },
    { method: 'GET', path: '/v1/runs/:id', handler: ({ params }) => fw.run(params['id']!) },
    { method: 'POST', path: '/v1/runs/:id/cancel', handler: ({ params }) => fw.cancel(params['id']!) },
  ];
}

/** Serves the API for `fw` on host:port (port 0: any free one); a handler's fault is logged to the framework's logger. */
export function startJobsApi(fw: JobsFramework, host: string, port: number): Promise<RunningApi> {
  return startApiServer(jobsRoutes(fw), host, port, { log: fw.logger });
}
