/**
 * Runs the agent's tasks: a sandbox per launch, the containerizer of the task's kind, and the
 * statuses of its life (STARTING, RUNNING, KILLING, then exactly one terminal status), with health
 * checks while it runs. Statuses go to `emit`, which queues (and checkpoints) them for
 * at-least-once delivery; each launch, and what its statuses do not carry (a process handle, a
 * decided ending), go to the checkpoint.
 *
 * After an agent restart, recovery hands the runner the tasks it checkpointed and what became of
 * their containers (`adopt`), and the runner carries on as if it had never stopped.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { FrameworkInfo } from '../common/cluster.js';
import type { Clock } from '../common/clock.js';
import { errorMessage } from '../common/errors.js';
import { newContainerId, newUpdateUuid } from '../common/ids.js';
import { checkName } from '../common/names.js';
import { checkTransition } from '../common/task-transitions.js';
import { isTerminal, TASK_STATUS_HISTORY, type StatusReason, type TaskSpec, type TaskState, type TaskStatus } from '../common/tasks.js';
import type { RecoveredTask, TaskCheckpointPort } from './checkpoint.js';
import type { TaskEnding } from './checkpoint-schema.js';
import { ContainerLaunchError, type ContainerExit, type ContainerHandle, type Containerizer, type RecoveredContainer } from './containerizer/containerizer.js';
import { taskEnvironment } from './environment.js';
import { HealthChecker } from './health/health-checker.js';
import { probeFor } from './health/probes.js';

export interface AgentTask {
  spec: TaskSpec;
  framework: FrameworkInfo;
  containerId: string;
  sandboxDir: string;
  state: TaskState;
  latest: TaskStatus | undefined;
  /** Its recent statuses, oldest first, `latest` last: at most TASK_STATUS_HISTORY (reported on re-registration). */
  history: TaskStatus[];
  /** A kill arrived while the container was still starting. */
  killRequested: { graceMs: number } | undefined;
  /** Why it is being killed: the reason of its KILLING and KILLED statuses. */
  killReason: StatusReason | undefined;
  /** When the agent launched it (ms since the epoch). */
  startedAt: number;
  /** When the master accepted the launch (ms, the master's clock), when it said. */
  acceptedAt: number | undefined;
  /** Health from its checks; undefined without checks or before the first result. */
  healthy: boolean | undefined;
  /** How the containerizer finds it again after a restart (process tasks). */
  handle: ContainerHandle | undefined;
  /** Its terminal status, decided at the exit and saved while the container's remains go. */
  ending: TaskEnding | undefined;
  health: HealthChecker | undefined;
}

export interface TaskRunnerOptions {
  workDir: string;
  clock: Clock;
  logger: Logger;
  containerizers: ReadonlyMap<string, Containerizer>;
  agentId: () => string;
  emit: (status: TaskStatus) => void;
  /** Where launches and task states are saved (none: nothing is checkpointed). */
  checkpoint?: TaskCheckpointPort;
  /** How many ended tasks to remember (for their output and /state). */
  completedLimit?: number;
  /**
   * True while an ended task's updates wait for an acknowledgement: it is remembered past the
   * limit until they do not (a re-registration reports it, so a new master knows it ended).
   */
  isUnacknowledged?: (frameworkId: string, taskId: string) => boolean;
}

const key = (frameworkId: string, taskId: string) => `${frameworkId}/${taskId}`;

export class TaskRunner {
  private readonly active = new Map<string, AgentTask>();
  private readonly completed: AgentTask[] = [];
  /** Containers that have started and not exited. */
  private readonly launched = new Set<string>();
  private draining = false;
  private stopped = false;

  constructor(private readonly options: TaskRunnerOptions) {}

  /** Tasks that have not ended. */
  activeTasks(): AgentTask[] {
    return [...this.active.values()];
  }

  /** Ended tasks, oldest first. */
  completedTasks(): readonly AgentTask[] {
    return this.completed;
  }

