/**
 * A job run and its tasks as explicit state machines, pure: status updates, launches, timeouts
 * and cancels go in with `now`; what to launch and what to kill comes out. The jobs framework
 * (jobs-framework.ts) does the I/O.
 */
import { isTerminal, type TaskState, type TaskStatus } from '../../framework-sdk/index.js';
import { retryDelayMs, type JobSpec, type JobTaskSpec } from './job-spec.js';

/**
 * Where a task of a run is.
 * - WAITING: a task it depends on has not succeeded yet.
 * - QUEUED: ready; waits for an offer, a concurrency slot, or its retry backoff (`notBefore`).
 * - LAUNCHED: an attempt is staging or running.
 * - SUCCEEDED: an attempt finished with exit code 0.
 * - FAILED: its last attempt failed and no retry is left.
 * - UPSTREAM_FAILED: a task it depends on, directly or not, failed for good.
 * - CANCELLED: the run was cancelled before the task ended.
 */
export type RunTaskState = 'WAITING' | 'QUEUED' | 'LAUNCHED' | 'SUCCEEDED' | 'FAILED' | 'UPSTREAM_FAILED' | 'CANCELLED';

const ALLOWED_FROM: Record<RunTaskState, readonly RunTaskState[]> = {
  WAITING: [],
  QUEUED: ['WAITING', 'LAUNCHED'],
  LAUNCHED: ['QUEUED'],
  SUCCEEDED: ['LAUNCHED'],
  FAILED: ['LAUNCHED'],
  UPSTREAM_FAILED: ['WAITING'],
  CANCELLED: ['WAITING', 'QUEUED', 'LAUNCHED'],
};

const DONE: ReadonlySet<RunTaskState> = new Set(['SUCCEEDED', 'FAILED', 'UPSTREAM_FAILED', 'CANCELLED']);

/** Where a run is: RUNNING until every task is done, then how it ended. */
export type RunState = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

/** One attempt: one Orbit task. */
export interface Attempt {
  /** 1 for the first attempt. */
  n: number;
  /** The Orbit task id: `RUN.TASK.N`. */
  taskId: string;
  agentId: string;
  hostname: string;
  state: TaskState;
  launchedAt: number;
  startedAt?: number;
  endedAt?: number;
  exitCode?: number;
  reason?: string;
  message: string;
  /** Killed for running past the task's timeout. */
  timedOut?: boolean;
  /** A kill was sent (timeout or cancel). */
  killSentAt?: number;
  /** The launch never reached an agent (DROPPED, or unknown to the master before it started). */
  neverRan?: boolean;
}

export interface RunTask {
  id: string;
  state: RunTaskState;
  attempts: Attempt[];
  /** While QUEUED for a retry: not before this time. */
  notBefore?: number;
  /** Why it ended the way it did (the last attempt's outcome, or the upstream task). */
  message?: string;
  endedAt?: number;
}

export interface Run {
  runId: string;
  jobId: string;
  /** The job as it was when the run started. */
  spec: JobSpec;
  trigger: 'submit' | 'schedule';
  createdAt: number;
  endedAt?: number;
  state: RunState;
  cancelRequested?: boolean;
  tasks: RunTask[];
}

/** The transition is not allowed by the state machine (a bug in the caller). */
export class IllegalRunTransitionError extends Error {
  override readonly name = 'IllegalRunTransitionError';
}

function transition(task: RunTask, to: RunTaskState): void {
  if (!ALLOWED_FROM[to].includes(task.state)) throw new IllegalRunTransitionError(`task ${task.id}: ${task.state} -> ${to}`);
  task.state = to;
}

export const isDone = (t: RunTask): boolean => DONE.has(t.state);

/** The Orbit task id of an attempt. */
export const attemptTaskId = (runId: string, taskId: string, n: number): string => `${runId}.${taskId}.${n}`;

/** A new run: tasks without dependencies are QUEUED, the rest WAITING. */
export function newRun(spec: JobSpec, runId: string, trigger: Run['trigger'], now: number): Run {
  return {
    runId,
    jobId: spec.id,
    spec,
    trigger,
    createdAt: now,
    state: 'RUNNING',
    tasks: spec.tasks.map((t) => ({ id: t.id, state: t.dependsOn.length === 0 ? 'QUEUED' : 'WAITING', attempts: [] })),
  };
}

