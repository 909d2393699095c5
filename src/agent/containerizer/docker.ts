/**
 * Runs tasks as Docker containers through dockerode (the only file that imports it).
 *
 * Every container uses host networking and carries `orbit.*` labels naming the agent, framework,
 * task and container id, so a restarted agent finds what it started (`recover`). A container is
 * removed once it has exited and its exit has been read: at once by default, or — for an agent,
 * which must checkpoint the exit first — when `remove` is called (`LaunchRequest.keepExited`). The
 * engine's AutoRemove stays off either way, so an exit is never lost to a crash. The task's output
 * stays in the sandbox's stdout/stderr files.
 *
 * Containers are hardened beyond Docker's defaults: never privileged, `no-new-privileges` (a setuid
 * binary gains nothing), every capability dropped but TASK_CAPABILITIES, and no host path mounted
 * (the output reaches the sandbox through the attach stream, not a bind). A container runs as its
 * image's user unless the task names one.
 */
import { setMaxListeners } from 'node:events';
import { chmod } from 'node:fs/promises';
import type { Duplex, Writable } from 'node:stream';
import Dockerode from 'dockerode';
import { scalar } from '../../common/resources.js';
import type { CommandSpec } from '../../common/tasks.js';
import {
  ContainerLaunchError,
  type ContainerExit,
  type Containerizer,
  type ExecResult,
  type KnownContainer,
  type LaunchedContainer,
  type LaunchProgress,
  type LaunchRequest,
  type RecoveredContainer,
} from './containerizer.js';
import { execInContainer } from './docker-exec.js';
import { exitMessage } from './docker-exit.js';
import { openOutputFiles, streamEnded, type OutputFiles } from './docker-output.js';

/** Docker refuses memory limits below this (the engine's linuxMinMemory). */
const DOCKER_MIN_MEMORY_BYTES = 6 * 1024 * 1024;
const BYTES_PER_MIB = 1024 * 1024;
/** How long to wait for the attach stream to drain once the container has exited. */
const OUTPUT_DRAIN_TIMEOUT_MS = 5_000;

// Labels on every container Orbit starts: a restarted agent finds its containers by them.
/** The agent that started the container. */
export const LABEL_AGENT_ID = 'orbit.agent-id';
/** The framework whose task runs in it. */
export const LABEL_FRAMEWORK_ID = 'orbit.framework-id';
/** The task it runs. */
export const LABEL_TASK_ID = 'orbit.task-id';
/** Orbit's container id (the Docker name is `orbit-<container id>`). */
export const LABEL_CONTAINER_ID = 'orbit.container-id';

/**
 * The capabilities a task's container keeps (all others are dropped): Docker's default set without
 * NET_RAW (raw sockets: packet spoofing, ARP tricks on the host network every container shares),
 * MKNOD (device nodes), AUDIT_WRITE (the host's audit log), SETFCAP and SETPCAP (granting file or
 * process capabilities) and SYS_CHROOT. What is kept lets a usual image start as root, fix up its
 * data directory and drop to its own user (postgres, redis, nginx do), and serve a low port.
 */
export const TASK_CAPABILITIES: readonly string[] = [
  /** chown files: an entrypoint that hands its data directory to the service's user. */
  'CHOWN',
  /** Root reads and writes files it does not own (the same entrypoints, in volumes). */
  'DAC_OVERRIDE',
  /** chmod and utime on files it does not own (the same entrypoints). */
  'FOWNER',
  /** Keeps set-group-id bits on files it changes (package installs, shared group directories). */
  'FSETID',
  /** Signals the container's own processes whatever their user (a supervisor, a shell's kill). */
  'KILL',
  /** setgid/setgroups: dropping to the service's user (gosu, su-exec, setpriv). */
  'SETGID',
  /** setuid: the same drop. */
  'SETUID',
  /** Listens on a port below 1024 (tasks use the host's network). */
  'NET_BIND_SERVICE',
];

