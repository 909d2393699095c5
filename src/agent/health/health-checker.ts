/**
 * A task's health check, Mesos' way: the first check `delayMs` after start, the next `intervalMs`
 * after each one ends, each bounded by `timeoutMs`. Failures within `gracePeriodMs` of the task's
 * start do not count until a check has passed once. The first counted result and every flip of
 * health are reported; `consecutiveFailures` failures in a row end the checks and ask for a kill.
 *
 * The rules are a pure function (`recordResult`); the class only times probes with the injected
 * Clock, so tests drive it with a ManualClock.
 */
import type { Clock, TimerHandle } from '../../common/clock.js';
import { errorMessage } from '../../common/errors.js';
import type { HealthCheckSpec } from '../../common/tasks.js';

/** What one check found; `message` says why, for the status. */
export interface ProbeResult {
  ok: boolean;
  message: string;
}

/** Runs one check; `signal` aborts it when its time is up. May reject (a failure). */
export type Probe = (signal: AbortSignal, timeoutMs: number) => Promise<ProbeResult>;

/** Where a task's checking stands. */
export interface HealthState {
  /** Undefined until the first counted result. */
  healthy: boolean | undefined;
  consecutiveFailures: number;
  /** A check has passed: the grace period no longer applies. */
  passedOnce: boolean;
}

/** What a result means: report a change of health, and/or kill the task. */
export interface HealthVerdict {
  state: HealthState;
  /** Set when health changed (the first counted result, or a flip). */
  changed: boolean;
  /** Failures reached the limit: kill the task. */
  kill: boolean;
}

export const INITIAL_HEALTH: HealthState = { healthy: undefined, consecutiveFailures: 0, passedOnce: false };

/** Applies one result at `now` to a task started at `startedAt`. Pure. */
export function recordResult(state: HealthState, ok: boolean, spec: HealthCheckSpec, startedAt: number, now: number): HealthVerdict {
  if (ok) {
    return { state: { healthy: true, consecutiveFailures: 0, passedOnce: true }, changed: state.healthy !== true, kill: false };
  }
  if (!state.passedOnce && now - startedAt < spec.gracePeriodMs) return { state, changed: false, kill: false };
  const failures = state.consecutiveFailures + 1;
  return {
    state: { healthy: false, consecutiveFailures: failures, passedOnce: state.passedOnce },
    changed: state.healthy !== false,
    kill: failures >= Math.max(1, spec.consecutiveFailures),
  };
}

export interface HealthCheckerOptions {
  spec: HealthCheckSpec;
  clock: Clock;
  /** When the task started (ms since the epoch); the grace period counts from here. */
  startedAt: number;
  /** Health already reported before (an agent restart): a first result that agrees is no change. */
  healthy?: boolean;
  probe: Probe;
  /** Health changed: the first counted result, and every flip. */
  onHealthChange(healthy: boolean, message: string): void;
  /** Too many failures in a row; the checker has stopped. */
  onUnhealthy(message: string): void;
}

/** Checks one task until stopped, or until it asks for the task to be killed. */
export class HealthChecker {
  private state: HealthState;
  private timer: TimerHandle | undefined;
  private inFlight: AbortController | undefined;
  private stopped = false;

  constructor(private readonly options: HealthCheckerOptions) {
    const { healthy } = options;
    this.state = healthy === undefined ? INITIAL_HEALTH : { healthy, consecutiveFailures: 0, passedOnce: healthy };
  }

  /** Schedules the first check `delayMs` from now. */
  start(): void {
    this.schedule(this.options.spec.delayMs);
  }

  /** Stops checking; a check in flight is aborted and its result dropped. Idempotent. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.inFlight?.abort();
  }

  /** The health so far (undefined before the first counted result). */
  get healthy(): boolean | undefined {
    return this.state.healthy;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimer(ms, () => void this.check());
  }

  private async check(): Promise<void> {
    const { spec, clock } = this.options;
    const abort = new AbortController();
    this.inFlight = abort;
    let timeout: TimerHandle | undefined;
    const timedOut = new Promise<ProbeResult>((resolve) => {
      timeout = clock.setTimer(spec.timeoutMs, () => {
        abort.abort();
        resolve({ ok: false, message: `timed out after ${spec.timeoutMs} ms` });
      });
    });
    const probed = this.options.probe(abort.signal, spec.timeoutMs).catch((err: unknown): ProbeResult => ({ ok: false, message: errorMessage(err) }));
    const result = await Promise.race([probed, timedOut]);
    timeout?.cancel();
    this.inFlight = undefined;
    if (this.stopped) return;
    const verdict = recordResult(this.state, result.ok, spec, this.options.startedAt, clock.now());
    this.state = verdict.state;
    if (verdict.changed) this.options.onHealthChange(verdict.state.healthy === true, result.message);
    if (verdict.kill) {
      this.stop();
      this.options.onUnhealthy(`${verdict.state.consecutiveFailures} consecutive health check failures; last: ${result.message}`);
      return;
    }
    this.schedule(spec.intervalMs);
  }
}
