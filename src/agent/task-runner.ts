/**
 * Runs the agent's tasks: a sandbox per launch, the containerizer of the task's kind, and the
 * statuses of its life (STARTING, RUNNING, KILLING, then exactly one terminal status). Statuses go
 * to `emit`, which queues them for at-least-once delivery.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { FrameworkInfo } from '../common/cluster.js';
import type { Clock } from '../common/clock.js';
import { errorMessage } from '../common/errors.js';
import { newContainerId, newUpdateUuid } from '../common/ids.js';
import { checkTransition } from '../common/task-transitions.js';
import { type StatusReason, type TaskSpec, type TaskState, type TaskStatus } from '../common/tasks.js';
import { ContainerLaunchError, type ContainerExit, type Containerizer } from './containerizer/containerizer.js';
import { taskEnvironment } from './environment.js';

export interface AgentTask {
  spec: TaskSpec;
  framework: FrameworkInfo;
  containerId: string;
  sandboxDir: string;
  state: TaskState;
  latest: TaskStatus | undefined;
  /** A kill arrived while the container was still starting. */
  killRequested: { graceMs: number } | undefined;
  startedAt: number;
}

export interface TaskRunnerOptions {
  workDir: string;
  clock: Clock;
  logger: Logger;
  containerizers: ReadonlyMap<string, Containerizer>;
  agentId: () => string;
  emit: (status: TaskStatus) => void;
  /** How many ended tasks to remember (for their output and /state). */
  completedLimit?: number;
}

const key = (frameworkId: string, taskId: string) => `${frameworkId}/${taskId}`;

export class TaskRunner {
  private readonly active = new Map<string, AgentTask>();
  private readonly completed: AgentTask[] = [];
  /** Containers that have started and not exited. */
  private readonly launched = new Set<string>();

  constructor(private readonly options: TaskRunnerOptions) {}

  /** Tasks that have not ended. */
  activeTasks(): AgentTask[] {
    return [...this.active.values()];
  }

  /** Ended tasks, oldest first. */
  completedTasks(): readonly AgentTask[] {
    return this.completed;
  }

  /** Finds a task by id (active first, then recently ended); `frameworkId` narrows it. */
  find(taskId: string, frameworkId?: string): AgentTask | undefined {
    const matches = (t: AgentTask) => t.spec.taskId === taskId && (!frameworkId || t.framework.id === frameworkId);
    return [...this.active.values()].find(matches) ?? [...this.completed].reverse().find(matches);
  }

  /** Launches a task; a second launch of an active task id is ignored. */
  run(framework: FrameworkInfo, spec: TaskSpec): void {
    const k = key(framework.id, spec.taskId);
    if (this.active.has(k)) {
      this.options.logger.warn({ taskId: spec.taskId }, 'ignored a second launch of an active task');
      return;
    }
    const containerId = newContainerId();
    const sandboxDir = join(this.options.workDir, 'sandboxes', framework.id, spec.taskId, containerId);
    const task: AgentTask = { spec, framework, containerId, sandboxDir, state: 'STAGING', latest: undefined, killRequested: undefined, startedAt: this.options.clock.now() };
    this.active.set(k, task);
    this.update(task, 'STARTING', 'NONE', spec.container.kind === 'docker' ? `starting container from ${spec.container.image ?? ''}` : 'starting process');
    void this.launch(task);
  }

  /**
   * Kills a task: KILLING now, then SIGTERM and SIGKILL after the grace. A kill that arrives while
   * the container is still starting is carried out as soon as it has started. A no-op for unknown
   * tasks and for tasks already being killed.
   */
  kill(frameworkId: string, taskId: string, graceMs?: number): void {
    const task = this.active.get(key(frameworkId, taskId));
    if (!task || task.state === 'KILLING') return;
    const grace = graceMs ?? task.spec.killGraceMs;
    this.update(task, 'KILLING', 'KILLED_BY_FRAMEWORK', `killing (grace ${grace} ms)`);
    const containerizer = this.options.containerizers.get(task.spec.container.kind);
    if (containerizer && this.launched.has(task.containerId)) void containerizer.kill(task.containerId, grace);
    else task.killRequested = { graceMs: grace };
  }