/** Options for DockerContainerizer; with neither `docker` nor `socketPath`, dockerode's default. */
export interface DockerContainerizerOptions {
  /** The engine's Unix socket, e.g. `/var/run/docker.sock`. */
  socketPath?: string;
  /** A ready client (tests, or a remote engine); wins over `socketPath`. */
  docker?: Dockerode;
  log?: (msg: string, fields?: object) => void;
}

/** What kill() and the exit watcher share about one container. */
interface Flags {
  /** kill() was called. */
  killed: boolean;
  /** The container has exited (or can no longer be watched). */
  done: boolean;
}

interface Running {
  container: Dockerode.Container;
  flags: Flags;
  exited: Promise<ContainerExit>;
}

/** The Docker name Orbit gives the container of `containerId`. */
export function dockerName(containerId: string): string {
  return `orbit-${containerId}`;
}

/** A Containerizer backed by a Docker engine. */
export class DockerContainerizer implements Containerizer {
  readonly kind = 'docker' as const;
  private readonly docker: Dockerode;
  private readonly log: (msg: string, fields?: object) => void;
  private readonly running = new Map<string, Running>();
  /** Aborts every long-lived engine request (wait, attach, pull) on close(). */
  private readonly abort = new AbortController();

  constructor(options: DockerContainerizerOptions = {}) {
    // Every running container holds a wait and an attach (or logs) request on this one signal, and
    // each request removes its listener when it ends: many listeners is no leak here.
    setMaxListeners(0, this.abort.signal);
    this.docker =
      options.docker ?? new Dockerode(options.socketPath === undefined ? {} : { socketPath: options.socketPath });
    this.log = options.log ?? (() => {});
  }

