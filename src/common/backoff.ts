/**
 * Backoff delays. Randomness is injected (`random` returns [0, 1)) so tests are repeatable.
 */

/** Full-jitter exponential backoff: random in [0, base·2^attempt], capped at `capMs`. */
export function jitteredBackoffMs(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** Deterministic doubling: base·2^attempt, capped at `capMs` (status update retries). */
export function doublingBackoffMs(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
}