  /** True while the task id has a launch that has not ended. */
  isActive(frameworkId: string, taskId: string): boolean {
    return this.active.has(key(frameworkId, taskId));
  }

  /** Finds a task by id (active first, then recently ended); `frameworkId` narrows it. */
  find(taskId: string, frameworkId?: string): AgentTask | undefined {
    const matches = (t: AgentTask) => t.spec.taskId === taskId && (!frameworkId || t.framework.id === frameworkId);
    return [...this.active.values()].find(matches) ?? [...this.completed].reverse().find(matches);
  }

  /**
   * Launches a task; a second launch of an active task id is ignored. While draining, the task is
   * DROPPED at once; once stopped, the launch is ignored (a restarted agent will not report it, so
   * the master drops it). Throws InvalidArgumentError, launching nothing, for an id that cannot
   * be a directory name. `acceptedAt` (when the master accepted the launch) is kept and reported.
   */
  run(framework: FrameworkInfo, spec: TaskSpec, acceptedAt?: number): void {
    if (this.stopped) return;
    const k = key(framework.id, spec.taskId);
    if (this.active.has(k)) {
      this.options.logger.warn({ taskId: spec.taskId }, 'ignored a second launch of an active task');
      return;
    }
    const containerId = newContainerId();
    const sandboxDir = sandboxPath(this.options.workDir, framework.id, spec.taskId, containerId);
    const task = newTask(spec, framework, containerId, sandboxDir, 'STAGING', this.options.clock.now(), acceptedAt);
    try {
      // Saved before anything starts: a restarted agent knows of every container it may have made.
      this.options.checkpoint?.saveFramework(framework);
      this.options.checkpoint?.saveTask({ frameworkId: framework.id, spec, containerId, sandboxDir, startedAt: task.startedAt, ...(acceptedAt !== undefined ? { acceptedAt } : {}) });
    } catch (err) {
      this.active.set(k, task);
      this.finish(task, 'FAILED', 'CONTAINER_LAUNCH_FAILED', `cannot checkpoint the launch: ${errorMessage(err)}`);
      return;
    }
    this.active.set(k, task);
    if (this.draining) {
      this.finish(task, 'DROPPED', 'AGENT_DRAINING', 'the agent is shutting down and launches nothing more');
      return;
    }
    this.update(task, 'STARTING', 'NONE', spec.container.kind === 'docker' ? `starting container from ${spec.container.image ?? ''}` : 'starting process');
    void this.launch(task);
  }

  /** Launches nothing more (the agent is shutting down and killing its tasks). Idempotent. */
  drain(): void {
    this.draining = true;
  }

  /**
   * Kills a task: KILLING now, then SIGTERM and SIGKILL after the grace (`graceMs`, else the
   * task's own). A kill that arrives while the container is still starting is carried out as soon
   * as it has started. A no-op for unknown tasks, for tasks already being killed or that have
   * exited, and once the runner is stopped.
   */
  kill(frameworkId: string, taskId: string, graceMs?: number, reason: StatusReason = 'KILLED_BY_FRAMEWORK', why?: string): void {
    const task = this.active.get(key(frameworkId, taskId));
    if (!task || task.state === 'KILLING' || task.ending || this.stopped) return;
    const grace = graceMs ?? task.spec.killGraceMs;
    task.killReason = reason;
    task.health?.stop();
    this.update(task, 'KILLING', reason, `${why ? `${why}; ` : ''}killing (grace ${grace} ms)`);
    const containerizer = this.options.containerizers.get(task.spec.container.kind);
    if (containerizer && this.launched.has(task.containerId)) void containerizer.kill(task.containerId, grace);
    else task.killRequested = { graceMs: grace };
  }

  /** Kills every task of a framework (it was removed). */
  shutdownFramework(frameworkId: string): void {
    for (const task of this.activeTasks()) if (task.framework.id === frameworkId) this.kill(frameworkId, task.spec.taskId, undefined, 'FRAMEWORK_REMOVED');
  }

