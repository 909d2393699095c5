import t from 'tap';
import { ManualClock } from '../../src/common/clock.js';
import { DeadlineQueue } from '../../src/master/deadline-queue.js';

t.test('deadlines fire in order, each at its time, on one timer', async (t) => {
  const clock = new ManualClock(0);
  const armed: number[] = [];
  const counting = { ...clock, now: () => clock.now(), setRepeating: clock.setRepeating.bind(clock), setTimer: (ms: number, fn: () => void) => (armed.push(ms), clock.setTimer(ms, fn)) };
  const queue = new DeadlineQueue(counting);
  const fired: string[] = [];
  for (let i = 0; i < 1000; i++) queue.add(100 + Math.floor(i / 10), () => fired.push(`d${i}`));
  t.equal(armed.length, 1, 'a thousand deadlines, one timer armed');
  clock.advance(99);
  t.strictSame(fired, [], 'nothing before the first deadline');
  clock.advance(1);
  t.strictSame(fired, Array.from({ length: 10 }, (_, i) => `d${i}`), 'the ten due at 100 fire together');
  clock.advance(1000);
  t.equal(fired.length, 1000, 'and every later one, in order');
  t.strictSame(fired.slice(-2), ['d998', 'd999']);
  t.equal(queue.size, 0);
});

t.test('a deadline given earlier than the one before fires with it; stop cancels what is left', async (t) => {
  const clock = new ManualClock(0);
  const queue = new DeadlineQueue(clock);
  const fired: string[] = [];
  queue.add(50, () => fired.push('a'));
  queue.add(10, () => fired.push('b'));
  clock.advance(10);
  t.strictSame(fired, [], 'not before the deadline ahead of it');
  clock.advance(40);
  t.strictSame(fired, ['a', 'b']);
  queue.add(100, () => fired.push('c'));
  queue.stop();
  clock.advance(1000);
  t.strictSame(fired, ['a', 'b'], 'nothing fires after stop');
});

t.test('many deadlines over time keep the queue short', async (t) => {
  const clock = new ManualClock(0);
  const queue = new DeadlineQueue(clock);
  let count = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 500; i++) queue.add(clock.now() + 30, () => count++);
    clock.advance(10);
  }
  clock.advance(100);
  t.equal(count, 25_000, 'every deadline fired once');
  t.equal(queue.size, 0);
});
