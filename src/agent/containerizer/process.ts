/**
 * Runs tasks as plain processes on the agent's host, each in its own session and process group,
 * under a small wrapper shell (process-wrapper.ts) that records the exit status in the sandbox.
 * Tasks outlive the agent: a restarted agent finds them again by pid and start time (`recover`),
 * and reads the status file of those that ended while it was away.
 *
 * The task writes straight into the sandbox's stdout/stderr files (the files are the process's
 * own descriptors, so output goes on without the agent). Nothing else isolates the task: cpus and
 * mem are not enforced, and the task sees the agent's filesystem and network.
 *
 * Users (task-user.ts): an agent that is root runs each task as the user it names, else as its
 * task user (`--task-user`, default nobody), with that user's uid and primary gid, no supplementary
 * groups, and HOME the sandbox; the sandbox and its output files become that user's (mode 0700),
 * and the agent, as root, still reads them. An agent that is not root cannot switch users: its
 * tasks run as itself, and one that names another user fails to launch, saying so.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandSpec, TaskSpec } from '../../common/tasks.js';
import { blockedDirectory, DEFAULT_TASK_USER, describeUser, lookupUser, type TaskUser } from '../task-user.js';
import {
  ContainerLaunchError,
  type ContainerExit,
  type ContainerHandle,
  type Containerizer,
  type KnownContainer,
  type LaunchedContainer,
  type LaunchProgress,
  type LaunchRequest,
  type RecoveredContainer,
} from './containerizer.js';
import { isRunning, leadersWithArgument, readProcStat } from './proc-stat.js';
import { decodeExitStatus, EXIT_STATUS_FILE, exitMessage, resolveProgram, wrapperArgv } from './process-wrapper.js';

/** How often a recovered task (no longer the agent's child) is checked for having exited. */
const DEFAULT_POLL_INTERVAL_MS = 250;

/** Options for ProcessContainerizer. */
export interface ProcessContainerizerOptions {
  log?: (msg: string, fields?: object) => void;
  /** How often recovered tasks are checked for an exit (default 250 ms). */
  pollIntervalMs?: number;
  /**
   * Who runs a task that names no user: a name in /etc/passwd or a numeric uid (default nobody),
   * looked up at each launch. The caller has checked it (`orbit agent` refuses root unless told).
   */
  taskUser?: string;
  /** The uid the agent runs as (default its real one); only root (0) switches users. For tests. */
  agentUid?: number;
}

interface Running {
  /** The process group id: the wrapper's pid. */
  pgid: number;
  /** The wrapper's start time, to tell it from a later process with its pid. */
  startTime: number;
  /** Set when this containerizer spawned it (not when it was recovered). */
  child: ChildProcess | undefined;
  flags: {
    /** kill() was called. */
    killed: boolean;
    /** kill() escalated to SIGKILL, which the wrapper cannot outlive to record a status. */
    escalated: boolean;
    /** The leader has exited. */
    done: boolean;
  };
  exited: Promise<ContainerExit>;
  /** Stops watching a recovered task (close()). */
  stopWatching?: () => void;
}

/** A Containerizer that spawns the task's command as a process group on the agent's host. */
export class ProcessContainerizer implements Containerizer {
  readonly kind = 'process' as const;
  private readonly log: (msg: string, fields?: object) => void;
  private readonly pollIntervalMs: number;
  private readonly taskUser: string;
  private readonly agentUid: number | undefined;
  private readonly running = new Map<string, Running>();

  constructor(options: ProcessContainerizerOptions = {}) {
    this.log = options.log ?? (() => {});
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.taskUser = options.taskUser ?? DEFAULT_TASK_USER;
    this.agentUid = options.agentUid ?? process.getuid?.();
  }

