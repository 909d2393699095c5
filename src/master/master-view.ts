/**
 * What the master's readers (GET /state, the Operator service, the dashboard, metrics, history)
 * may see of its books: narrow queries over records, never the books themselves.
 */
import type { Resources } from '../common/resources.js';
import type { TaskStatus } from '../common/tasks.js';
import type { AgentStatusView } from '../common/state-view.js';
import type { RoleExplanation } from './allocator/explain.js';
import type { ExpectedAgent } from './agents.js';
import type { Quota } from './allocator/quota-stage.js';
import type { AgentRecord, FrameworkRecord, OfferRecord, TaskRecord } from './records.js';
import type { Scalars } from '../common/scalars.js';

export interface RoleSummary {
  role: string;
  weight: number;
  quota: Quota | undefined;
  allocated: Scalars;
  share: number;
  explanation: RoleExplanation;
}

export interface MasterView {
  readonly masterId: string;
  readonly epoch: number;
  readonly startedAt: number;
  agents(): Iterable<AgentRecord>;
  agent(id: string): AgentRecord | undefined;
  agentCount(): number;
  /** The status operators see: active, disconnected, unreachable, draining or drained. */
  agentStatus(agent: AgentRecord): AgentStatusView;
  usedOn(agentId: string): Resources;
  offeredOn(agentId: string): Resources;
  /** How many active tasks the agent has. */
  tasksOn(agentId: string): number;
  /** The agent's active tasks. */
  tasksOnAgent(agentId: string): Iterable<TaskRecord>;
  /** Ids of the agent's outstanding offers. */
  offerIdsOn(agentId: string): string[];
  frameworks(): Iterable<FrameworkRecord>;
  framework(id: string): FrameworkRecord | undefined;
  /** Removed frameworks kept for operators, oldest first. */
  removedFrameworks(): readonly FrameworkRecord[];
  /** A framework's active tasks. */
  tasksOf(frameworkId: string): Iterable<TaskRecord>;
  /** A framework's ended tasks, oldest first (bounded). */
  endedOf(frameworkId: string): readonly TaskRecord[];
  usedBy(frameworkId: string): Resources;
  offeredTo(frameworkId: string): Resources;
  suppressedRoles(frameworkId: string): string[];
  roleSummaries(): RoleSummary[];
  offerCount(): number;
  offer(offerId: string): OfferRecord | undefined;
  /** Ids of a framework's outstanding offers. */
  offerIdsOf(frameworkId: string): string[];
  /** The master-made updates the framework has not acknowledged yet, oldest first. */
  pendingMasterUpdates(frameworkId: string): TaskStatus[];
  /** The latest agent-made update of each of the framework's tasks not acknowledged yet, in the order relayed. */
  pendingAgentUpdates(frameworkId: string): TaskStatus[];
  /** A framework's active task with this id. */
  task(frameworkId: string, taskId: string): TaskRecord | undefined;
  /** Agents a restarted master expects back. */
  expectedAgents(): ExpectedAgent[];
}
