/**
 * The agent's checkpoint in `--work-dir/meta`: what a restarted agent needs to re-register with the
 * same id, find its containers again and resend what the frameworks have not acknowledged.
 *
 *   meta/agent.json                              the agent id (after the first registration)
 *   meta/frameworks/FW/framework.json            the framework's info
 *   meta/frameworks/FW/tasks/TASK/task.json      spec, container id, sandbox: once, before the launch
 *   meta/frameworks/FW/tasks/TASK/state.json     latest status, recent statuses, unacknowledged
 *                                                updates, process handle, decided ending: on
 *                                                every change
 *
 * One small file per task for what changes, replaced atomically (atomic-file.ts): a status update
 * costs one write of its own task's file before it is sent, an acknowledgement another; nothing
 * is ever rewritten for the whole agent. A task's directory goes once the task has ended and its
 * last update is acknowledged; a framework's with its last task.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FrameworkInfo } from '../common/cluster.js';
import { nameProblem } from '../common/names.js';
import { TASK_STATUS_HISTORY, type TaskState, type TaskStatus } from '../common/tasks.js';
import { REMOVING_SUFFIX, removeDurably, TEMP_SUFFIX, writeFileAtomic } from '../common/atomic-file.js';
import {
  checkAgentIdFile,
  checkFrameworkFile,
  checkTaskFile,
  checkTaskStateFile,
  CHECKPOINT_VERSION,
  type TaskFile,
  type TaskStateFile,
} from './checkpoint-schema.js';

/** A checkpoint file that cannot be read; with `--strict` (the default) the agent will not start. */
export class CheckpointCorruptError extends Error {
  override readonly name = 'CheckpointCorruptError';
  constructor(readonly path: string, readonly problem: string) {
    super(`corrupt checkpoint file ${path}: ${problem}; repair or remove it, or start the agent with --no-strict to recover without it`);
  }
}

/** A launch as task.json records it. */
export type TaskLaunch = Omit<TaskFile, 'version'>;

/** A task as the checkpoint last saw it. */
export interface RecoveredTask {
  framework: FrameworkInfo;
  task: TaskLaunch;
  /** The latest status's state; STAGING when no status of this launch was saved. */
  state: TaskState;
  latest: TaskStatus | undefined;
  /** The launch's recent statuses, oldest first (just `latest` from a file older than the history). */
  history: TaskStatus[];
  handle: TaskStateFile['handle'];
  /** Set when the container had exited and the agent stopped before reporting it. */
  ending: TaskStateFile['ending'];
}

/** One task's unacknowledged updates, oldest first. */
export interface RecoveredStream {
  frameworkId: string;
  taskId: string;
  updates: TaskStatus[];
}

/** Everything read back from the checkpoint. */
export interface RecoveredCheckpoint {
  /** Undefined before the first registration (or when its file was skipped). */
  agentId: string | undefined;
  tasks: RecoveredTask[];
  streams: RecoveredStream[];
  /** Corrupt files left out (only without strict), with what is wrong with each. */
  skipped: { path: string; problem: string }[];
}

/** What the task runner writes: the slice of Checkpoint it needs (a fake in tests). */
export interface TaskCheckpointPort {
  saveFramework(info: FrameworkInfo): void;
  saveTask(task: TaskLaunch): void;
  /** Saves how to find the launch's container again, and how it ended once that is decided. */
  saveTaskState(frameworkId: string, taskId: string, state: Pick<TaskStateFile, 'handle' | 'ending'>): void;
}

/**
 * Everything the agent keeps across a restart: Checkpoint on disk, or MemoryCheckpoint for agents
 * that keep nothing (a simulated fleet, whose tasks end with the process anyway).
 */
export interface AgentCheckpoint extends TaskCheckpointPort {
  saveAgentId(agentId: string): void;
  saveUpdates(frameworkId: string, taskId: string, updates: readonly TaskStatus[]): void;
  removeTask(frameworkId: string, taskId: string): void;
  removeAllTasks(): void;
  load(strict: boolean): RecoveredCheckpoint;
}

/** Ids become directory names: only a valid id (names.ts) may, so none escapes its directory. */
function pathPart(kind: 'framework id' | 'task id', id: string): string {
  const problem = nameProblem(kind, id);
  if (problem !== undefined) throw new Error(`cannot name a checkpoint directory: ${problem}`);
  return id;
}