  /**
   * Takes back a checkpointed task after an agent restart, given what became of its container:
   * one still running is watched (and health-checked) again, and becomes RUNNING if it was
   * STARTING; one that ended gets its one terminal status now, with the exit code when known; a
   * container that left no trace ends the task FAILED with reason AGENT_RESTARTED. A task that had
   * already ended (its updates unacknowledged) is kept among the completed ones. Resolves once
   * the status of a task that ended is queued (after its container's remains are removed).
   */
  async adopt(recovered: RecoveredTask, container: RecoveredContainer | undefined): Promise<void> {
    const { framework, task: saved } = recovered;
    const task = newTask(saved.spec, framework, saved.containerId, saved.sandboxDir, recovered.state, saved.startedAt, saved.acceptedAt);
    task.latest = recovered.latest;
    task.history = recovered.history.slice(-TASK_STATUS_HISTORY);
    task.healthy = recovered.latest?.healthy;
    task.handle = recovered.handle;
    task.killReason = recovered.latest?.state === 'KILLING' ? recovered.latest.reason : undefined;
    const containerizer = this.options.containerizers.get(saved.spec.container.kind);
    if (isTerminal(task.state)) {
      this.remember(task);
      if (container?.status !== 'running') void containerizer?.remove?.(task.containerId);
      return;
    }
    this.active.set(key(framework.id, saved.spec.taskId), task);
    if (recovered.ending) {
      // It had exited and the agent stopped while removing its remains: report it as decided then.
      await this.end(task, recovered.ending, containerizer);
      return;
    }
    switch (container?.status) {
      case 'running':
        this.launched.add(task.containerId);
        if (task.state === 'KILLING') {
          void containerizer?.kill(task.containerId, saved.spec.killGraceMs);
        } else if (task.state !== 'RUNNING') {
          this.update(task, 'RUNNING', 'NONE', `${saved.spec.container.kind === 'docker' ? `container ${task.containerId}` : 'process'} running (found again after an agent restart)`);
        } else {
          this.startHealthChecks(task);
        }
        void container.container.exited.then((exit) => this.exited(task, exit, containerizer));
        return;
      case 'exited':
        await this.end(task, endingOf({ ...container.exit, message: `${container.exit.message} while the agent was down` }, task), containerizer);
        return;
      case 'gone':
      case undefined: {
        const what = container?.message ?? `this agent no longer has a ${saved.spec.container.kind} containerizer`;
        const message = `${what}; the agent restarted and cannot tell how the task ended`;
        await this.end(task, { state: task.state === 'KILLING' ? 'KILLED' : 'FAILED', reason: 'AGENT_RESTARTED', message }, containerizer);
        return;
      }
    }
  }

  /** Stops health checks and ignores exits from now on (the agent is stopping; tasks run on). */
  stop(): void {
    this.stopped = true;
    for (const task of this.active.values()) task.health?.stop();
  }

  /** When each task last reported pull progress to its framework. */
  private readonly progressAt = new Map<AgentTask, number>();

