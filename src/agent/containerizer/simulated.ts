/**
 * A containerizer that runs nothing: tasks are RUNNING as soon as they are launched and end after
 * the time they ask for, with the exit code they ask for (labels `orbit.simulated/duration-ms`,
 * default: until killed, and `orbit.simulated/exit-code`, default 0). For rehearsing a large
 * cluster on one box (`--containerizers simulated`) and for benchmarks: the master, the agent's
 * protocol and status updates are all real; only the work is not.
 */
import type { Clock, TimerHandle } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import type { ContainerExit, Containerizer, KnownContainer, LaunchedContainer, LaunchRequest, RecoveredContainer } from './containerizer.js';

export const DURATION_LABEL = 'orbit.simulated/duration-ms';
export const EXIT_CODE_LABEL = 'orbit.simulated/exit-code';

interface Running {
  timer: TimerHandle | undefined;
  finish: (exit: ContainerExit) => void;
}

export class SimulatedContainerizer implements Containerizer {
  readonly kind = 'simulated' as const;
  readonly needsSandbox = false;
  private readonly running = new Map<string, Running>();

  constructor(private readonly clock: Clock = systemClock) {}

  /** Resolves at once; the task "exits" after its duration label, if it has one. */
  async launch(request: LaunchRequest): Promise<LaunchedContainer> {
    const labels = request.task.labels;
    const duration = labels[DURATION_LABEL] === undefined ? undefined : Number(labels[DURATION_LABEL]);
    const code = Number(labels[EXIT_CODE_LABEL] ?? 0);
    let finish!: (exit: ContainerExit) => void;
    const exited = new Promise<ContainerExit>((resolve) => (finish = resolve));
    const entry: Running = { timer: undefined, finish };
    this.running.set(request.containerId, entry);
    exited.then(() => this.running.delete(request.containerId), () => undefined);
    if (duration !== undefined && Number.isFinite(duration) && duration >= 0) {
      entry.timer = this.clock.setTimer(duration, () => finish({ exitCode: code, oomKilled: false, killed: false, message: `simulated task exited with code ${code} after ${duration} ms` }));
    }
    return { containerId: request.containerId, exited };
  }

  /** Ends the simulated task at once (there is nothing to give a grace period to). */
  async kill(containerId: string): Promise<void> {
    const entry = this.running.get(containerId);
    if (!entry) return;
    entry.timer?.cancel();
    entry.finish({ exitCode: null, oomKilled: false, killed: true, message: 'simulated task killed' });
  }

  /** Simulated tasks do not outlive their agent: after a restart they are gone. */
  async recover(_agentId: string, known: readonly KnownContainer[]): Promise<Map<string, RecoveredContainer>> {
    return new Map(known.map((k): [string, RecoveredContainer] => [k.containerId, { status: 'gone', message: 'simulated tasks do not outlive their agent' }]));
  }

  async close(): Promise<void> {
    for (const entry of this.running.values()) entry.timer?.cancel();
  }
}
