/**
 * The ranges of a task's numbers and sizes, and their defaults: checked where a task enters (the
 * codec, for master and agent alike) and again where the agent reads its checkpoint back, with
 * these same constants, so anything the master accepts the agent can also recover. Durations are
 * in milliseconds here (seconds on the wire). Node clamps a timer above 2³¹−1 ms (≈24.8 days) to
 * 1 ms, so no per-task duration may come near that: clock.ts chains timers for the longer ones.
 */

/** An inclusive range of accepted values. */
export interface Bounds {
  readonly min: number;
  readonly max: number;
}

const SECOND_MS = 1_000;
const HOUR_MS = 3_600 * SECOND_MS;
const DAY_MS = 24 * HOUR_MS;

/** Mesos' default kill grace: SIGTERM, then SIGKILL this much later. */
export const DEFAULT_KILL_GRACE_MS = 3 * SECOND_MS;
/** Kill grace: 0 (SIGKILL at once) to 1 hour. */
export const KILL_GRACE_MS: Bounds = { min: 0, max: HOUR_MS };

/** Mesos' health check defaults (delay 15 s, interval 10 s, timeout 20 s, 3 failures, no grace). */
export const HEALTH_CHECK_DEFAULTS = {
  delayMs: 15 * SECOND_MS,
  intervalMs: 10 * SECOND_MS,
  timeoutMs: 20 * SECOND_MS,
  consecutiveFailures: 3,
  gracePeriodMs: 0,
} as const;

/**
 * Health check ranges. The interval's floor keeps a check from eating the agent's CPU (a 1 ms
 * command check costs more than a core); 100 ms is what the fastest tests use.
 */
export const HEALTH_CHECK_BOUNDS = {
  delayMs: { min: 0, max: DAY_MS },
  intervalMs: { min: 100, max: DAY_MS },
  timeoutMs: { min: 100, max: HOUR_MS },
  consecutiveFailures: { min: 1, max: 1_000 },
  gracePeriodMs: { min: 0, max: DAY_MS },
} as const satisfies Record<keyof typeof HEALTH_CHECK_DEFAULTS, Bounds>;

/**
 * A task's environment, counted as execve counts it (`NAME=value` plus a NUL per variable): at
 * most 64 KiB and 1,024 variables, so a launch never fails late on E2BIG.
 */
export const MAX_ENVIRONMENT_BYTES = 64 * 1024;
export const MAX_ENVIRONMENT_VARIABLES = 1_024;
/** A task's command, its value and arguments together: Linux' limit on one argument (128 KiB). */
export const MAX_COMMAND_BYTES = 128 * 1024;
export const MAX_COMMAND_ARGUMENTS = 1_024;
/** Labels on one task or framework. */
export const MAX_LABELS = 100;

/** A status's timestamp: from the epoch to the end of year 9999. */
export const STATUS_TIMESTAMP_MS: Bounds = { min: 0, max: 253_402_300_799_999 };

/** True when `value` is a number within `bounds`. */
export function within(value: number, bounds: Bounds): boolean {
  return value >= bounds.min && value <= bounds.max;
}

/** `0..3600000`-style text for errors. */
export function describeBounds(bounds: Bounds, unit = ''): string {
  return `${bounds.min}${unit}..${bounds.max}${unit}`;
}

/** The size execve gives an environment: `NAME=value\0` per variable. */
export function environmentBytes(env: Readonly<Record<string, string>>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(env)) bytes += Buffer.byteLength(name) + Buffer.byteLength(value) + 2;
  return bytes;
}
