/**
 * What `orbit status --json` prints: Operator.GetState's ClusterState decoded into exactly the
 * JSON the master's GET /state serves (src/common/state-view.ts: resources and attributes in text
 * form, task states without `TASK_`, times in ms). The decoding itself is shared with the master
 * in src/common/state-codec.ts, so the two cannot drift apart.
 */
import type { AgentSummary__Output } from '../gen/orbit/v1/AgentSummary.js';
import type { ClusterState__Output } from '../gen/orbit/v1/ClusterState.js';
import type { TaskSummary__Output } from '../gen/orbit/v1/TaskSummary.js';
import { decodeAgentView, decodeStateView, decodeTaskView } from '../common/state-codec.js';
import type { AgentView, ClusterStateView, TaskView } from '../common/state-view.js';

/** The ClusterState as the plain GET /state view; throws InvalidArgumentError for a resource that does not decode. */
export function clusterStateToJson(m: ClusterState__Output): ClusterStateView {
  return decodeStateView(m);
}

/** Operator.GetAgents' list as the agents of GET /state (decoded by the same codec). */
export function agentsToJson(agents: AgentSummary__Output[]): AgentView[] {
  return agents.map(decodeAgentView);
}

/** Operator.GetTasks' list as the tasks of GET /state. */
export function tasksToJson(tasks: TaskSummary__Output[]): TaskView[] {
  return tasks.map(decodeTaskView);
}
