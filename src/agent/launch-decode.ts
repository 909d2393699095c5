/**
 * A run_task command from the master, decoded and checked with the master's own rules (the codec
 * and launchRefusal) before the agent makes a sandbox or a checkpoint directory from its ids. A
 * launch it refuses becomes one terminal status, TASK_ERROR with reason TASK_INVALID, when its ids
 * are usable; otherwise only a log line (there is nobody to tell).
 */
import { frameworkInfoFromProto, launchRefusal, required, taskFromProto } from '../common/codec.js';
import type { FrameworkInfo } from '../common/cluster.js';
import { errorMessage } from '../common/errors.js';
import { newUpdateUuid } from '../common/ids.js';
import { isValidName } from '../common/names.js';
import type { TaskSpec, TaskStatus } from '../common/tasks.js';
import type { RunTask__Output } from '../gen/orbit/v1/RunTask.js';

export type DecodedLaunch =
  | { ok: true; framework: FrameworkInfo; spec: TaskSpec }
  /** The ids are set only when they are valid: a status can name them. */
  | { ok: false; message: string; frameworkId?: string; taskId?: string };

/** Decodes and checks a run_task; never throws. */
export function decodeRunTask(m: RunTask__Output): DecodedLaunch {
  try {
    const framework = frameworkInfoFromProto(required(m.framework, 'run_task.framework'), 'run_task.framework');
    const task = required(m.task, 'run_task.task');
    const spec = taskFromProto(task, 'run_task.task');
    const refusal = launchRefusal(task, 'run_task.task');
    if (refusal === undefined) return { ok: true, framework, spec };
    return { ok: false, message: refusal, frameworkId: framework.id, taskId: spec.taskId };
  } catch (err) {
    const frameworkId = m.framework?.id ?? '';
    const taskId = m.task?.taskId ?? '';
    return {
      ok: false,
      message: errorMessage(err),
      ...(isValidName('framework id', frameworkId) ? { frameworkId } : {}),
      ...(isValidName('task id', taskId) ? { taskId } : {}),
    };
  }
}

/** The one status of a refused launch: terminal, from the agent, to be acknowledged like any other. */
export function refusedLaunchStatus(refused: { frameworkId: string; taskId: string; message: string }, agentId: string, now: number): TaskStatus {
  return {
    taskId: refused.taskId,
    frameworkId: refused.frameworkId,
    agentId,
    state: 'ERROR',
    source: 'AGENT',
    reason: 'TASK_INVALID',
    message: `the agent refused the launch: ${refused.message}`,
    timestamp: now,
    uuid: newUpdateUuid(),
  };
}