const isLeftover = (name: string) => name.endsWith(TEMP_SUFFIX) || name.endsWith(REMOVING_SUFFIX);
const key = (frameworkId: string, taskId: string) => `${frameworkId}/${taskId}`;

/** The checkpoint of one agent work dir. Writes are synchronous and durable when they return. */
export class Checkpoint implements AgentCheckpoint {
  /** The `meta` directory under the work dir. */
  readonly dir: string;
  /** The framework.json text last written, per framework: an unchanged info is not rewritten. */
  private readonly frameworksSaved = new Map<string, string>();
  /** Each task's state.json as last written: a change rewrites it with the rest kept. */
  private readonly states = new Map<string, Omit<TaskStateFile, 'version'>>();

  constructor(workDir: string) {
    this.dir = join(workDir, 'meta');
  }

  /** Saves the id the master gave. */
  saveAgentId(agentId: string): void {
    writeFileAtomic(join(this.dir, 'agent.json'), JSON.stringify({ version: CHECKPOINT_VERSION, agentId }));
  }

  /** Saves a framework's info; a no-op when it is what was last saved. */
  saveFramework(info: FrameworkInfo): void {
    const text = JSON.stringify({ version: CHECKPOINT_VERSION, framework: info });
    if (this.frameworksSaved.get(info.id) === text) return;
    writeFileAtomic(join(this.frameworkDir(info.id), 'framework.json'), text);
    this.frameworksSaved.set(info.id, text);
  }

  /**
   * Saves a launch (before it starts), replacing the record of an earlier launch of the task id;
   * that launch's unacknowledged updates are kept.
   */
  saveTask(task: TaskLaunch): void {
    writeFileAtomic(join(this.taskDir(task.frameworkId, task.spec.taskId), 'task.json'), JSON.stringify({ version: CHECKPOINT_VERSION, ...task }));
    const k = key(task.frameworkId, task.spec.taskId);
    this.states.set(k, { containerId: task.containerId, updates: this.states.get(k)?.updates ?? [] });
  }

  /**
   * Saves a task's unacknowledged updates (oldest first; none once all are acknowledged). The
   * newest of them that belongs to the current launch becomes its latest status, and joins its
   * history (the newest TASK_STATUS_HISTORY) when it is new, in the same write.
   */
  saveUpdates(frameworkId: string, taskId: string, updates: readonly TaskStatus[]): void {
    const state = this.stateOf(frameworkId, taskId);
    const newest = updates.findLast((u) => u.containerId === state.containerId);
    const history = newest && newest.uuid !== state.latest?.uuid ? [...(state.history ?? (state.latest ? [state.latest] : [])), newest].slice(-TASK_STATUS_HISTORY) : state.history;
    this.writeState(frameworkId, taskId, { ...state, ...(newest ? { latest: newest } : {}), ...(history ? { history } : {}), updates: [...updates] });
  }

  saveTaskState(frameworkId: string, taskId: string, change: Pick<TaskStateFile, 'handle' | 'ending'>): void {
    this.writeState(frameworkId, taskId, { ...this.stateOf(frameworkId, taskId), ...change });
  }

  /** Forgets a task (it ended and all its updates are acknowledged), and its framework once it has no task left. */
  removeTask(frameworkId: string, taskId: string): void {
    removeDurably(this.taskDir(frameworkId, taskId));
    this.states.delete(key(frameworkId, taskId));
    const tasksDir = join(this.frameworkDir(frameworkId), 'tasks');
    const left = existsSync(tasksDir) ? readdirSync(tasksDir).filter((n) => !isLeftover(n)) : [];
    if (left.length === 0) {
      removeDurably(this.frameworkDir(frameworkId));
      this.frameworksSaved.delete(frameworkId);
    }
  }

  /** Forgets every framework and task (the agent id stays). */
  removeAllTasks(): void {
    removeDurably(join(this.dir, 'frameworks'));
    this.frameworksSaved.clear();
    this.states.clear();
  }

