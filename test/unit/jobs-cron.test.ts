import t from 'tap';
import { CronParseError, nextFire, parseCron } from '../../src/frameworks/jobs/cron.js';

/** Local time, like cron: `at(2024, 1, 15, 10, 30)` is 15 January 2024 10:30. */
const at = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => new Date(y, mo - 1, d, h, mi, s).getTime();
const fmt = (ms: number | undefined) => {
  if (ms === undefined) return 'never';
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())} ${['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][d.getDay()]}`;
};

t.test('parseCron reads each field form', async (t) => {
  const s = parseCron('*/15 9-17 1,15 jan-mar mon-fri');
  t.same([...s.minutes], [0, 15, 30, 45]);
  t.same([...s.hours], [9, 10, 11, 12, 13, 14, 15, 16, 17]);
  t.same([...s.daysOfMonth], [1, 15]);
  t.same([...s.months], [1, 2, 3]);
  t.same([...s.daysOfWeek], [1, 2, 3, 4, 5]);
  t.same([...parseCron('0 0 * * 7').daysOfWeek], [0], '7 is Sunday too');
  t.same([...parseCron('5/20 * * * *').minutes], [5, 25, 45], 'a/n runs from a to the end');
  t.same([...parseCron('0-10/5 * * * *').minutes], [0, 5, 10]);
  t.same([...parseCron('@hourly').minutes], [0]);
  t.equal(parseCron('@daily').hours.size, 1);
});

t.test('parseCron names the field that is wrong', async (t) => {
  const bad: [string, RegExp][] = [
    ['* * * *', /expected 5 fields/],
    ['60 * * * *', /minute: 60 is outside 0-59/],
    ['* 24 * * *', /hour: 24 is outside 0-23/],
    ['* * 0 * *', /day of month: 0 is outside 1-31/],
    ['* * * 13 *', /month: 13 is outside 1-12/],
    ['* * * * 8', /day of week: 8 is outside 0-7/],
    ['*/0 * * * *', /minute: the step in '\*\/0' must be a positive integer/],
    ['5-1 * * * *', /minute: the range '5-1' runs backwards/],
    ['x * * * *', /minute: 'x' is not a number/],
    ['* * * foo *', /month: 'foo' is not a number or a name/],
    ['1,,2 * * * *', /minute: an empty item/],
    ['@often', /unknown shorthand/],
  ];
  for (const [text, message] of bad) t.throws(() => parseCron(text), { name: 'CronParseError', message }, text);
  t.type(new CronParseError('x'), Error);
});

t.test('nextFire', async (t) => {
  // [schedule, after, expected next]
  const cases: [string, number, string][] = [
    ['* * * * *', at(2024, 1, 15, 10, 30, 20), '2024-01-15 10:31 mon'],
    ['* * * * *', at(2024, 1, 15, 10, 30, 0), '2024-01-15 10:31 mon'],
    ['*/15 * * * *', at(2024, 1, 15, 10, 31), '2024-01-15 10:45 mon'],
    ['0 * * * *', at(2024, 1, 15, 23, 59), '2024-01-16 00:00 tue'],
    ['30 3 * * *', at(2024, 1, 31, 4, 0), '2024-02-01 03:30 thu'],
    ['0 0 1 * *', at(2024, 12, 15), '2025-01-01 00:00 wed'],
    ['0 12 * * mon', at(2024, 1, 17), '2024-01-22 12:00 mon'],
    ['0 0 29 2 *', at(2024, 3, 1), '2028-02-29 00:00 tue'],
    // Both day fields restricted: either one fires (the 13th, or any Friday).
    ['0 0 13 * fri', at(2024, 1, 1), '2024-01-05 00:00 fri'],
    ['0 0 13 * fri', at(2024, 1, 12, 1), '2024-01-13 00:00 sat'],
    ['0 9-17/4 * * 1-5', at(2024, 1, 19, 17, 30), '2024-01-22 09:00 mon'],
  ];
  for (const [text, after, want] of cases) t.equal(fmt(nextFire(parseCron(text), after)), want, `${text} after ${fmt(after)}`);
  t.equal(nextFire(parseCron('0 0 30 2 *'), at(2024, 1, 1)), undefined, 'February 30th never comes');
});
