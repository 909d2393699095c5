/**
 * A small cron: the classic 5-field form `minute hour day-of-month month day-of-week`, evaluated in
 * the process's local time zone, pure.
 *
 * Each field is `*`, a number, a range `a-b`, a step `*\/n` or `a-b/n` (or `a/n`: from a to the
 * end), or a comma list of these. Months and weekdays also take names (`jan`, `mon`); weekday 0 and
 * 7 are both Sunday. As in Vixie cron, when both day-of-month and day-of-week are restricted, a day
 * matching either one fires. Shorthands: `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily`
 * (`@midnight`), `@hourly`.
 */

/** A parsed schedule: the allowed values of each field. */
export interface CronSchedule {
  text: string;
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  daysOfMonth: ReadonlySet<number>;
  months: ReadonlySet<number>;
  /** 0 = Sunday ... 6 = Saturday. */
  daysOfWeek: ReadonlySet<number>;
  /** True when the field was `*` (unrestricted), which changes how the two day fields combine. */
  anyDayOfMonth: boolean;
  anyDayOfWeek: boolean;
}

/** The schedule text is malformed; the message names the field. */
export class CronParseError extends Error {
  override readonly name = 'CronParseError';
}

const SHORTHANDS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldDef {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** Offset of names[0] (1 for months, 0 for weekdays). */
  nameBase?: number;
}

const FIELDS: FieldDef[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAYS, nameBase: 0 },
];

function value(text: string, f: FieldDef): number {
  const lower = text.toLowerCase();
  const named = f.names?.indexOf(lower) ?? -1;
  if (named >= 0) return named + (f.nameBase ?? 0);
  if (!/^\d+$/.test(text)) throw new CronParseError(`${f.name}: '${text}' is not a number${f.names ? ' or a name' : ''}`);
  const n = Number(text);
  if (n < f.min || n > f.max) throw new CronParseError(`${f.name}: ${n} is outside ${f.min}-${f.max}`);
  return n;
}

function parseField(text: string, f: FieldDef): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    if (part === '') throw new CronParseError(`${f.name}: an empty item in '${text}'`);
    const [range = '', stepText, extra] = part.split('/');
    if (extra !== undefined) throw new CronParseError(`${f.name}: '${part}' has two '/'`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) throw new CronParseError(`${f.name}: the step in '${part}' must be a positive integer`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = f.min;
      hi = f.max;
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      lo = value(a, f);
      hi = value(b, f);
      if (lo > hi) throw new CronParseError(`${f.name}: the range '${range}' runs backwards`);
    } else {
      lo = value(range, f);
      hi = stepText !== undefined ? f.max : lo;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

/** Parses a 5-field schedule or a shorthand; throws CronParseError naming the field. */
export function parseCron(text: string): CronSchedule {
  const trimmed = text.trim();
  const expanded = SHORTHANDS[trimmed.toLowerCase()] ?? trimmed;
  if (expanded.startsWith('@')) throw new CronParseError(`unknown shorthand '${trimmed}' (one of ${Object.keys(SHORTHANDS).join(', ')})`);
  const parts = expanded.split(/\s+/).filter(Boolean);
  if (parts.length !== 5) throw new CronParseError(`expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`);
  const [minutes, hours, daysOfMonth, months, daysOfWeek] = parts.map((p, i) => parseField(p, FIELDS[i]!)) as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  if (daysOfWeek.delete(7)) daysOfWeek.add(0);
  return { text: trimmed, minutes, hours, daysOfMonth, months, daysOfWeek, anyDayOfMonth: parts[2] === '*', anyDayOfWeek: parts[4] === '*' };
}

function dayMatches(s: CronSchedule, d: Date): boolean {
  const dom = s.daysOfMonth.has(d.getDate());
  const dow = s.daysOfWeek.has(d.getDay());
  if (s.anyDayOfMonth && s.anyDayOfWeek) return true;
  if (s.anyDayOfMonth) return dow;
  if (s.anyDayOfWeek) return dom;
  return dom || dow;
}

/** Searching further than this finds nothing (e.g. `0 0 30 2 *`, February 30th). */
const SEARCH_YEARS = 8;

/**
 * The first time strictly after `after` (ms since the epoch) that the schedule fires, at a whole
 * minute; undefined when it never does within eight years.
 */
export function nextFire(s: CronSchedule, after: number): number | undefined {
  const d = new Date(after);
  d.setSeconds(0, 0);
  d.setMinutes(d.getMinutes() + 1);
  const limit = new Date(after).getFullYear() + SEARCH_YEARS;
  while (d.getFullYear() <= limit) {
    if (!s.months.has(d.getMonth() + 1)) {
      d.setMonth(d.getMonth() + 1, 1);
      d.setHours(0, 0, 0, 0);
      continue;
    }
    if (!dayMatches(s, d)) {
      d.setDate(d.getDate() + 1);
      d.setHours(0, 0, 0, 0);
      continue;
    }
    if (!s.hours.has(d.getHours())) {
      d.setHours(d.getHours() + 1, 0, 0, 0);
      continue;
    }
    if (!s.minutes.has(d.getMinutes())) {
      d.setMinutes(d.getMinutes() + 1, 0, 0);
      continue;
    }
    return d.getTime();
  }
  return undefined;
}