  /** Resolves when the engine answers a ping within `timeoutMs`; rejects naming the problem. */
  async probe(timeoutMs = 5_000): Promise<void> {
    const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref());
    try {
      await Promise.race([this.docker.ping(), timer]);
    } catch (err) {
      throw new Error(`the Docker engine does not answer (${err instanceof Error ? err.message : String(err)}); start it (scripts/start-dockerd) or run with --containerizers process`, { cause: err });
    }
  }

  /**
   * Pulls the image when it is absent (or `forcePull`), creates the container, attaches its output
   * to the sandbox files and starts it. Rejects with ContainerLaunchError: IMAGE_PULL_FAILED when the
   * image can't be had, CONTAINER_LAUNCH_FAILED for anything else (no image named, a program that
   * does not exist, an id already in use).
   */
  async launch(request: LaunchRequest, progress: LaunchProgress = () => {}): Promise<LaunchedContainer> {
    const { containerId, task } = request;
    const image = task.container.image;
    if (image === undefined || image.trim() === '') {
      throw new ContainerLaunchError(`task ${task.taskId} names no container image (container.image is required for docker)`, 'CONTAINER_LAUNCH_FAILED');
    }
    if (this.abort.signal.aborted) {
      throw new ContainerLaunchError(`cannot launch ${containerId}: the Docker containerizer is closed`, 'CONTAINER_LAUNCH_FAILED');
    }
    if (this.running.has(containerId)) {
      throw new ContainerLaunchError(`container id ${containerId} is already in use`, 'CONTAINER_LAUNCH_FAILED');
    }
    await this.ensureImage(image, task.container.forcePull === true, progress);

    const launchFailed = (what: string, cause: unknown): ContainerLaunchError =>
      new ContainerLaunchError(`${what} for task ${task.taskId} (image ${image}): ${messageOf(cause)}`, 'CONTAINER_LAUNCH_FAILED', { cause });

    // Only the agent writes the sandbox of a container; process tasks' users must not read it.
    const files = await chmod(request.sandboxDir, 0o700).then(() => openOutputFiles(request.sandboxDir)).catch((err: unknown) => {
      throw launchFailed('cannot open the output files in the sandbox', err);
    });
    let container: Dockerode.Container;
    try {
      container = await this.docker.createContainer(this.createOptions(request, image));
    } catch (err) {
      await files.close();
      throw launchFailed('cannot create the container', err);
    }

    // Attach before start so not a byte of output is missed.
    let drained: Promise<void>;
    let stream: NodeJS.ReadableStream | undefined;
    try {
      stream = await container.attach({ stream: true, stdout: true, stderr: true, abortSignal: this.abort.signal });
      drained = streamEnded(stream);
      this.docker.modem.demuxStream(stream, files.stdout, files.stderr);
      progress(`starting container ${dockerName(containerId)}`);
      await container.start();
    } catch (err) {
      await container.remove({ force: true }).catch((e: unknown) => this.log('docker: remove after failed start failed', { containerId, error: messageOf(e) }));
      if (stream !== undefined && 'destroy' in stream && typeof stream.destroy === 'function') stream.destroy();
      await files.close();
      throw launchFailed('cannot start the container', err);
    }

    this.log('docker: container started', { containerId, taskId: task.taskId, image });
    return this.track(containerId, container, drained, files, request.keepExited === true);
  }

  /**
   * Finds each known container by its labels (or its name) and says what became of it: one still
   * running is attached again, its log replayed into the sandbox files from where they end; one
   * that exited is reported with its code (OOMKilled included) and kept until `remove`. Running or
   * exited containers labelled with `agentId` that the agent does not know are orphans: they are
   * killed and removed.
   */
  async recover(agentId: string, known: readonly KnownContainer[]): Promise<Map<string, RecoveredContainer>> {
    const labelled = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT_ID}=${agentId}`] } });
    const byContainerId = new Map(labelled.map((c) => [c.Labels[LABEL_CONTAINER_ID] ?? '', c.Id]));
    const recovered = new Map<string, RecoveredContainer>();
    for (const k of known) {
      recovered.set(k.containerId, await this.recoverOne(k, byContainerId.get(k.containerId)));
      byContainerId.delete(k.containerId);
    }
    for (const [containerId, id] of byContainerId) {
      this.log('docker: removing an orphan container (not in the checkpoint)', { containerId, id });
      await this.docker.getContainer(id).remove({ force: true }).catch((err: unknown) => this.log('docker: orphan removal failed', { containerId, error: messageOf(err) }));
    }
    return recovered;
  }

  /** Removes an exited container; idempotent (an absent container is fine). */
  async remove(containerId: string): Promise<void> {
    if (this.running.has(containerId)) return;
    await this.docker.getContainer(dockerName(containerId)).remove({ force: true }).catch((err: unknown) => {
      if (statusCodeOf(err) !== 404) this.log('docker: remove failed', { containerId, error: messageOf(err) });
    });
  }

  /** Runs `command` in the running container (docker exec), bounded by `timeoutMs`. */
  exec(containerId: string, command: readonly string[], timeoutMs: number): Promise<ExecResult> {
    const container = this.docker.getContainer(dockerName(containerId));
    return execInContainer(container, (stream: Duplex, out: Writable, err: Writable) => this.docker.modem.demuxStream(stream, out, err), command, timeoutMs);
  }

  /**
   * Sends SIGTERM, then SIGKILL if the container still runs after `graceMs`; resolves once it has
   * exited. A no-op for an unknown or already exited container. A process that is the container's
   * PID 1 and installs no SIGTERM handler ignores SIGTERM (Docker's rule), so it dies at SIGKILL.
   */
  async kill(containerId: string, graceMs: number): Promise<void> {
    const entry = this.running.get(containerId);
    if (entry === undefined || entry.flags.done) return;
    entry.flags.killed = true;
    await this.signal(entry, 'SIGTERM');
    if (!(await settlesWithin(entry.exited, graceMs))) await this.signal(entry, 'SIGKILL');
    await entry.exited;
  }

  /**
   * Aborts the engine requests that watch running containers; their `exited` promises then never
   * settle (the containers keep running and keep their labels). Idempotent.
   */
  async close(): Promise<void> {
    this.abort.abort();
    this.running.clear();
  }

  /** One known container: running (attached again), exited, or gone. */
  private async recoverOne(known: KnownContainer, id: string | undefined): Promise<RecoveredContainer> {
    const container = this.docker.getContainer(id ?? dockerName(known.containerId));
    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await container.inspect();
    } catch (err) {
      if (statusCodeOf(err) === 404) return { status: 'gone', message: `container ${dockerName(known.containerId)} no longer exists` };
      throw err;
    }
    if (info.State.Running) {
      const files = await openOutputFiles(known.sandboxDir, { resume: true });
      let drained: Promise<void> = Promise.resolve();
      try {
        const log = (await container.logs({ follow: true, stdout: true, stderr: true, abortSignal: this.abort.signal })) as unknown as NodeJS.ReadableStream;
        drained = streamEnded(log);
        this.docker.modem.demuxStream(log, files.stdout, files.stderr);
      } catch (err) {
        this.log('docker: cannot follow the log of a recovered container; its output is lost', { containerId: known.containerId, error: messageOf(err) });
      }
      this.log('docker: recovered a running container', { containerId: known.containerId });
      return { status: 'running', container: this.track(known.containerId, container, drained, files, true) };
    }
    if (info.State.Status === 'created') return { status: 'gone', message: `container ${dockerName(known.containerId)} was created but never started` };
    const exitCode = typeof info.State.ExitCode === 'number' ? info.State.ExitCode : null;
    const oomKilled = info.State.OOMKilled === true;
    return { status: 'exited', exit: { exitCode, oomKilled, killed: false, message: exitMessage(exitCode, oomKilled, false, info.HostConfig.Memory ?? 0) } };
  }

  /** Starts watching a running container; kill() and close() find it by its id. */
  private track(containerId: string, container: Dockerode.Container, drained: Promise<void>, files: OutputFiles, keepExited: boolean): LaunchedContainer {
    const flags: Flags = { killed: false, done: false };
    const exited = this.watch(containerId, container, flags, drained, files, keepExited);
    this.running.set(containerId, { container, flags, exited });
    return { containerId, exited };
  }

  private async signal(entry: Running, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    try {
      await entry.container.kill({ signal });
    } catch (err) {
      // 409 (not running) and 404 (already removed) mean it has exited: exactly what we wanted.
      const code = statusCodeOf(err);
      if (code !== 409 && code !== 404) this.log('docker: kill failed', { container: entry.container.id, signal, error: messageOf(err) });
    }
  }

  private createOptions(request: LaunchRequest, image: string): Dockerode.ContainerCreateOptions {
    const { task } = request;
    const cpus = scalar(task.resources, 'cpus');
    const memMiB = scalar(task.resources, 'mem');
    const memory = memMiB > 0 ? Math.max(Math.round(memMiB * BYTES_PER_MIB), DOCKER_MIN_MEMORY_BYTES) : undefined;
    // No Binds or Mounts: nothing of the host is mounted (the output comes through the attach stream).
    const hostConfig: Dockerode.HostConfig = {
      NetworkMode: 'host',
      Privileged: false,
      SecurityOpt: ['no-new-privileges'],
      CapDrop: ['ALL'],
      CapAdd: [...TASK_CAPABILITIES],
    };
    if (cpus > 0) hostConfig.NanoCpus = Math.round(cpus * 1e9);
    if (memory !== undefined) {
      hostConfig.Memory = memory;
      hostConfig.MemorySwap = memory;
    }
    return {
      name: dockerName(request.containerId),
      Image: image,
      ...commandOf(task.command),
      Env: Object.entries(request.env).map(([k, v]) => `${k}=${v}`),
      ...(task.command.user ? { User: task.command.user } : {}),
      Labels: {
        [LABEL_AGENT_ID]: request.agentId,
        [LABEL_FRAMEWORK_ID]: request.frameworkId,
        [LABEL_TASK_ID]: task.taskId,
        [LABEL_CONTAINER_ID]: request.containerId,
      },
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      HostConfig: hostConfig,
    };
  }

  /** Uses the local image unless `forcePull`; otherwise pulls it, reporting progress. */
  private async ensureImage(image: string, forcePull: boolean, progress: LaunchProgress): Promise<void> {
    if (!forcePull) {
      try {
        await this.docker.getImage(image).inspect();
        return;
      } catch (err) {
        if (statusCodeOf(err) !== 404) {
          throw new ContainerLaunchError(`cannot look up image ${image} in the Docker engine: ${messageOf(err)}`, 'CONTAINER_LAUNCH_FAILED', { cause: err });
        }
      }
    }
    progress(`pulling image ${image}`);
    try {
      await this.pull(image, progress);
    } catch (err) {
      const why = forcePull ? 'could not be pulled (force pull)' : 'is not present locally and could not be pulled';
      throw new ContainerLaunchError(`image ${image} ${why}: ${messageOf(err)}`, 'IMAGE_PULL_FAILED', { cause: err });
    }
    progress(`pulled image ${image}`);
  }

  private async pull(image: string, progress: LaunchProgress): Promise<void> {
    const stream = await this.docker.pull(image, { abortSignal: this.abort.signal });
    // Layers repeat "Downloading" with byte counts; report each layer's status once per change.
    const lastStatus = new Map<string, string>();
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null) => (err ? reject(err) : resolve()),
        (event: { status?: string; id?: string; error?: string }) => {
          if (event.error !== undefined || event.status === undefined) return;
          const key = event.id ?? '';
          if (lastStatus.get(key) === event.status) return;
          lastStatus.set(key, event.status);
          progress(`${image}: ${event.id ? `${event.id} ` : ''}${event.status}`);
        },
      );
    });
  }

  /**
   * Waits for the container to exit, reads why, flushes and closes the output files, removes the
   * container (unless `keepExited`: then `remove` does), and only then settles. Never rejects: an
   * engine error becomes an exit with a null code.
   */
  private async watch(
    containerId: string,
    container: Dockerode.Container,
    flags: Flags,
    drained: Promise<void>,
    files: OutputFiles,
    keepExited: boolean,
  ): Promise<ContainerExit> {
    let exitCode: number | null = null;
    let oomKilled = false;
    let memoryLimit = 0;
    let failure: string | undefined;
    try {
      const result = (await container.wait({ abortSignal: this.abort.signal })) as { StatusCode?: number };
      exitCode = typeof result.StatusCode === 'number' ? result.StatusCode : null;
      const info = await container.inspect();
      if (typeof info.State.ExitCode === 'number') exitCode = info.State.ExitCode;
      oomKilled = info.State.OOMKilled === true;
      memoryLimit = info.HostConfig.Memory ?? 0;
    } catch (err) {
      failure = messageOf(err);
    }
    flags.done = true;
    if (this.abort.signal.aborted) {
      // close(): the container may well still run, so this is no exit to report.
      await files.close().catch(() => {});
      return new Promise<never>(() => {});
    }
    if (failure !== undefined) this.log('docker: lost track of container', { containerId, error: failure });
    if (!(await settlesWithin(drained, OUTPUT_DRAIN_TIMEOUT_MS))) {
      this.log('docker: output stream did not end after exit; closing the files', { containerId });
    }
    await files.close().catch((err: unknown) => this.log('docker: closing output files failed', { containerId, error: messageOf(err) }));
    this.running.delete(containerId);
    if (!keepExited) await this.remove(containerId);
    const exit: ContainerExit = {
      exitCode,
      oomKilled,
      killed: flags.killed,
      message: failure !== undefined ? `lost track of the container: ${failure}` : exitMessage(exitCode, oomKilled, flags.killed, memoryLimit),
    };
    this.log('docker: container exited', { containerId, ...exit });
    return exit;
  }
}

/** Entrypoint/Cmd overrides for a command, as Mesos does: the task's program replaces the image's. */
function commandOf(command: CommandSpec): Pick<Dockerode.ContainerCreateOptions, 'Entrypoint' | 'Cmd'> {
  if (command.shell) return { Entrypoint: ['/bin/sh', '-c'], Cmd: [command.value] };
  if (command.value !== '') return { Entrypoint: [command.value], Cmd: [...command.arguments] };
  // No program: the image's own Entrypoint/Cmd; arguments, if any, replace its Cmd.
  return command.arguments.length > 0 ? { Cmd: [...command.arguments] } : {};
}

/** True when `p` settles within `ms`; leaves no timer behind. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function statusCodeOf(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'statusCode' in err) {
    const code = (err as { statusCode: unknown }).statusCode;
    return typeof code === 'number' ? code : undefined;
  }
  return undefined;
}

function messageOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim();
}