  /** Kills every task of a framework (it was removed). */
  shutdownFramework(frameworkId: string): void {
    for (const task of this.activeTasks()) if (task.framework.id === frameworkId) this.kill(frameworkId, task.spec.taskId);
  }

  private async launch(task: AgentTask): Promise<void> {
    const { spec } = task;
    const containerizer = this.options.containerizers.get(spec.container.kind);
    if (!containerizer) {
      this.finish(task, 'FAILED', 'CONTAINER_LAUNCH_FAILED', `this agent has no ${spec.container.kind} containerizer`);
      return;
    }
    let exited: Promise<ContainerExit>;
    try {
      mkdirSync(task.sandboxDir, { recursive: true });
      const env = taskEnvironment(spec, task.framework.id, this.options.agentId(), { ORBIT_SANDBOX: task.sandboxDir });
      if (spec.container.kind === 'docker') delete env['ORBIT_SANDBOX'];
      const launched = await containerizer.launch(
        { containerId: task.containerId, task: spec, frameworkId: task.framework.id, agentId: this.options.agentId(), sandboxDir: task.sandboxDir, env },
        (message) => this.options.logger.info({ taskId: spec.taskId }, message),
      );
      exited = launched.exited;
    } catch (err) {
      const reason: StatusReason = err instanceof ContainerLaunchError ? err.reason : 'CONTAINER_LAUNCH_FAILED';
      this.finish(task, task.killRequested ? 'KILLED' : 'FAILED', task.killRequested ? 'TASK_KILLED_DURING_LAUNCH' : reason, errorMessage(err));
      return;
    }
    this.launched.add(task.containerId);
    if (task.killRequested) {
      void containerizer.kill(task.containerId, task.killRequested.graceMs);
    } else {
      this.update(task, 'RUNNING', 'NONE', spec.container.kind === 'docker' ? `container ${task.containerId} running` : `process running`);
    }
    const exit = await exited;
    this.launched.delete(task.containerId);
    this.onExit(task, exit);
  }

  private onExit(task: AgentTask, exit: ContainerExit): void {
    const wasKilled = exit.killed || task.state === 'KILLING' || task.killRequested !== undefined;
    if (exit.oomKilled) {
      this.finish(task, 'FAILED', 'CONTAINER_LIMITATION_MEMORY', exit.message, exit.exitCode);
    } else if (wasKilled) {
      this.finish(task, 'KILLED', 'KILLED_BY_FRAMEWORK', exit.message, exit.exitCode);
    } else if (exit.exitCode === 0) {
      this.finish(task, 'FINISHED', 'COMMAND_EXITED', exit.message, 0);
    } else {
      this.finish(task, 'FAILED', 'COMMAND_EXITED', exit.message, exit.exitCode);
    }
  }

  private finish(task: AgentTask, state: TaskState, reason: StatusReason, message: string, exitCode?: number | null): void {
    this.update(task, state, reason, message, exitCode ?? undefined);
    this.active.delete(key(task.framework.id, task.spec.taskId));
    this.completed.push(task);
    if (this.completed.length > (this.options.completedLimit ?? 200)) this.completed.shift();
  }

  /** Moves the task through the shared state machine and emits the status. */
  private update(task: AgentTask, state: TaskState, reason: StatusReason, message: string, exitCode?: number): void {
    const verdict = checkTransition(task.state, state);
    if (!verdict.ok) {
      this.options.logger.warn({ taskId: task.spec.taskId, from: task.state, to: state }, 'dropped an impossible task transition');
      return;
    }
    task.state = state;
    const status: TaskStatus = {
      taskId: task.spec.taskId,
      frameworkId: task.framework.id,
      agentId: this.options.agentId(),
      state,
      source: 'AGENT',
      reason,
      message,
      timestamp: this.options.clock.now(),
      uuid: newUpdateUuid(),
      containerId: task.containerId,
      ...(exitCode !== undefined ? { exitCode } : {}),
    };
    task.latest = status;
    this.options.logger.info({ taskId: task.spec.taskId, frameworkId: task.framework.id, state, reason }, message);
    this.options.emit(status);
  }
}