  /**
   * Slow launch steps (an image pull) reach the framework as STARTING updates, so `orbit run`
   * can show them: the start and end of a pull always, layer progress at most every 5 s
   * (each update is checkpointed and acknowledged, so they are kept few).
   */
  private reportProgress(task: AgentTask, message: string): void {
    this.options.logger.info({ taskId: task.spec.taskId }, message);
    if (task.state !== 'STARTING' || task.killRequested) return;
    const milestone = /^(pulling|pulled) image /.test(message);
    const layer = message.startsWith(`${task.spec.container.image ?? ''}: `);
    const now = this.options.clock.now();
    if (!milestone && !(layer && now - (this.progressAt.get(task) ?? 0) >= 5_000)) return;
    this.progressAt.set(task, now);
    this.update(task, 'STARTING', 'NONE', message);
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
      if (containerizer.needsSandbox !== false) mkdirSync(task.sandboxDir, { recursive: true });
      const launched = await containerizer.launch(
        {
          containerId: task.containerId,
          task: spec,
          frameworkId: task.framework.id,
          agentId: this.options.agentId(),
          sandboxDir: task.sandboxDir,
          env: this.environment(task),
          keepExited: true,
          persist: (handle) => {
            task.handle = handle;
            this.saveState(task);
          },
        },
        (message) => this.reportProgress(task, message),
      );
      exited = launched.exited;
    } catch (err) {
      if (this.stopped) return;
      const reason: StatusReason = err instanceof ContainerLaunchError ? err.reason : 'CONTAINER_LAUNCH_FAILED';
      this.finish(task, task.killRequested ? 'KILLED' : 'FAILED', task.killRequested ? 'TASK_KILLED_DURING_LAUNCH' : reason, errorMessage(err));
      return;
    }
    if (this.stopped) return;
    this.launched.add(task.containerId);
    if (task.killRequested) {
      void containerizer.kill(task.containerId, task.killRequested.graceMs);
    } else {
      this.update(task, 'RUNNING', 'NONE', spec.container.kind === 'docker' ? `container ${task.containerId} running` : `process running`);
    }
    void exited.then((exit) => this.exited(task, exit, containerizer));
  }

  /**
   * The container ended. Its terminal status is decided now and saved with the task's state; then
   * the container's remains are removed, and only then is the status sent. A restart at any point
   * finds either the exited container or the saved decision, so the exit is never lost, and the
   * framework hears of the end once nothing of the task is left.
   */
  private exited(task: AgentTask, exit: ContainerExit, containerizer: Containerizer | undefined): void {
    if (this.stopped) return;
    this.launched.delete(task.containerId);
    if (isTerminal(task.state) || task.ending) return;
    void this.end(task, endingOf(exit, task), containerizer);
  }

  /** Saves the ending, removes the container's remains, then reports the end; resolves after that. */
  private async end(task: AgentTask, ending: TaskEnding, containerizer: Containerizer | undefined): Promise<void> {
    task.ending = ending;
    task.health?.stop();
    this.saveState(task);
    // remove() never rejects (a containerizer logs its own failures); a throw must not lose the end.
    await containerizer?.remove?.(task.containerId).catch(() => {});
    if (this.stopped || isTerminal(task.state)) return;
    this.finish(task, ending.state, ending.reason, ending.message, ending.exitCode);
  }

  private finish(task: AgentTask, state: TaskState, reason: StatusReason, message: string, exitCode?: number | null): void {
    task.health?.stop();
    this.progressAt.delete(task);
    this.update(task, state, reason, message, exitCode ?? undefined);
    this.active.delete(key(task.framework.id, task.spec.taskId));
    this.remember(task);
  }

  /** Among the ended tasks; past the limit, the oldest whose updates are all acknowledged are forgotten. */
  private remember(task: AgentTask): void {
    this.completed.push(task);
    const limit = this.options.completedLimit ?? 200;
    const waiting = this.options.isUnacknowledged;
    if (!waiting) {
      if (this.completed.length > limit) this.completed.shift();
      return;
    }
    for (let i = 0; this.completed.length > limit && i < this.completed.length; ) {
      const t = this.completed[i]!;
      if (waiting(t.framework.id, t.spec.taskId)) i++;
      else this.completed.splice(i, 1);
    }
  }

  /** Starts the task's health checks (if it has any and they are not running yet). */
  private startHealthChecks(task: AgentTask): void {
    const spec = task.spec.healthCheck;
    if (!spec || task.health || this.stopped) return;
    const containerizer = this.options.containerizers.get(task.spec.container.kind);
    const exec = containerizer?.exec?.bind(containerizer);
    const probe = probeFor(spec, {
      ...(exec ? { exec: (command: readonly string[], timeoutMs: number) => exec(task.containerId, command, timeoutMs) } : {}),
      sandboxDir: task.sandboxDir,
      env: this.environment(task),
    });
    task.health = new HealthChecker({
      spec,
      clock: this.options.clock,
      startedAt: task.startedAt,
      ...(task.healthy !== undefined ? { healthy: task.healthy } : {}),
      probe,
      onHealthChange: (healthy, message) => {
        if (task.state !== 'RUNNING') return;
        task.healthy = healthy;
        this.update(task, 'RUNNING', 'NONE', `${healthy ? 'healthy' : 'unhealthy'}: ${message}`);
      },
      onUnhealthy: (message) => this.kill(task.framework.id, task.spec.taskId, undefined, 'HEALTH_CHECK_FAILED', message),
    });
    task.health.start();
  }

  private environment(task: AgentTask): Record<string, string> {
    const env = taskEnvironment(task.spec, task.framework.id, this.options.agentId(), { ORBIT_SANDBOX: task.sandboxDir });
    if (task.spec.container.kind === 'docker') delete env['ORBIT_SANDBOX'];
    return env;
  }

  /** Moves the task through the shared state machine, emits the status, then checkpoints the state. */
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
      ...(task.healthy !== undefined ? { healthy: task.healthy } : {}),
    };
    task.latest = status;
    task.history.push(status);
    if (task.history.length > TASK_STATUS_HISTORY) task.history.shift();
    this.options.logger.info({ taskId: task.spec.taskId, frameworkId: task.framework.id, state, reason }, message);
    // Queuing it saves it, as the task's latest status too, before it is first sent.
    this.options.emit(status);
    if (state === 'RUNNING') this.startHealthChecks(task);
  }

  /** Saves what the task's status updates do not carry: its process handle and decided ending. */
  private saveState(task: AgentTask): void {
    try {
      this.options.checkpoint?.saveTaskState(task.framework.id, task.spec.taskId, {
        ...(task.handle ? { handle: task.handle } : {}),
        ...(task.ending ? { ending: task.ending } : {}),
      });
    } catch (err) {
      this.options.logger.error({ taskId: task.spec.taskId, err: errorMessage(err) }, 'cannot checkpoint the task state');
    }
  }
}

