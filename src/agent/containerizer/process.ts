/**
 * Runs tasks as plain child processes of the agent, each in its own process group.
 *
 * The task writes straight into the sandbox's stdout/stderr files (the files are the child's own
 * descriptors, so output survives without the agent copying it). Nothing isolates the task:
 * cpus and mem are not enforced, and the task sees the agent's filesystem and network.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandSpec } from '../../common/tasks.js';
import {
  ContainerLaunchError,
  type ContainerExit,
  type Containerizer,
  type LaunchedContainer,
  type LaunchProgress,
  type LaunchRequest,
} from './containerizer.js';

/** Options for ProcessContainerizer. */
export interface ProcessContainerizerOptions {
  log?: (msg: string, fields?: object) => void;
}

interface Running {
  child: ChildProcess;
  /** The process group id: the leader's pid. */
  pgid: number;
  flags: {
    /** kill() was called. */
    killed: boolean;
    /** The leader has exited. */
    done: boolean;
  };
  exited: Promise<ContainerExit>;
}

/** A Containerizer that spawns the task's command as a process group on the agent's host. */
export class ProcessContainerizer implements Containerizer {
  readonly kind = 'process' as const;
  private readonly log: (msg: string, fields?: object) => void;
  private readonly running = new Map<string, Running>();

  constructor(options: ProcessContainerizerOptions = {}) {
    this.log = options.log ?? (() => {});
  }

  /**
   * Spawns the command with `cwd` the sandbox and exactly `request.env` (plus the agent's PATH when
   * the task sets none). Resolves once the process runs; rejects with ContainerLaunchError
   * (CONTAINER_LAUNCH_FAILED) naming the program when it can't be spawned.
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
    const ids = task.command.user ? await lookupUser(task.command.user).catch((err: unknown) => {
      throw failed(messageOf(err), err);
    }) : undefined;

    const env = { ...request.env };
    if (env['PATH'] === undefined && process.env['PATH'] !== undefined) env['PATH'] = process.env['PATH'];

    const files = await openOutputFiles(sandboxDir).catch((err: unknown) => {
      throw failed('cannot open the output files in the sandbox', err);
    });
    const closeFiles = () => Promise.all(files.map((f) => f.close()));
    let child: ChildProcess;
    try {
      child = spawn(program, args, {
        cwd: sandboxDir,
        env,
        stdio: ['ignore', files[0].fd, files[1].fd],
        detached: true,
        ...ids,
      });
    } catch (err) {
      await closeFiles();
      throw failed(messageOf(err), err);
    }
    // Listen for the exit before any await: a quick command can exit while the files close.
    const flags = { killed: false, done: false };
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
    if (!flags.done) this.running.set(containerId, { child, pgid, flags, exited });
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
    this.signalGroup(entry.pgid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace-over'>((resolve) => {
      timer = setTimeout(() => resolve('grace-over'), Math.max(0, graceMs));
    });
    try {
      if ((await Promise.race([entry.exited, graceOver])) === 'grace-over') this.signalGroup(entry.pgid, 'SIGKILL');
    } finally {
      clearTimeout(timer);
    }
    await entry.exited;
  }

  /**
   * Stops holding the event loop open for running tasks (they keep running; their `exited`
   * promises still settle while this process lives). Idempotent.
   */
  async close(): Promise<void> {
    for (const entry of this.running.values()) entry.child.unref();
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

function exitMessage(code: number | null, signal: NodeJS.Signals | null): string {
  if (code !== null) return `exited with code ${code}`;
  return signal !== null ? `killed by ${signal}` : 'exited';
}

async function openOutputFiles(sandboxDir: string): Promise<[FileHandle, FileHandle]> {
  const stdout = await open(join(sandboxDir, 'stdout'), 'a');
  try {
    return [stdout, await open(join(sandboxDir, 'stderr'), 'a')];
  } catch (err) {
    await stdout.close();
    throw err;
  }
}

/** uid and gid of a user name (from /etc/passwd) or of a numeric uid. */
async function lookupUser(user: string): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === user || (uid === user && /^\d+$/.test(user))) return { uid: Number(uid), gid: Number(gid) };
  }
  if (/^\d+$/.test(user)) return { uid: Number(user), gid: Number(user) };
  throw new Error(`user ${user} is not in /etc/passwd`);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
