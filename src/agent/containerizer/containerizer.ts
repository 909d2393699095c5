/**
 * The agent's port to whatever runs tasks. One implementation per kind (`docker.ts` is the only
 * file that imports dockerode; `process.ts` runs child processes). The agent owns task state,
 * checkpoints and status updates; a containerizer launches, waits, kills, finds its containers
 * again after an agent restart (`recover`), and runs commands inside them (`exec`).
 */
import type { TaskSpec } from '../../common/tasks.js';

export interface LaunchRequest {
  /** Unique per launch; names the container (Docker) or the process record. */
  containerId: string;
  task: TaskSpec;
  frameworkId: string;
  agentId: string;
  /** Existing directory; the task's output goes to `stdout` and `stderr` files in it. */
  sandboxDir: string;
  /** The complete environment for the task (PORT0..n, PORTS, ORBIT_* and the task's own). */
  env: Record<string, string>;
  /**
   * Called with what `recover` needs to find the container again (the process containerizer's pid
   * and start time), before the task's command starts; the agent checkpoints it here, so a crash
   * at any moment leaves either a findable task or one that never ran. Kinds that find their
   * containers by name or label (Docker) do not call it.
   */
  persist?: (handle: ContainerHandle) => void;
  /**
   * Keep what an exited container leaves behind (Docker: the container) until `remove`, instead of
   * removing it before `exited` settles: an agent removes it only once the exit is checkpointed.
   */
  keepExited?: boolean;
}

/** What a containerizer needs, besides the container id, to find a container after a restart. */
export interface ContainerHandle {
  /** The process group leader (the task's wrapper shell). */
  pid: number;
  /** Field 22 of /proc/PID/stat when it started: tells the process from a later one with its pid. */
  startTime: number;
}

/** How a container ended. */
export interface ContainerExit {
  /** Exit code, or null when it died of a signal and no code is known. */
  exitCode: number | null;
  /** The kernel's OOM killer ended it (Docker's State.OOMKilled). */
  oomKilled: boolean;
  /** It ended because kill() was called. */
  killed: boolean;
  /** A human line: "exited with code 3", "killed by SIGKILL", ... */
  message: string;
}

export interface LaunchedContainer {
  containerId: string;
  /** Settles once, when the container has exited (never rejects). */
  exited: Promise<ContainerExit>;
}

export type LaunchProgress = (message: string) => void;

/** A container the agent's checkpoint says it started, to be found again by `recover`. */
export interface KnownContainer {
  containerId: string;
  taskId: string;
  frameworkId: string;
  sandboxDir: string;
  /** What `LaunchRequest.persist` was given, when it was called before the agent stopped. */
  handle?: ContainerHandle;
}

/**
 * What became of a known container while the agent was away:
 * - running: it still runs, and is watched again (its `exited` settles when it ends);
 * - exited: it ended, and this is how (Docker keeps the container until `remove`);
 * - gone: it left no trace (never started, or removed by someone else); `message` says which.
 */
export type RecoveredContainer =
  | { status: 'running'; container: LaunchedContainer }
  | { status: 'exited'; exit: ContainerExit }
  | { status: 'gone'; message: string };

/** What a command run inside a container (a health check) did. */
export interface ExecResult {
  /** Null when it did not finish within its timeout or could not run at all. */
  exitCode: number | null;
  /** The first bytes of its stdout and stderr, for a status message. */
  output: string;
}

/** A launch that could not start; `reason` says whether the image or the start failed. */
export class ContainerLaunchError extends Error {
  override readonly name = 'ContainerLaunchError';
  constructor(
    message: string,
    readonly reason: 'IMAGE_PULL_FAILED' | 'CONTAINER_LAUNCH_FAILED',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface Containerizer {
  readonly kind: 'docker' | 'process' | 'simulated';
  /** False for kinds whose tasks write nothing (simulated): the runner then creates no sandbox. */
  readonly needsSandbox?: boolean;
  /**
   * Starts the task; resolves once it is running, rejects with ContainerLaunchError when it cannot
   * start (the image can't be pulled, the program can't be spawned). `progress` hears about slow
   * steps such as an image pull.
   */
  launch(request: LaunchRequest, progress?: LaunchProgress): Promise<LaunchedContainer>;
  /**
   * Sends SIGTERM, then SIGKILL after `graceMs`; resolves once the container has exited.
   * A no-op for an unknown or already exited container.
   */
  kill(containerId: string, graceMs: number): Promise<void>;
  /**
   * After an agent restart: finds each known container again and says what became of it (every
   * known id is in the answer). Containers labelled with `agentId` that are not known are orphans
   * of a launch the checkpoint never recorded: they are killed and removed. Removes nothing known.
   */
  recover(agentId: string, known: readonly KnownContainer[]): Promise<Map<string, RecoveredContainer>>;
  /**
   * Frees what an exited container left behind (Docker: the container itself), once its exit has
   * been checkpointed. Idempotent; a no-op for unknown ids and for kinds that leave nothing.
   */
  remove?(containerId: string): Promise<void>;
  /**
   * Runs `command` inside a running container, as a health check does; kinds without it (process)
   * have checks run on the host, in the sandbox. Never rejects: a failure is a null exit code.
   */
  exec?(containerId: string, command: readonly string[], timeoutMs: number): Promise<ExecResult>;
  /** Checks that the containerizer can run tasks here; rejects with a message saying why not. */
  probe?(): Promise<void>;
  /** Stops background work (streams, timers); does not kill running containers. */
  close(): Promise<void>;
}
