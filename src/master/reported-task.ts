/**
 * A task an agent reports when it re-registers, and what a master that did not hold it (it
 * restarted, or another master was leading) takes from the report, so that nothing a user sees
 * about the task changes: when the launch was accepted, its recent statuses and its health. The
 * agent reports the tasks it runs and those that ended with their updates not all acknowledged
 * (the master keeps these among the ended tasks); the facts are taken the same way for both.
 *
 * The report is hostile input. The codec (rpc/reported-task-codec.ts) has left out what does not
 * decode; here, with the master's clock, a time further ahead than REPORTED_TIME_SKEW_MS becomes
 * now, statuses that are not the task's or repeat one are left out, and the latest status closes
 * the history. Each such repair is a problem for the log, never a refusal: a cosmetic fault must
 * not cost an agent its place. Pure: the caller passes `now`.
 */
import { TASK_STATUS_HISTORY, type TaskSpec, type TaskStatus } from '../common/tasks.js';

/** How far ahead of the master's clock a reported time may be (clocks of two machines differ) before it is taken as now. */
export const REPORTED_TIME_SKEW_MS = 60_000;

/** A task an agent reports when it re-registers. */
export interface ReportedTask {
  spec: TaskSpec;
  frameworkId: string;
  latest: TaskStatus;
  /** When the master accepted the launch (ms, a master's clock), as the agent was told; absent from older agents. */
  acceptedAt?: number;
  /** When the agent launched it (ms, the agent's clock). */
  startedAt?: number;
  /** Its recent statuses, oldest first, at most TASK_STATUS_HISTORY (none from older agents). */
  history?: TaskStatus[];
  /** What the codec left out of the report, for the log (none when absent). */
  problems?: string[];
}

/** What the master's task record takes from a report. */
export interface RestoredTaskFacts {
  createdAt: number;
  /** Oldest first, the latest status last, at most TASK_STATUS_HISTORY. */
  statuses: TaskStatus[];
  healthy?: boolean;
  /** Every repair made, each naming the task (with the codec's problems). */
  problems: string[];
}

/** The record's facts from a report: see the file comment. */
export function restoredFacts(reported: ReportedTask, agentId: string, now: number): RestoredTaskFacts {
  const { spec, frameworkId, latest } = reported;
  const problems = reported.problems?.slice() ?? [];
  const what = `task '${spec.taskId}' of framework '${frameworkId}'`;
  const notAhead = (ms: number, field: string): number => {
    if (ms <= now + REPORTED_TIME_SKEW_MS) return ms;
    problems.push(`${what}: ${field} ${new Date(ms).toISOString()} is ahead of the master's clock by more than ${REPORTED_TIME_SKEW_MS / 1000} s; taken as now`);
    return now;
  };

  // The latest status decides the task's state, so the history ends with it (it normally does).
  const all = reported.history ?? [];
  if (all.length > TASK_STATUS_HISTORY) problems.push(`${what}: its history has ${all.length} statuses, more than ${TASK_STATUS_HISTORY}; the newest are kept`);
  const reportedHistory = all.slice(-TASK_STATUS_HISTORY);
  const latestAt = latest.uuid ? reportedHistory.findIndex((s) => s.uuid === latest.uuid) : -1;
  const endsWithLatest = latestAt >= 0 && latestAt === reportedHistory.length - 1;
  if (!endsWithLatest) {
    if (latestAt >= 0) {
      problems.push(`${what}: the latest status (update ${latest.uuid}) is not the last of its history; moved there`);
      reportedHistory.splice(latestAt, 1);
    }
    if (!sameStatus(reportedHistory.at(-1), latest)) reportedHistory.push(latest);
  }

  const statuses: TaskStatus[] = [];
  const uuids = new Set<string>();
  for (const s of reportedHistory.slice(-TASK_STATUS_HISTORY)) {
    const update = `update ${s.uuid || `(no uuid) ${s.state}`}`;
    if (s.taskId !== spec.taskId || s.frameworkId !== frameworkId) {
      problems.push(`${what}: its history holds ${update} of task '${s.taskId}' of framework '${s.frameworkId}'; left out`);
      continue;
    }
    if (s.uuid && uuids.has(s.uuid)) {
      problems.push(`${what}: its history repeats ${update}; left out`);
      continue;
    }
    if (s.uuid) uuids.add(s.uuid);
    statuses.push({ ...s, agentId, timestamp: notAhead(s.timestamp, `the time of ${update}`) });
  }

  const reportedStart = reported.acceptedAt ?? reported.startedAt;
  const createdAt =
    reportedStart !== undefined ? notAhead(reportedStart, reported.acceptedAt !== undefined ? 'accepted_at' : 'started_at') : (statuses[0]?.timestamp ?? now);
  return { createdAt, statuses, ...(latest.healthy !== undefined ? { healthy: latest.healthy } : {}), problems };
}

/** The same status: the same update (uuid), or for statuses without one, the same state, time and message. */
function sameStatus(a: TaskStatus | undefined, b: TaskStatus): boolean {
  if (a === undefined) return false;
  if (a.uuid || b.uuid) return a.uuid === b.uuid;
  return a.state === b.state && a.timestamp === b.timestamp && a.message === b.message;
}
