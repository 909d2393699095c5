/**
 * `orbit jobs ...`: the jobs framework (DAG pipelines, retries, timeouts, cron). `serve` runs the
 * framework process, which keeps its state in --state-dir and answers a local HTTP API; the other
 * subcommands talk to that API (--api, default $ORBIT_JOBS_API or 127.0.0.1:5061). `logs` also asks
 * the master where the attempt ran and reads its output from that agent, as `orbit run` does.
 */
import { Option, type Command } from 'commander';
import { ApiClient } from '../frameworks/common/api-client.js';
import { apiBase, readSpecFile, userErrors, waitFor } from '../frameworks/common/cli-support.js';
import { processIo, shortDuration, table, type CommandIo } from '../frameworks/common/command-io.js';
import { disconnectedNotice, type MasterConnection } from '../frameworks/common/master-connection.js';
import { JOBS_API_PORT, startJobsApi, type JobListResponse, type RunListResponse, type RunResponse, type RunSummary } from '../frameworks/jobs/jobs-api.js';
import { JobsFramework, type SubmitOutcome } from '../frameworks/jobs/jobs-framework.js';
import type { JobRecord } from '../frameworks/jobs/jobs-state.js';
import type { Run, RunTask } from '../frameworks/jobs/run-state.js';
import { serveFramework, type ServeFlags, type ServeSpec } from './serve-framework.js';
import { logLevelOption, masterOption, numberFlag, resolveMaster, UsageError } from './common.js';
import { fetchAgents } from './operator-call.js';
import { TaskOutput } from './task-output.js';
import { agentBaseUrl } from './agent-http.js';

const DEFAULT_API = `127.0.0.1:${JOBS_API_PORT}`;
const usage = (message: string) => new UsageError(message);

interface ApiFlags {
  api?: string;
}

function apiOption(): Option {
  return new Option('--api <host:port>', `the jobs framework's API (default: $ORBIT_JOBS_API or ${DEFAULT_API})`);
}

function client(flags: ApiFlags): ApiClient {
  const value = flags.api ?? process.env['ORBIT_JOBS_API'] ?? DEFAULT_API;
  return new ApiClient(apiBase(value, flags.api ? '--api' : process.env['ORBIT_JOBS_API'] ? '$ORBIT_JOBS_API' : '--api', usage), 'the jobs framework (orbit jobs serve)');
}

const time = (ms: number | undefined): string => (ms === undefined ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19));

/** How long a task has taken: from its first launch to its end (or now). */
export function taskDuration(t: RunTask, now = Date.now()): number | undefined {
  const first = t.attempts[0];
  if (!first) return undefined;
  const last = t.attempts.at(-1)!;
  return (t.endedAt ?? last.endedAt ?? now) - first.launchedAt;
}

/**
 * The `runs` table (and the scheduled jobs above it, with any fire held until the framework learns
 * whether the previous run has ended). While the framework is disconnected from the master
 * (`master`), a warning comes first: states are as last known.
 */
