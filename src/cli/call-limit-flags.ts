/** `orbit master`'s flags for its per-call caps (common/call-limits.ts): one per cap, bounded. */
import { Option } from 'commander';
import { CALL_CAPS, callLimits, type CallLimits } from '../common/call-limits.js';
import { numberFlag, UsageError } from './common.js';

const KEYS = Object.keys(CALL_CAPS) as (keyof CallLimits)[];

/** Commander's name for a flag's value: `--max-tasks-per-accept` → `maxTasksPerAccept`. */
function attribute(key: keyof CallLimits): string {
  return new Option(CALL_CAPS[key].flag).attributeName();
}

/** Every cap's flag, with its range and default in its help line. */
export function callLimitOptions(): Option[] {
  return KEYS.map((key) => {
    const { flag, items, per, bounds, default: fallback } = CALL_CAPS[key];
    return new Option(`${flag} <n>`, `most ${items} in ${per} (${bounds.min} to ${bounds.max})`)
      .argParser(numberFlag(flag, { integer: true }))
      .default(fallback);
  });
}

/** The caps from parsed flags; a value outside its bounds is a UsageError naming the flag and the range (callLimits' check). */
export function callLimitsFromFlags(flags: object): CallLimits {
  const values = Object.fromEntries(KEYS.map((key) => [key, (flags as Record<string, unknown>)[attribute(key)]])) as Partial<CallLimits>;
  try {
    return callLimits(values);
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(err.message);
    throw err;
  }
}