  /**
   * Reads the checkpoint back. A corrupt file throws CheckpointCorruptError naming it when
   * `strict`; otherwise it is left out, with what depends on it (a framework's tasks, a task's
   * state and updates), and listed in `skipped`. Leftovers of interrupted writes and removals are
   * ignored.
   */
  load(strict: boolean): RecoveredCheckpoint {
    const result: RecoveredCheckpoint = { agentId: undefined, tasks: [], streams: [], skipped: [] };
    const corrupt = (path: string, problem: string): null => {
      if (strict) throw new CheckpointCorruptError(path, problem);
      result.skipped.push({ path, problem });
      return null;
    };
    /** Reads and checks one file: its content, undefined when absent, or null when corrupt (skipped). */
    const read = <T>(path: string, check: (value: unknown) => T): T | undefined | null => {
      if (!existsSync(path)) return undefined;
      try {
        return check(JSON.parse(readFileSync(path, 'utf8')));
      } catch (err) {
        return corrupt(path, err instanceof SyntaxError ? `not valid JSON (${err.message})` : err instanceof Error ? err.message : String(err));
      }
    };
    result.agentId = read(join(this.dir, 'agent.json'), checkAgentIdFile)?.agentId;
    const frameworksDir = join(this.dir, 'frameworks');
    for (const fwName of listDir(frameworksDir)) {
      const fwDir = join(frameworksDir, fwName);
      const taskNames = listDir(join(fwDir, 'tasks'));
      const frameworkPath = join(fwDir, 'framework.json');
      const saved = read(frameworkPath, checkFrameworkFile);
      // framework.json is written before any task of the framework: without it there are none.
      if (saved === undefined && taskNames.length > 0) corrupt(frameworkPath, 'it is missing, but the framework has tasks');
      if (!saved) continue;
      const framework = saved.framework;
      this.frameworksSaved.set(framework.id, JSON.stringify(saved));
      for (const taskName of taskNames) {
        const taskDir = join(fwDir, 'tasks', taskName);
        const launchFile = read(join(taskDir, 'task.json'), checkTaskFile);
        // No task.json: the directory was made and the agent stopped before the launch was saved.
        if (!launchFile) continue;
        const { version: _v, ...task } = launchFile;
        const stateFile = read(join(taskDir, 'state.json'), checkTaskStateFile);
        const { version: _w, ...state } = stateFile ?? { version: CHECKPOINT_VERSION, containerId: task.containerId, updates: [] };
        this.states.set(key(framework.id, task.spec.taskId), state);
        if (state.updates.length > 0) result.streams.push({ frameworkId: framework.id, taskId: task.spec.taskId, updates: state.updates });
        // A state of an earlier launch of the same task id says nothing about this one.
        const mine = state.containerId === task.containerId ? state : undefined;
        const history = mine?.history ?? (mine?.latest ? [mine.latest] : []);
        result.tasks.push({ framework, task, state: mine?.latest?.state ?? 'STAGING', latest: mine?.latest, history, handle: mine?.handle, ending: mine?.ending });
      }
    }
    return result;
  }

  private stateOf(frameworkId: string, taskId: string): Omit<TaskStateFile, 'version'> {
    const state = this.states.get(key(frameworkId, taskId));
    if (!state) throw new Error(`no launch of task ${taskId} of framework ${frameworkId} is checkpointed`);
    return state;
  }

  private writeState(frameworkId: string, taskId: string, state: Omit<TaskStateFile, 'version'>): void {
    writeFileAtomic(join(this.taskDir(frameworkId, taskId), 'state.json'), JSON.stringify({ version: CHECKPOINT_VERSION, ...state }));
    this.states.set(key(frameworkId, taskId), state);
  }

  private frameworkDir(frameworkId: string): string {
    return join(this.dir, 'frameworks', pathPart('framework id', frameworkId));
  }

  private taskDir(frameworkId: string, taskId: string): string {
    return join(this.frameworkDir(frameworkId), 'tasks', pathPart('task id', taskId));
  }
}

/** The entries of a directory, leftovers of interrupted removals deleted; none when it is absent. */
function listDir(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const names: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name.endsWith(REMOVING_SUFFIX)) rmSync(join(dir, name), { recursive: true, force: true });
    else if (!isLeftover(name)) names.push(name);
  }
  return names;
}

/**
 * A checkpoint that writes nothing: the agent keeps its id for as long as the process lives (so it
 * re-registers with it after losing the master) and starts afresh after a restart. For simulated
 * agents, whose tasks never outlive their process anyway; a real agent must not use it.
 */
export class MemoryCheckpoint implements AgentCheckpoint {
  private agentId: string | undefined;
  saveAgentId(agentId: string): void {
    this.agentId = agentId;
  }
  saveFramework(): void {}
  saveTask(): void {}
  saveTaskState(): void {}
  saveUpdates(): void {}
  removeTask(): void {}
  removeAllTasks(): void {}
  load(): RecoveredCheckpoint {
    return { agentId: this.agentId, tasks: [], streams: [], skipped: [] };
  }
}
