/** The HTTP limits (common/http-json.ts) as flags of `orbit master` and `orbit agent`: the two timeouts and the header size, bounded. */
import { Option } from 'commander';
import { HTTP_LIMITS, type HttpLimits } from '../common/http-json.js';
import { numberFlag, UsageError } from './common.js';

/** The flags as commander parses them: seconds and bytes. */
export interface HttpLimitFlags {
  httpHeadersTimeout: number;
  httpRequestTimeout: number;
  httpMaxHeaderBytes: number;
}

const FLAGS = [
  { flag: '--http-headers-timeout', key: 'headersTimeoutMs', attr: 'httpHeadersTimeout', scale: 1000, min: 0.1, max: 300, unit: 'seconds', what: 'a request\'s headers must arrive within this (then 408)' },
  { flag: '--http-request-timeout', key: 'requestTimeoutMs', attr: 'httpRequestTimeout', scale: 1000, min: 0.1, max: 3600, unit: 'seconds', what: 'a whole request must arrive within this (then 408); answers, event streams included, are not cut' },
  { flag: '--http-max-header-bytes', key: 'maxHeaderBytes', attr: 'httpMaxHeaderBytes', scale: 1, min: 1024, max: 1024 * 1024, unit: 'bytes', what: 'request line and headers together (then 431)' },
] as const;

/** The three flags, each with its range and default in its help line. */
export function httpLimitOptions(): Option[] {
  return FLAGS.map(({ flag, key, scale, min, max, unit, what }) =>
    new Option(`${flag} <${unit}>`, `HTTP: ${what} (${min} to ${max} ${unit})`).argParser(numberFlag(flag, { integer: unit === 'bytes' })).default(HTTP_LIMITS[key] / scale));
}

/** The limits from parsed flags (whole milliseconds); a value outside its range, or timeouts out of order, is a UsageError naming the flags. */
export function httpLimitsFromFlags(flags: HttpLimitFlags): Partial<HttpLimits> {
  const limits: Partial<HttpLimits> = {};
  for (const { flag, key, attr, scale, min, max, unit } of FLAGS) {
    const value = flags[attr];
    if (!(value >= min && value <= max)) throw new UsageError(`${flag} must be from ${min} to ${max} ${unit}, got ${value}`);
    limits[key] = Math.round(value * scale);
  }
  // Node refuses a headers timeout longer than the request timeout; say which flags to change.
  if (flags.httpHeadersTimeout > flags.httpRequestTimeout) {
    throw new UsageError(`--http-headers-timeout (${flags.httpHeadersTimeout} s) must not be longer than --http-request-timeout (${flags.httpRequestTimeout} s); lower it too`);
  }
  return limits;
}
