/**
 * Decodes a task an agent reports on re-registration (AgentTask). What the master acts on (the
 * task, its framework, its latest status) is checked as strictly as anywhere: a bad one refuses
 * the re-registration, naming the field. What it only shows (start times, recent statuses) is
 * taken leniently: a time that is not one is left out, a history longer than TASK_STATUS_HISTORY
 * keeps its newest entries (only those are decoded), and an entry that does not decode is left
 * out, each with a problem for the log. Clock checks need the master's clock: reported-task.ts.
 */
import { optionalTimeMs, required, statusFromProto, taskFromProto } from '../../common/codec.js';
import { errorMessage } from '../../common/errors.js';
import { checkName } from '../../common/names.js';
import { TASK_STATUS_HISTORY, type TaskStatus } from '../../common/tasks.js';
import type { AgentTask__Output } from '../../gen/orbit/v1/AgentTask.js';
import type { ReportedTask } from '../reported-task.js';

/** A reported task; `at` names it in errors and problems (`reregister.tasks[3]`). */
export function reportedTaskFromProto(t: AgentTask__Output, at: string): ReportedTask {
  const problems: string[] = [];
  const spec = taskFromProto(required(t.task, `${at}.task`), `${at}.task`);
  const frameworkId = checkName('framework id', t.frameworkId, `${at}.framework_id`);
  const latest = statusFromProto(required(t.latestStatus, `${at}.latest_status`), `${at}.latest_status`);
  const acceptedAt = optionalTimeMs(t.acceptedAt, `${at}.accepted_at`, problems);
  const startedAt = optionalTimeMs(t.startedAt, `${at}.started_at`, problems);
  const skipped = Math.max(0, t.history.length - TASK_STATUS_HISTORY);
  if (skipped > 0) problems.push(`${at}.history has ${t.history.length} statuses, more than ${TASK_STATUS_HISTORY}; the newest ${TASK_STATUS_HISTORY} are kept`);
  const history: TaskStatus[] = [];
  for (let i = skipped; i < t.history.length; i++) {
    try {
      history.push(statusFromProto(t.history[i]!, `${at}.history[${i}]`));
    } catch (err) {
      problems.push(`${errorMessage(err)}; left out`);
    }
  }
  return {
    spec,
    frameworkId,
    latest,
    ...(acceptedAt !== undefined ? { acceptedAt } : {}),
    ...(startedAt !== undefined ? { startedAt } : {}),
    history,
    problems,
  };
}