  /**
   * Spawns the command with `cwd` the sandbox and exactly `request.env` (plus the agent's PATH, and
   * HOME the sandbox, when the task sets none), as the task's user (see the file's comment).
   * Resolves once the process runs; rejects with ContainerLaunchError (CONTAINER_LAUNCH_FAILED)
   * naming the program when it can't be run: among others, when its user is unknown, is one the
   * agent cannot switch to, or cannot reach the sandbox.
   */
  async launch(request: LaunchRequest, _progress?: LaunchProgress): Promise<LaunchedContainer> {
    const { containerId, task, sandboxDir } = request;
    const [program, args] = argvOf(task.command);
    const failed = (why: string, cause?: unknown): ContainerLaunchError =>
      new ContainerLaunchError(
        `cannot run ${program === '' ? 'the command' : program} for task ${task.taskId}: ${why}`,
        'CONTAINER_LAUNCH_FAILED',
        cause === undefined ? undefined : { cause },
      );
    if (program === '') throw failed('it is empty (no shell command and no program)');
    if (this.running.has(containerId)) throw failed(`container id ${containerId} is already in use`);

    const isDir = await stat(sandboxDir).then((s) => s.isDirectory(), () => false);
    if (!isDir) throw failed(`sandbox directory ${sandboxDir} does not exist`);
    const user = await this.userOf(task).catch((err: unknown) => {
      throw failed(messageOf(err), err);
    });
    if (user !== undefined) await this.giveSandbox(sandboxDir, user).catch((err: unknown) => {
      throw failed(messageOf(err), err);
    });

    const env = { ...request.env };
    if (env['PATH'] === undefined && process.env['PATH'] !== undefined) env['PATH'] = process.env['PATH'];
    env['HOME'] ??= sandboxDir;
    // The wrapper always starts; what exec would refuse must be refused here, with exec's errno.
    const found = await resolveProgram(program, env, sandboxDir, user);
    if ('error' in found) throw failed(`spawn ${program} ${found.error}${user === undefined ? '' : ` (as ${describeUser(user)})`}`);

    const files = await openOutputFiles(sandboxDir, user).catch((err: unknown) => {
      throw failed('cannot open the output files in the sandbox', err);
    });
    const closeFiles = () => Promise.all(files.map((f) => f.close()));
    const [shell, wrapperArgs] = wrapperArgv(join(sandboxDir, EXIT_STATUS_FILE), [found.path, ...args]);
    let child: ChildProcess;
    try {
      child = spawn(shell, wrapperArgs, {
        cwd: sandboxDir,
        env,
        stdio: ['pipe', files[0].fd, files[1].fd],
        // Its own session and group: it outlives the agent, and a kill reaches all it started.
        detached: true,
        // Node (libuv) also clears the supplementary groups when it switches.
        ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
      });
    } catch (err) {
      await closeFiles();
      throw failed(messageOf(err), err);
    }
    // Listen for the exit before any await: a quick command can exit while the files close.
    const flags = { killed: false, escalated: false, done: false };
    const exited = new Promise<ContainerExit>((resolve) => {
      child.once('exit', (code, signal) => {
        flags.done = true;
        this.running.delete(containerId);
        // Whatever the leader left behind in its group dies with it, as in a container.
        if (child.pid !== undefined) this.signalGroup(child.pid, 'SIGKILL');
        const exit: ContainerExit = { exitCode: code, oomKilled: false, killed: flags.killed, message: exitMessage(code, signal) };
        this.log('process: task exited', { containerId, pid: child.pid, ...exit });
        resolve(exit);
      });
    });
    try {
      await spawned(child);
    } catch (err) {
      throw failed(messageOf(err), err);
    } finally {
      // The child holds its own copies of the descriptors.
      await closeFiles();
    }
    const pgid = child.pid;
    if (pgid === undefined) throw failed('spawn returned no pid');
    const handle: ContainerHandle = { pid: pgid, startTime: readProcStat(pgid)?.startTime ?? 0 };
    try {
      request.persist?.(handle);
    } catch (err) {
      // Unrecorded, the task must not run: closing its stdin without `go` makes the wrapper quit.
      child.stdin?.destroy();
      throw failed(`cannot checkpoint its pid: ${messageOf(err)}`, err);
    }
    child.stdin?.on('error', () => {});
    child.stdin?.end('go\n');
    if (!flags.done) this.running.set(containerId, { pgid, startTime: handle.startTime, child, flags, exited });
    this.log('process: task started', { containerId, taskId: task.taskId, pid: pgid, program });
    return { containerId, exited };
  }

