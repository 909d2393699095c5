import t from 'tap';
import { hostRepeating, hostTimer, MAX_NODE_TIMER_MS, systemClock, type HostTimers } from '../../src/common/clock.js';

const DAY_MS = 86_400_000;

/** Host timers that only record what they were asked for; `fireNext` runs the oldest pending one. */
function fakeTimers() {
  const pending: { fn: () => void; ms: number; cleared: boolean; unref(): void }[] = [];
  const asked: number[] = [];
  const timers: HostTimers = {
    setTimeout(fn, ms) {
      asked.push(ms);
      const handle = { fn, ms, cleared: false, unref: () => undefined };
      pending.push(handle);
      return handle;
    },
    clearTimeout(handle) {
      (handle as { cleared: boolean }).cleared = true;
    },
  };
  /** Runs pending timers until none is left or `limit` have run; returns how many ran. */
  const run = (limit = 100): number => {
    let ran = 0;
    while (ran < limit) {
      const next = pending.shift();
      if (!next) break;
      if (next.cleared) continue;
      ran++;
      next.fn();
    }
    return ran;
  };
  return { timers, asked, run, pending };
}

t.test('a timer within Node\'s limit is one host timer', async (t) => {
  const f = fakeTimers();
  let fired = 0;
  hostTimer(1_500, () => fired++, f.timers);
  t.same(f.asked, [1_500]);
  f.run();
  t.equal(fired, 1);
});

t.test('a timer past Node\'s 2^31-1 ms limit is chained, and fires once, at the end of the chain', async (t) => {
  const cases: [string, number, number[]][] = [
    ['thirty days', 30 * DAY_MS, [MAX_NODE_TIMER_MS, 30 * DAY_MS - MAX_NODE_TIMER_MS]],
    ['exactly the limit', MAX_NODE_TIMER_MS, [MAX_NODE_TIMER_MS]],
    ['one year', 365 * DAY_MS, [...Array(14).fill(MAX_NODE_TIMER_MS), 365 * DAY_MS - 14 * MAX_NODE_TIMER_MS]],
  ];
  for (const [what, ms, steps] of cases) {
    const f = fakeTimers();
    let fired = 0;
    hostTimer(ms, () => fired++, f.timers);
    f.run();
    t.same(f.asked, steps, `${what}: no step is above the limit`);
    t.equal(f.asked.reduce((a, b) => a + b, 0), ms, `${what}: the steps add up to the delay`);
    t.equal(fired, 1, `${what}: fires once`);
  }
});

t.test('cancelling part-way through a chain stops it', async (t) => {
  const f = fakeTimers();
  let fired = 0;
  const handle = hostTimer(30 * DAY_MS, () => fired++, f.timers);
  f.run(1);
  handle.cancel();
  f.run();
  t.equal(fired, 0);
});

t.test('an infinite delay never fires; a negative or NaN one fires at once, as in Node', async (t) => {
  const f = fakeTimers();
  let fired = 0;
  hostTimer(Infinity, () => fired++, f.timers);
  t.equal(f.run(50), 50, 'it keeps re-arming');
  t.equal(fired, 0);
  t.ok(f.asked.every((ms) => ms === MAX_NODE_TIMER_MS), 'in steps of the limit');
  for (const bad of [-5, NaN]) {
    const g = fakeTimers();
    let ran = 0;
    hostTimer(bad, () => ran++, g.timers);
    g.run();
    t.same(g.asked, [0], `${bad}: at once`);
    t.equal(ran, 1);
  }
});

t.test('a repeating timer past the limit repeats on the full period', async (t) => {
  const f = fakeTimers();
  let fired = 0;
  const handle = hostRepeating(30 * DAY_MS, () => fired++, f.timers);
  f.run(4);
  t.equal(fired, 2, 'two periods of two steps each');
  handle.cancel();
  t.equal(f.run(), 0, 'nothing runs after cancel');
});

t.test('the system clock really fires a short timer and a repeating one', async (t) => {
  // The clock's timers are unref'd: this one keeps the test process alive meanwhile.
  const alive = setTimeout(() => undefined, 10_000);
  t.teardown(() => clearTimeout(alive));
  const once = await new Promise<boolean>((resolve) => systemClock.setTimer(5, () => resolve(true)));
  t.ok(once);
  let n = 0;
  await new Promise<void>((resolve) => {
    const h = systemClock.setRepeating(5, () => {
      if (++n === 3) {
        h.cancel();
        resolve();
      }
    });
  });
  t.equal(n, 3);
});
