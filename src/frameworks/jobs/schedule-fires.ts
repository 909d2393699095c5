/**
 * When a scheduled job starts its runs, pure: what one fire of its schedule does, given the time
 * and what is known about the job's previous run. The jobs framework asks at every tick, at every
 * (re-)subscription, and when a run ends or an attempt is heard from.
 *
 * The rule (cron's "no overlapping runs", made safe across a lost master):
 * - a fire with no run of the job going starts a run at once, connected or not. While the
 *   framework is disconnected the run's tasks are QUEUED, and they launch at the first offers
 *   after it re-subscribes (it revives offers then): the run waits for the master, not for the
 *   next fire or a backoff;
 * - a fire while the previous run is known to be still going is skipped (counted);
 * - a fire while the previous run's state is in doubt (an attempt of it was live when the
 *   framework lost the master, and nothing has been heard of that attempt since) is held: it may
 *   have ended unseen. Once reconciliation after re-subscribing answers for it, the held fire
 *   starts (the run had ended) or is skipped (it is still going), as it would have been had the
 *   framework been connected. A fire still held when the next one falls due is skipped then.
 *
 * Fires missed while the framework itself was not running (a restart) start one run, not one each.
 */
import { nextFire, type CronSchedule } from './cron.js';

/**
 * What is known about the job's runs still going.
 * - none: no run of the job is going.
 * - running: one is, for certain.
 * - unknown: one is as last known, but an attempt of it may have ended unseen (see above).
 */
export type PreviousRun = 'none' | 'running' | 'unknown';

/** A job's schedule as the decision sees it. */
export interface FireState {
  /** The next time the schedule fires; undefined when it never does again. */
  nextRunAt?: number;
  /** A fire held while the previous run is in doubt: when it fell due. */
  heldFireAt?: number;
}

/** What to do now, and the job's schedule state after it. */
export interface FireDecision extends FireState {
  /** Start a run now, for the fire that fell due at this time. */
  startFor?: number;
  /** Fires given up now because the previous run was still going (0, 1 or 2). */
  skipped: number;
}

/** Decides a job's fire at `now`; a no-op decision (nothing due, nothing held) keeps the state. */
export function decideFire(schedule: CronSchedule, state: FireState, previous: PreviousRun, now: number): FireDecision {
  let held = state.heldFireAt;
  let next = state.nextRunAt;
  let skipped = 0;
  let dueAt: number | undefined;
  if (next !== undefined && next <= now) {
    if (held !== undefined) skipped++; // overtaken by the next fire while still in doubt
    dueAt = next;
    held = undefined;
    next = nextFire(schedule, now);
  } else if (held !== undefined) {
    dueAt = held;
    held = undefined;
  }
  const after = (extra: Partial<FireDecision>): FireDecision => ({
    skipped,
    ...(next !== undefined ? { nextRunAt: next } : {}),
    ...(held !== undefined ? { heldFireAt: held } : {}),
    ...extra,
  });
  if (dueAt === undefined) return after({});
  switch (previous) {
    case 'none':
      return after({ startFor: dueAt });
    case 'running':
      skipped++;
      return after({});
    case 'unknown':
      held = dueAt;
      return after({});
  }
}

/**
 * Where a job's runs stand for decideFire: `active` are its runs still RUNNING, `live` the task ids
 * of their attempts not yet ended, and `inDoubt(taskId)` whether such an attempt may have ended
 * unseen (the framework is disconnected, or has heard nothing of it since re-subscribing).
 */
export function previousRun(activeRuns: number, liveTaskIds: readonly string[], inDoubt: (taskId: string) => boolean): PreviousRun {
  if (activeRuns === 0) return 'none';
  return liveTaskIds.some(inDoubt) ? 'unknown' : 'running';
}