  /**
   * Sends SIGTERM to the task's whole process group, then SIGKILL after `graceMs` if the leader
   * still runs; resolves once it has exited. A no-op for an unknown or already exited container.
   */
  async kill(containerId: string, graceMs: number): Promise<void> {
    const entry = this.running.get(containerId);
    if (entry === undefined || entry.flags.done) return;
    entry.flags.killed = true;
    this.signalLeaderGroup(entry, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace-over'>((resolve) => {
      timer = setTimeout(() => resolve('grace-over'), Math.max(0, graceMs));
    });
    try {
      if ((await Promise.race([entry.exited, graceOver])) === 'grace-over') {
        entry.flags.escalated = true;
        this.signalLeaderGroup(entry, 'SIGKILL');
      }
    } finally {
      clearTimeout(timer);
    }
    await entry.exited;
  }

  /**
   * Finds each known task by its checkpointed pid and start time (or, when none was saved, by the
   * status file its wrapper names on its command line). One still running is watched again
   * (polled: it is no longer this process's child); one that ended is reported with the status its
   * wrapper recorded, or as gone when it recorded none. Process tasks carry no agent label, so
   * there are no orphans to look for.
   */
  async recover(_agentId: string, known: readonly KnownContainer[]): Promise<Map<string, RecoveredContainer>> {
    const recovered = new Map<string, RecoveredContainer>();
    for (const k of known) {
      const live = this.running.get(k.containerId);
      if (live !== undefined) {
        // Spawned by this process (an agent restarted in-process): its exit may be recorded before
        // the child's exit event is seen. The recorded status is the last thing the wrapper does.
        const status = await readExitStatus(k.sandboxDir);
        recovered.set(k.containerId, status === undefined
          ? { status: 'running', container: { containerId: k.containerId, exited: live.exited } }
          : { status: 'exited', exit: { ...decodeExitStatus(status), oomKilled: false, killed: false } });
        continue;
      }
      const handle = k.handle ?? findWrapper(k.sandboxDir);
      if (handle === undefined) {
        const status = await readExitStatus(k.sandboxDir);
        // Without a recorded pid and a status, the agent stopped between spawning the wrapper and
        // recording it: the wrapper never got its `go`, so the command never ran.
        recovered.set(k.containerId, status === undefined
          ? { status: 'gone', message: 'the agent restarted before the task started' }
          : { status: 'exited', exit: { ...decodeExitStatus(status), oomKilled: false, killed: false } });
        continue;
      }
      const { pid, startTime } = handle;
      if (isRunning(pid, startTime)) {
        recovered.set(k.containerId, { status: 'running', container: this.watch(k, handle) });
        this.log('process: recovered a running task', { containerId: k.containerId, pid });
        continue;
      }
      this.killStragglers(handle);
      const status = await readExitStatus(k.sandboxDir);
      if (status === undefined) {
        recovered.set(k.containerId, { status: 'gone', message: `process ${pid} ended while the agent was away and left no exit status` });
      } else {
        recovered.set(k.containerId, { status: 'exited', exit: { ...decodeExitStatus(status), oomKilled: false, killed: false } });
      }
    }
    return recovered;
  }

  /**
   * Stops holding the event loop open for running tasks and stops watching recovered ones (they
   * all keep running; the `exited` promises of spawned ones still settle while this process
   * lives, those of recovered ones never do). Idempotent.
   */
  async close(): Promise<void> {
    for (const entry of this.running.values()) {
      entry.child?.unref();
      entry.stopWatching?.();
    }
  }

  /**
   * Who runs the task: undefined for the agent itself (no switch). Root runs it as the user it
   * names, else as the task user; any other agent runs every task as itself, and refuses one that
   * names another user rather than run it as the wrong one.
   */
  private async userOf(task: TaskSpec): Promise<TaskUser | undefined> {
    const named = task.command.user;
    if (this.agentUid === 0) {
      return lookupUser(named || this.taskUser).catch((err: unknown) => {
        throw new Error(named ? messageOf(err) : `the agent's task user (--task-user): ${messageOf(err)}`, { cause: err });
      });
    }
    if (!named) return undefined;
    const user = await lookupUser(named);
    if (user.uid !== this.agentUid) {
      throw new Error(`it names ${describeUser(user)}, but the agent runs as uid ${this.agentUid ?? 'unknown'}, not as root, and cannot switch users`);
    }
    return undefined;
  }

  /**
   * Makes the sandbox the user's (mode 0700: other tasks' users cannot look in), after checking
   * that the user can reach it: every directory above it must be searchable by that user.
   */
  private async giveSandbox(sandboxDir: string, user: TaskUser): Promise<void> {
    const blocked = await blockedDirectory(sandboxDir, user);
    if (blocked !== undefined) {
      throw new Error(`${describeUser(user)} cannot reach the sandbox: it may not search ${blocked.dir} (mode ${blocked.mode.toString(8).padStart(4, '0')}, owner uid ${blocked.uid}); the agent's work dir must lie under directories the task user can search`);
    }
    await chown(sandboxDir, user.uid, user.gid);
    await chmod(sandboxDir, 0o700);
  }

  /** Watches a recovered task until its leader exits, then reads its recorded status. */
  private watch(known: KnownContainer, handle: ContainerHandle): LaunchedContainer {
    const flags = { killed: false, escalated: false, done: false };
    let timer: NodeJS.Timeout | undefined;
    const exited = new Promise<ContainerExit>((resolve) => {
      timer = setInterval(() => {
        if (isRunning(handle.pid, handle.startTime)) return;
        clearInterval(timer);
        flags.done = true;
        this.running.delete(known.containerId);
        this.killStragglers(handle);
        void readExitStatus(known.sandboxDir).then((status) => {
          const how = status !== undefined
            ? decodeExitStatus(status)
            : { exitCode: null, message: flags.escalated ? 'killed by SIGKILL' : 'ended and left no exit status' };
          const exit: ContainerExit = { ...how, oomKilled: false, killed: flags.killed };
          this.log('process: recovered task exited', { containerId: known.containerId, pid: handle.pid, ...exit });
          resolve(exit);
        });
      }, this.pollIntervalMs);
    });
    this.running.set(known.containerId, { pgid: handle.pid, startTime: handle.startTime, child: undefined, flags, exited, stopWatching: () => clearInterval(timer) });
    return { containerId: known.containerId, exited };
  }

  /**
   * SIGKILLs what a dead leader left in its group. The group id is the leader's pid, which the
   * kernel does not hand out again while any member of the group lives; so when a process now
   * holds that pid with another start time, the group is gone and the pid is someone else's.
   */
  private killStragglers(handle: ContainerHandle): void {
    const now = readProcStat(handle.pid);
    if (now !== undefined && now.startTime !== handle.startTime) return;
    this.signalGroup(handle.pid, 'SIGKILL');
  }

  /** Signals the group of a leader that still runs (a recovered leader is checked for pid reuse). */
  private signalLeaderGroup(entry: Running, signal: NodeJS.Signals): void {
    if (entry.child === undefined && !isRunning(entry.pgid, entry.startTime)) return;
    this.signalGroup(entry.pgid, signal);
  }

  /** Signals every process in the group; a group that is already gone is fine. */
  private signalGroup(pgid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(-pgid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') this.log('process: signal failed', { pgid, signal, error: messageOf(err) });
    }
  }
}