export function taskSpec(run: Run, taskId: string): JobTaskSpec {
  const spec = run.spec.tasks.find((t) => t.id === taskId);
  if (!spec) throw new Error(`run ${run.runId} has no task '${taskId}'`);
  return spec;
}

/** Attempts that count toward the retries: a launch that never reached an agent does not. */
const countedAttempts = (t: RunTask): number => t.attempts.filter((a) => !a.neverRan).length;

/** QUEUED tasks that may launch now, in spec order, within the run's concurrency limit. */
export function launchable(run: Run, now: number): RunTask[] {
  if (run.state !== 'RUNNING' || run.cancelRequested) return [];
  const running = run.tasks.filter((t) => t.state === 'LAUNCHED').length;
  const room = run.spec.concurrency > 0 ? Math.max(0, run.spec.concurrency - running) : Infinity;
  return run.tasks.filter((t) => t.state === 'QUEUED' && (t.notBefore === undefined || t.notBefore <= now)).slice(0, room === Infinity ? undefined : room);
}

/** Records a launch: the task is LAUNCHED with a new attempt (STAGING); returns the attempt. */
export function recordLaunch(run: Run, taskId: string, where: { agentId: string; hostname: string }, now: number): Attempt {
  const task = run.tasks.find((t) => t.id === taskId)!;
  transition(task, 'LAUNCHED');
  delete task.notBefore;
  const n = task.attempts.length + 1;
  const attempt: Attempt = { n, taskId: attemptTaskId(run.runId, taskId, n), agentId: where.agentId, hostname: where.hostname, state: 'STAGING', launchedAt: now, message: 'launching' };
  task.attempts.push(attempt);
  return attempt;
}

/** The run task and attempt an Orbit task id belongs to, if any. */
export function findAttempt(run: Run, orbitTaskId: string): { task: RunTask; attempt: Attempt } | undefined {
  for (const task of run.tasks) {
    const attempt = task.attempts.find((a) => a.taskId === orbitTaskId);
    if (attempt) return { task, attempt };
  }
  return undefined;
}

/** Marks everything downstream of `failed` that still waits as UPSTREAM_FAILED. */
function failDownstream(run: Run, failed: string, now: number): void {
  const queue = [failed];
  while (queue.length > 0) {
    const id = queue.shift()!;
    for (const t of run.tasks) {
      if (t.state === 'WAITING' && taskSpec(run, t.id).dependsOn.includes(id)) {
        transition(t, 'UPSTREAM_FAILED');
        t.message = `upstream task '${failed}' failed`;
        t.endedAt = now;
        queue.push(t.id);
      }
    }
  }
}

/** Queues every WAITING task whose dependencies have all succeeded. */
function release(run: Run): void {
  const succeeded = new Set(run.tasks.filter((t) => t.state === 'SUCCEEDED').map((t) => t.id));
  for (const t of run.tasks) {
    if (t.state === 'WAITING' && taskSpec(run, t.id).dependsOn.every((d) => succeeded.has(d))) transition(t, 'QUEUED');
  }
}

/** Ends the run once every task is done; returns true when it just ended. */
function settle(run: Run, now: number): boolean {
  if (run.state !== 'RUNNING' || !run.tasks.every(isDone)) return false;
  run.state = run.cancelRequested ? 'CANCELLED' : run.tasks.some((t) => t.state === 'FAILED' || t.state === 'UPSTREAM_FAILED') ? 'FAILED' : 'SUCCEEDED';
  run.endedAt = now;
  return true;
}

/** Why an attempt failed, in a few words. */
function failureMessage(attempt: Attempt, spec: JobTaskSpec, s: TaskStatus): string {
  if (attempt.timedOut) return `timed out after ${spec.timeoutSeconds} s`;
  const code = s.exitCode !== undefined ? ` (exit code ${s.exitCode})` : '';
  return `${s.state}${code}${s.message ? `: ${s.message}` : ''}`;
}

