/**
 * The agent's port to whatever runs tasks. One implementation per kind (`docker.ts` is the only
 * file that imports dockerode; `process.ts` runs child processes). The agent owns task state and
 * status updates; a containerizer only launches, waits and kills.
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
  /** Checks that the containerizer can run tasks here; rejects with a message saying why not. */
  probe?(): Promise<void>;
  /** Stops background work (streams, timers); does not kill running containers. */
  close(): Promise<void>;
}