/** The running wrapper of the task with this sandbox (found by its command line), if any. */
function findWrapper(sandboxDir: string): ContainerHandle | undefined {
  const [pid] = leadersWithArgument(join(sandboxDir, EXIT_STATUS_FILE));
  const stat = pid === undefined ? undefined : readProcStat(pid);
  return stat && { pid: stat.pid, startTime: stat.startTime };
}

/** The status the wrapper recorded in the sandbox, or undefined when there is none. */
async function readExitStatus(sandboxDir: string): Promise<number | undefined> {
  const text = await readFile(join(sandboxDir, EXIT_STATUS_FILE), 'utf8').catch(() => undefined);
  const status = text === undefined ? NaN : Number(text.trim());
  return Number.isInteger(status) && status >= 0 ? status : undefined;
}

/** The program and its arguments: `/bin/sh -c value` for a shell command. */
function argvOf(command: CommandSpec): [string, string[]] {
  return command.shell ? ['/bin/sh', ['-c', command.value]] : [command.value, [...command.arguments]];
}

/** Resolves on the child's 'spawn' event, rejects on its spawn 'error' (ENOENT, EACCES, ...). */
function spawned(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      child.off('spawn', onSpawn);
      reject(err);
    };
    const onSpawn = () => {
      child.off('error', onError);
      // Later errors (a failed kill) must not crash the agent; kill() reports them itself.
      child.on('error', () => {});
      resolve();
    };
    child.once('error', onError);
    child.once('spawn', onSpawn);
  });
}

/** Opens the sandbox's stdout and stderr for appending; with `user`, they become that user's. */
async function openOutputFiles(sandboxDir: string, user: TaskUser | undefined): Promise<[FileHandle, FileHandle]> {
  const files: FileHandle[] = [];
  try {
    for (const name of ['stdout', 'stderr']) {
      const file = await open(join(sandboxDir, name), 'a');
      files.push(file);
      if (user !== undefined) await file.chown(user.uid, user.gid);
    }
    return [files[0]!, files[1]!];
  } catch (err) {
    await Promise.all(files.map((f) => f.close()));
    throw err;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
