/**
 * Marathon's launch backoff: after an instance fails, the app's next launch waits
 * backoffSeconds × backoffFactor^(failures - 1), capped at maxLaunchDelaySeconds (by default
 * 1 s × 1.15 up to 300 s). Pure: the caller keeps the failure count and the time.
 */

/** The knobs, as in the app spec. */
export interface BackoffPolicy {
  backoffSeconds: number;
  backoffFactor: number;
  maxLaunchDelaySeconds: number;
}

/** The delay before the next launch after `failures` consecutive failures (0 for none). */
export function launchDelayMs(failures: number, p: BackoffPolicy): number {
  if (failures <= 0) return 0;
  const seconds = p.backoffSeconds * p.backoffFactor ** Math.min(failures - 1, 10_000);
  return Math.round(Math.min(seconds, p.maxLaunchDelaySeconds) * 1000);
}