export function formatRuns(runs: RunSummary[], jobs: JobRecord[] = [], master?: MasterConnection, now = Date.now()): string {
  const lines: string[] = [];
  const notice = disconnectedNotice(master, now);
  if (notice) lines.push(notice.trimEnd());
  if (jobs.length > 0) {
    lines.push(table(['SCHEDULED JOB', 'SCHEDULE', 'NEXT RUN', 'LAST RUN'], jobs.map((j) => [j.spec.id, j.spec.schedule ?? '-', time(j.nextRunAt), j.lastRunId ?? '-'])));
    for (const j of jobs) {
      if (j.heldFireAt !== undefined) lines.push(`${j.spec.id}: the run due at ${time(j.heldFireAt)} is held until the master says whether ${j.lastRunId ?? 'the previous run'} has ended`);
    }
    lines.push('');
  }
  if (runs.length === 0) lines.push('no runs');
  else {
    const rows = runs.map((r) => [
      r.runId,
      r.jobId,
      r.state,
      Object.entries(r.tasks).map(([state, n]) => `${n} ${state.toLowerCase()}`).join(', '),
      time(r.createdAt),
      r.endedAt !== undefined ? shortDuration(r.endedAt - r.createdAt) : '-',
    ]);
    lines.push(table(['RUN', 'JOB', 'STATE', 'TASKS', 'STARTED', 'TOOK'], rows));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The `status` text: the run, then each task's state, attempts, duration, where, and why. While
 * the framework is disconnected from the master, a warning comes first: states are as last known.
 */
export function formatRun(run: Run & { master?: MasterConnection }, now = Date.now()): string {
  const head = `${disconnectedNotice(run.master, now)}run ${run.runId} of job ${run.jobId}: ${run.state}${run.cancelRequested && run.state === 'RUNNING' ? ' (cancelling)' : ''}, started ${time(run.createdAt)}${run.endedAt !== undefined ? `, took ${shortDuration(run.endedAt - run.createdAt)}` : ''}`;
  const rows = run.tasks.map((t) => {
    const spec = run.spec.tasks.find((s) => s.id === t.id);
    const last = t.attempts.at(-1);
    const waitingFor = t.state === 'WAITING' ? `waits for ${(spec?.dependsOn ?? []).join(', ')}` : '';
    const backoff = t.state === 'QUEUED' && t.notBefore !== undefined && t.notBefore > now ? ` (next attempt in ${shortDuration(t.notBefore - now)})` : '';
    return [
      t.id,
      t.state,
      `${t.attempts.length}/${(spec?.retries ?? 0) + 1}`,
      shortDuration(taskDuration(t, now)),
      last ? last.hostname : '-',
      `${t.message ?? waitingFor}${backoff}`,
    ];
  });
  return `${head}\n${table(['TASK', 'STATE', 'ATTEMPTS', 'DURATION', 'HOST', 'MESSAGE'], rows)}\n`;
}

/** The master address from --master, $ORBIT_MASTER or the default; a bad one is a UsageError. */
function masterFrom(flag: string | undefined): string {
  try {
    return resolveMaster(flag);
  } catch (err) {
    throw usage((err as Error).message);
  }
}

/** The jobs server, served the way every framework server is (serve-framework.ts). */
const SERVE: ServeSpec<JobsFramework> = {
  kind: 'jobs',
  keeps: 'jobs and runs',
  create: (options) => new JobsFramework(options),
  startApi: startJobsApi,
};

/** Prints an attempt's stdout (to out) and stderr (to err) from its agent. */
async function printLogs(master: string, run: Run, taskId: string, attemptNo: number | undefined, io: CommandIo): Promise<void> {
  const task = run.tasks.find((t) => t.id === taskId);
  if (!task) throw usage(`run ${run.runId} has no task '${taskId}' (tasks: ${run.tasks.map((t) => t.id).join(', ')})`);
  if (task.attempts.length === 0) throw usage(`task '${taskId}' of run ${run.runId} has not been launched yet (${task.state})`);
  const attempt = attemptNo === undefined ? task.attempts.at(-1)! : task.attempts.find((a) => a.n === attemptNo);
  if (!attempt) throw usage(`task '${taskId}' has no attempt ${attemptNo} (it has ${task.attempts.length})`);
  const agents = await fetchAgents(master);
  const agent = agents.find((a) => a.id === attempt.agentId);
  if (!agent || !agent.httpPort) throw usage(`the master does not know agent ${attempt.agentId}, where ${attempt.taskId} ran`);
  const host = agent.address || agent.hostname;
  const decoders = { out: new TextDecoder(), err: new TextDecoder() };
  const output = new TaskOutput({
    agentUrl: agentBaseUrl(host, agent.httpPort),
    taskId: attempt.taskId,
    stdout: { write: (b: Uint8Array) => io.out(decoders.out.decode(b, { stream: true })) },
    stderr: { write: (b: Uint8Array) => io.err(decoders.err.decode(b, { stream: true })) },
  });
  await output.drain();
}

/** Adds `orbit jobs serve|submit|runs|status|logs|cancel|trigger|unschedule`. */
export function registerJobsCommand(program: Command, io: CommandIo = processIo): void {
  const jobs = program.command('jobs').description('batch pipelines: DAGs of tasks with retries, timeouts and cron schedules');

  jobs
    .command('serve')
    .description('run the jobs framework: subscribes to the master and serves the local API the other subcommands use')
    .addOption(masterOption())
    .option('--state-dir <dir>', 'where jobs, runs and the framework id are kept (required)')
    .option('--api-host <host>', 'address the API listens on', '127.0.0.1')
    .option('--api-port <port>', 'port the API listens on (0: any free one)', numberFlag('--api-port', { integer: true }), JOBS_API_PORT)
    .option('--name <name>', 'the framework name', 'orbit-jobs')
    .option('--role <role>', 'the role to subscribe with', '*')
    .option('--failover-timeout <seconds>', 'how long the master keeps attempts running while this process is away (default: a week)', numberFlag('--failover-timeout'))
    .addOption(logLevelOption())
    .action((flags: ServeFlags) => serveFramework(SERVE, flags, io));

  jobs
    .command('submit')
    .description('run a job (a JSON DAG spec) now and print its run id; a job with a schedule is scheduled instead')
    .argument('<file>', 'the job spec (JSON)')
    .addOption(apiOption())
    .option('--wait', 'wait for the run to end, print its status, and exit 1 unless it succeeded')
    .option('--timeout <seconds>', 'with --wait: give up after this long', numberFlag('--timeout'), 600)
    .action(async (file: string, flags: ApiFlags & { wait?: boolean; timeout: number }) => {
      const spec = readSpecFile(file, usage);
      const api = client(flags);
      const o = await userErrors(() => api.post<SubmitOutcome>('/v1/jobs', spec), usage, `${file}: `);
      if (!o.runId) {
        io.out(`${o.jobId}: scheduled '${o.schedule}', next run at ${time(o.nextRunAt)}\n`);
        return;
      }
      io.out(`${o.runId}\n`);
      if (!flags.wait) return;
      const run = await userErrors(
        () => waitFor(async () => {
          const r = await api.get<RunResponse>(`/v1/runs/${encodeURIComponent(o.runId!)}`);
          return r.state === 'RUNNING' ? undefined : r;
        }, flags.timeout * 1000),
        usage,
      );
      if (!run) throw usage(`run ${o.runId} has not ended after ${flags.timeout} s (see: orbit jobs status ${o.runId})`);
      io.out(formatRun(run));
      if (run.state !== 'SUCCEEDED') throw usage(`run ${run.runId} ${run.state}`);
    });

  jobs
    .command('runs')
    .description('the runs kept, newest first, and the scheduled jobs')
    .addOption(apiOption())
    .option('--json', 'print {runs, jobs, master} from the API')
    .action(async (flags: ApiFlags & { json?: boolean }) => {
      const api = client(flags);
      const [{ runs }, { jobs: scheduled, master }] = await userErrors(() => Promise.all([api.get<RunListResponse>('/v1/runs'), api.get<JobListResponse>('/v1/jobs')]), usage);
      io.out(flags.json ? `${JSON.stringify({ runs, jobs: scheduled, master }, null, 2)}\n` : formatRuns(runs, scheduled, master));
    });

  jobs
    .command('status')
    .description("a run: each task's state, attempts and duration")
    .argument('<run-id>', 'the run id')
    .addOption(apiOption())
    .option('--json', 'print the JSON the API returns')
    .action(async (runId: string, flags: ApiFlags & { json?: boolean }) => {
      const run = await userErrors(() => client(flags).get<RunResponse>(`/v1/runs/${encodeURIComponent(runId)}`), usage);
      io.out(flags.json ? `${JSON.stringify(run, null, 2)}\n` : formatRun(run));
    });

  jobs
    .command('logs')
    .description("a task's output in a run (its last attempt unless --attempt): stdout to stdout, stderr to stderr")
    .argument('<run-id>', 'the run id')
    .argument('<task>', 'the task id in the job')
    .addOption(apiOption())
    .addOption(masterOption())
    .option('--attempt <n>', 'which attempt (1 is the first)', numberFlag('--attempt', { min: 1, integer: true }))
    .action(async (runId: string, taskId: string, flags: ApiFlags & { master?: string; attempt?: number }) => {
      const master = masterFrom(flags.master);
      const run = await userErrors(() => client(flags).get<Run>(`/v1/runs/${encodeURIComponent(runId)}`), usage);
      await printLogs(master, run, taskId, flags.attempt, io);
    });

  jobs
    .command('cancel')
    .description('cancel a run: tasks not started never start, running ones are killed')
    .argument('<run-id>', 'the run id')
    .addOption(apiOption())
    .action(async (runId: string, flags: ApiFlags) => {
      const run = await userErrors(() => client(flags).post<Run>(`/v1/runs/${encodeURIComponent(runId)}/cancel`), usage);
      io.out(`${run.runId}: ${run.state === 'RUNNING' ? 'cancelling (running tasks are being killed)' : run.state}\n`);
    });

  jobs
    .command('trigger')
    .description('start a run of a scheduled job now and print its run id')
    .argument('<job-id>', 'the job id')
    .addOption(apiOption())
    .action(async (jobId: string, flags: ApiFlags) => {
      const o = await userErrors(() => client(flags).post<SubmitOutcome>(`/v1/jobs/${encodeURIComponent(jobId)}/run`), usage);
      io.out(`${o.runId}\n`);
    });

  jobs
    .command('unschedule')
    .description("stop a job's schedule (its runs go on)")
    .argument('<job-id>', 'the job id')
    .addOption(apiOption())
    .action(async (jobId: string, flags: ApiFlags) => {
      await userErrors(() => client(flags).delete(`/v1/jobs/${encodeURIComponent(jobId)}`), usage);
      io.out(`${jobId}: unscheduled\n`);
    });
}
