// When a scheduled job starts its runs (schedule-fires.ts, pure): time is an argument, so a fire
// that falls due while the framework is away from the master is decided at an exact instant.
import t from 'tap';
import { parseCron } from '../../src/frameworks/jobs/cron.js';
import { decideFire, previousRun, type FireDecision, type FireState, type PreviousRun } from '../../src/frameworks/jobs/schedule-fires.js';

/** Local time, like cron: `at(10, 31)` is 15 January 2024 10:31:00, `at(10, 31, 25)` 25 s later. */
const at = (h: number, mi: number, s = 0) => new Date(2024, 0, 15, h, mi, s).getTime();
const MINUTELY = parseCron('* * * * *');

t.test('decideFire', async (t) => {
  // [behaviour, state, previous run, now, decision]
  const cases: [string, FireState, PreviousRun, number, FireDecision][] = [
    ['nothing due, nothing held: no change', { nextRunAt: at(10, 31) }, 'none', at(10, 30, 59), { nextRunAt: at(10, 31), skipped: 0 }],
    // Connected or not (during a master outage its tasks wait for the first offers after it).
    ['a fire with no run going starts one and moves to the next minute', { nextRunAt: at(10, 31) }, 'none', at(10, 31), { startFor: at(10, 31), nextRunAt: at(10, 32), skipped: 0 }],
    ['fires missed while the framework was down start one run, not one each', { nextRunAt: at(10, 31) }, 'none', at(10, 45, 10), { startFor: at(10, 31), nextRunAt: at(10, 46), skipped: 0 }],
    ['a fire while the previous run is known to be going is skipped', { nextRunAt: at(10, 31) }, 'running', at(10, 31), { nextRunAt: at(10, 32), skipped: 1 }],
    ['a fire while the previous run may have ended unseen is held, not skipped', { nextRunAt: at(10, 31) }, 'unknown', at(10, 31), { heldFireAt: at(10, 31), nextRunAt: at(10, 32), skipped: 0 }],
    ['a held fire stays held while the previous run is still in doubt', { nextRunAt: at(10, 32), heldFireAt: at(10, 31) }, 'unknown', at(10, 31, 40), { heldFireAt: at(10, 31), nextRunAt: at(10, 32), skipped: 0 }],
    ['a held fire starts as soon as the previous run is known to have ended', { nextRunAt: at(10, 32), heldFireAt: at(10, 31) }, 'none', at(10, 31, 40), { startFor: at(10, 31), nextRunAt: at(10, 32), skipped: 0 }],
    ['a held fire is skipped once the previous run is known to be going', { nextRunAt: at(10, 32), heldFireAt: at(10, 31) }, 'running', at(10, 31, 40), { nextRunAt: at(10, 32), skipped: 1 }],
    ['a held fire overtaken by the next one is skipped, and the next one is held in its place', { nextRunAt: at(10, 32), heldFireAt: at(10, 31) }, 'unknown', at(10, 32), { heldFireAt: at(10, 32), nextRunAt: at(10, 33), skipped: 1 }],
    ['a held fire overtaken by the next one while the run is going: both skipped', { nextRunAt: at(10, 32), heldFireAt: at(10, 31) }, 'running', at(10, 32), { nextRunAt: at(10, 33), skipped: 2 }],
    ['a held fire overtaken by the next one after the run ended: one run, for the newer fire', { nextRunAt: at(10, 32), heldFireAt: at(10, 31) }, 'none', at(10, 32), { startFor: at(10, 32), nextRunAt: at(10, 33), skipped: 1 }],
  ];
  for (const [behaviour, state, previous, now, want] of cases) t.same(decideFire(MINUTELY, state, previous, now), want, behaviour);
});

t.test('a schedule that never fires again leaves no next run', async (t) => {
  const feb30 = parseCron('0 0 30 2 *');
  t.same(decideFire(feb30, { nextRunAt: at(10, 31) }, 'none', at(10, 31)), { startFor: at(10, 31), skipped: 0 });
});

t.test('previousRun', async (t) => {
  const doubted = new Set(['run-1.a.1']);
  const inDoubt = (id: string) => doubted.has(id);
  t.equal(previousRun(0, [], inDoubt), 'none', 'no run going');
  t.equal(previousRun(1, [], inDoubt), 'running', 'a run whose tasks wait for offers cannot have ended unseen');
  t.equal(previousRun(1, ['run-1.b.1'], inDoubt), 'running', 'its live attempt was heard of since the re-subscription');
  t.equal(previousRun(1, ['run-1.b.1', 'run-1.a.1'], inDoubt), 'unknown', 'one live attempt not heard of since');
});