/**
 * Applies a status update of one of the run's attempts. A terminal one decides the task: success
 * releases its dependents; a failure is retried (QUEUED after the backoff) while retries are left,
 * else the task FAILED and its dependents UPSTREAM_FAILED; after a cancel it is CANCELLED. A launch
 * that never reached an agent (DROPPED) is queued again without using a retry. Returns true when
 * anything changed.
 */
export function applyStatus(run: Run, s: TaskStatus, now: number): boolean {
  const found = findAttempt(run, s.taskId);
  if (!found) return false;
  const { task, attempt } = found;
  if (isTerminal(attempt.state)) return false; // already decided (a duplicate or a reconciliation echo)
  attempt.state = s.state;
  if (s.agentId) attempt.agentId = s.agentId;
  if (s.message) attempt.message = s.message;
  if (s.state === 'RUNNING' && attempt.startedAt === undefined) attempt.startedAt = now;
  if (!isTerminal(s.state)) return true;
  attempt.endedAt = now;
  attempt.reason = s.reason;
  if (s.exitCode !== undefined) attempt.exitCode = s.exitCode;
  if (s.state === 'DROPPED' || (s.state === 'LOST' && s.reason === 'TASK_UNKNOWN' && attempt.startedAt === undefined)) attempt.neverRan = true;
  if (task.state !== 'LAUNCHED' || attempt !== task.attempts.at(-1)) return true;
  const spec = taskSpec(run, task.id);
  if (s.state === 'FINISHED') {
    transition(task, 'SUCCEEDED');
    task.message = `finished in attempt ${attempt.n}`;
    task.endedAt = now;
    release(run);
  } else if (run.cancelRequested) {
    transition(task, 'CANCELLED');
    task.message = 'the run was cancelled';
    task.endedAt = now;
  } else if (attempt.neverRan) {
    transition(task, 'QUEUED');
  } else if (countedAttempts(task) <= spec.retries) {
    transition(task, 'QUEUED');
    task.notBefore = now + retryDelayMs(spec, countedAttempts(task) + 1);
    task.message = `attempt ${attempt.n} ${failureMessage(attempt, spec, s)}; retrying`;
  } else {
    transition(task, 'FAILED');
    task.message = `attempt ${attempt.n} ${failureMessage(attempt, spec, s)}`;
    task.endedAt = now;
    failDownstream(run, task.id, now);
  }
  settle(run, now);
  return true;
}

/**
 * Cancels a run: tasks not launched are CANCELLED at once; the attempts returned must be killed
 * (their tasks become CANCELLED when the kill lands). A no-op for a run that has ended.
 */
export function cancelRun(run: Run, now: number): Attempt[] {
  if (run.state !== 'RUNNING') return [];
  run.cancelRequested = true;
  const kill: Attempt[] = [];
  for (const t of run.tasks) {
    if (t.state === 'WAITING' || t.state === 'QUEUED') {
      transition(t, 'CANCELLED');
      t.message = 'the run was cancelled';
      t.endedAt = now;
    } else if (t.state === 'LAUNCHED') {
      const a = t.attempts.at(-1);
      if (a) kill.push(a);
    }
  }
  settle(run, now);
  return kill;
}

/** Attempts running past their task's timeout; each is marked timed out (returned once). */
export function overdue(run: Run, now: number): Attempt[] {
  const out: Attempt[] = [];
  for (const t of run.tasks) {
    if (t.state !== 'LAUNCHED') continue;
    const a = t.attempts.at(-1);
    const limit = taskSpec(run, t.id).timeoutSeconds;
    if (!a || limit === undefined || a.timedOut || a.startedAt === undefined) continue;
    if (now - a.startedAt >= limit * 1000) {
      a.timedOut = true;
      out.push(a);
    }
  }
  return out;
}

/** The attempts of a run whose tasks have not ended (for reconciliation). */
export function liveAttempts(run: Run): Attempt[] {
  return run.tasks.flatMap((t) => t.attempts.filter((a) => !isTerminal(a.state)));
}