/**
 * A launch's sandbox directory. Its ids were checked where they entered (the codec); they are
 * checked again here, where they become a path, so that no id can name a directory elsewhere.
 */
function sandboxPath(workDir: string, frameworkId: string, taskId: string, containerId: string): string {
  checkName('framework id', frameworkId, 'framework.id');
  checkName('task id', taskId, 'task.task_id');
  return join(workDir, 'sandboxes', frameworkId, taskId, containerId);
}

function newTask(spec: TaskSpec, framework: FrameworkInfo, containerId: string, sandboxDir: string, state: TaskState, startedAt: number, acceptedAt: number | undefined): AgentTask {
  return { spec, framework, containerId, sandboxDir, state, latest: undefined, history: [], killRequested: undefined, killReason: undefined, startedAt, acceptedAt, healthy: undefined, handle: undefined, ending: undefined, health: undefined };
}

/** The terminal status an exit means: an OOM kill, a kill, or the command's own exit code. */
function endingOf(exit: ContainerExit, task: AgentTask): TaskEnding {
  const code = exit.exitCode === null ? {} : { exitCode: exit.exitCode };
  if (exit.oomKilled) return { state: 'FAILED', reason: 'CONTAINER_LIMITATION_MEMORY', message: exit.message, ...code };
  if (exit.killed || task.state === 'KILLING' || task.killRequested !== undefined) {
    return { state: 'KILLED', reason: task.killReason ?? 'KILLED_BY_FRAMEWORK', message: exit.message, ...code };
  }
  return { state: exit.exitCode === 0 ? 'FINISHED' : 'FAILED', reason: 'COMMAND_EXITED', message: exit.message, ...code };
}
