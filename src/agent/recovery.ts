/**
 * Agent recovery: what a (re)starting agent does with its checkpoint before it talks to a master.
 *  1. Unacknowledged updates go back into their queues (sent once the agent is registered).
 *  2. Each containerizer looks for the containers of the checkpointed tasks (and removes orphans).
 *  3. The task runner adopts each task with what became of its container: still running, ended
 *     while the agent was down (one terminal update), or gone.
 * When the agent id itself is unreadable (skipped with --no-strict) the agent registers as a new
 * agent, so the tasks of the old one are killed and forgotten instead: nobody could own them.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../common/errors.js';
import { contains, formatResources, normalize, UNRESERVED_ROLE, type Resources } from '../common/resources.js';
import { isTerminal } from '../common/tasks.js';
import type { AgentCheckpoint, RecoveredCheckpoint, RecoveredTask } from './checkpoint.js';
import type { Containerizer, KnownContainer, RecoveredContainer } from './containerizer/containerizer.js';
import type { StatusUpdateManager } from './status-updates.js';
import type { TaskRunner } from './task-runner.js';

/** A containerizer could not look for its containers (the Docker engine is down, say). */
export class RecoveryError extends Error {
  override readonly name = 'RecoveryError';
}

export interface RecoveryParts {
  checkpoint: AgentCheckpoint;
  recovered: RecoveredCheckpoint;
  containerizers: readonly Containerizer[];
  runner: TaskRunner;
  updates: StatusUpdateManager;
  logger: Logger;
}

const known = (t: RecoveredTask): KnownContainer => ({
  containerId: t.task.containerId,
  taskId: t.task.spec.taskId,
  frameworkId: t.framework.id,
  sandboxDir: t.task.sandboxDir,
  ...(t.handle ? { handle: t.handle } : {}),
});

/** Asks every containerizer about its tasks; one that cannot answer stops the recovery. */
async function findContainers(agentId: string, tasks: readonly RecoveredTask[], containerizers: readonly Containerizer[]): Promise<Map<string, RecoveredContainer>> {
  const found = new Map<string, RecoveredContainer>();
  for (const c of containerizers) {
    const mine = tasks.filter((t) => t.task.spec.container.kind === c.kind).map(known);
    if (!agentId && mine.length === 0) continue;
    try {
      for (const [id, outcome] of await c.recover(agentId, mine)) found.set(id, outcome);
    } catch (err) {
      throw new RecoveryError(`cannot recover the ${c.kind} tasks of this agent: ${errorMessage(err)}`, { cause: err });
    }
  }
  return found;
}

/** Recovers the agent from its checkpoint (see the file comment). Resolves once every task is adopted. */
export async function recoverAgent(parts: RecoveryParts): Promise<void> {
  const { recovered, runner, updates, logger: log } = parts;
  for (const s of recovered.skipped) log.warn({ file: s.path }, `skipped a corrupt checkpoint file (--no-strict): ${s.problem}`);
  if (recovered.agentId === undefined) {
    if (recovered.tasks.length > 0) await abandon(parts);
    return;
  }
  for (const s of recovered.streams) updates.restore(s.frameworkId, s.taskId, s.updates);
  const found = await findContainers(recovered.agentId, recovered.tasks, parts.containerizers);
  for (const task of recovered.tasks) {
    await runner.adopt(task, found.get(task.task.containerId));
    // Ended, and every update acknowledged: the agent stopped before it could forget the task.
    if (isTerminal(task.state) && !updates.hasPending(task.framework.id, task.task.spec.taskId)) parts.checkpoint.removeTask(task.framework.id, task.task.spec.taskId);
  }
  const running = [...found.values()].filter((f) => f.status === 'running').length;
  log.info({ agentId: recovered.agentId, tasks: recovered.tasks.length, running, unacknowledged: recovered.streams.length }, 'recovered from the checkpoint');
}

/** Kills the containers of an agent whose id is lost, and forgets its tasks. */
async function abandon(parts: RecoveryParts): Promise<void> {
  const { recovered, containerizers, checkpoint, logger: log } = parts;
  log.warn({ tasks: recovered.tasks.length }, 'the agent id is unreadable: this agent registers as a new one and kills the tasks of the old one');
  const found = await findContainers('', recovered.tasks, containerizers);
  for (const task of recovered.tasks) {
    const c = containerizers.find((z) => z.kind === task.task.spec.container.kind);
    const outcome = found.get(task.task.containerId);
    if (outcome?.status === 'running') await c?.kill(task.task.containerId, 0);
    await c?.remove?.(task.task.containerId);
  }
  checkpoint.removeAllTasks();
}

/**
 * Why a restarted agent's resources cannot hold the tasks it recovered, or undefined when they
 * can. Mesos refuses such an agent too: the master's books would show more used than there is.
 * Dynamic reservations are the master's to apply, so a task's dynamically reserved resources are
 * counted against the agent's unreserved ones.
 */
export function resourcesShortOf(total: Resources, tasks: readonly Resources[]): string | undefined {
  const used = normalize(tasks.flat().map((x) => (x.dynamic ? { ...x, role: UNRESERVED_ROLE, dynamic: false } : x)));
  if (contains(total, used)) return undefined;
  return (
    `the tasks this agent still runs use '${formatResources(used)}', more than its resources '${formatResources(total)}'; ` +
    'restart it with --resources that hold them (or let it detect them again), or stop those tasks and start it with a fresh --work-dir'
  );
}
