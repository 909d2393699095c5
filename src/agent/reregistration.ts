/**
 * The re-registration an agent sends, cut into messages that each stay well under the master's
 * receive limit (4 MiB by default): a task may be hundreds of KB (long commands, environments,
 * labels), and an agent that could not re-register would lose its place in the cluster for good.
 * Every message carries the agent's info and the frameworks of its own tasks; all but the last
 * say `more_tasks`, and the master re-registers the agent when the last arrives.
 */
import type { AgentInfo as AgentInfoMsg } from '../gen/orbit/v1/AgentInfo.js';
import type { AgentMessage } from '../gen/orbit/v1/AgentMessage.js';
import type { AgentTask as AgentTaskMsg } from '../gen/orbit/v1/AgentTask.js';
import type { FrameworkInfo as FrameworkInfoMsg } from '../gen/orbit/v1/FrameworkInfo.js';

/** Tasks go in one message until their JSON text, in UTF-8 bytes (more than their protobuf encoding), passes this. */
export const REREGISTER_MESSAGE_BUDGET_BYTES = 1024 * 1024;

/** The re-registration as one message, or several when its tasks do not fit one budget. */
export function reregistrationMessages(
  info: AgentInfoMsg,
  version: string,
  tasks: readonly AgentTaskMsg[],
  frameworks: ReadonlyMap<string, FrameworkInfoMsg>,
  budgetBytes = REREGISTER_MESSAGE_BUDGET_BYTES,
): AgentMessage[] {
  const chunks: AgentTaskMsg[][] = [[]];
  let used = 0;
  for (const task of tasks) {
    const size = Buffer.byteLength(JSON.stringify(task), 'utf8');
    if (used + size > budgetBytes && chunks.at(-1)!.length > 0) {
      chunks.push([]);
      used = 0;
    }
    chunks.at(-1)!.push(task);
    used += size;
  }
  return chunks.map((chunk, i) => {
    const ids = new Set(chunk.map((t) => t.frameworkId ?? ''));
    return {
      reregister: {
        info,
        version,
        tasks: chunk,
        frameworks: [...frameworks].filter(([id]) => ids.has(id)).map(([, f]) => f),
        moreTasks: i < chunks.length - 1,
      },
    };
  });
}
