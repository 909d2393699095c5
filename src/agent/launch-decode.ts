/**
 * What the agent answers a launch it refuses with. The codec (common/message-codec.ts) checks a
 * run_task with the master's own rules before the agent makes a sandbox or a checkpoint directory
 * from its ids; a launch it refuses becomes one terminal status, TASK_ERROR with reason
 * TASK_INVALID, when its ids are usable, otherwise only a log line (there is nobody to tell).
 */
import { newUpdateUuid } from '../common/ids.js';
import type { TaskStatus } from '../common/tasks.js';

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
