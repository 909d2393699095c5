/** `orbit master`'s flags for its wire limits (master/rpc/wire-limits.ts): one per limit, bounded. */
import { Option } from 'commander';
import { WIRE_LIMIT_KEYS, WIRE_LIMITS, type WireLimits } from '../master/rpc/wire-limits.js';
import { numberFlag, UsageError } from './common.js';

/** The flags as commander parses them, in the flags' units. */
export interface WireLimitFlags {
  maxReceiveBytes: number;
  maxStreamQueueBytes: number;
  handshakeTimeout: number;
  maxStreamsPerConnection: number;
}

/** Commander's name for a flag's value: `--handshake-timeout` → `handshakeTimeout`. */
function attribute(key: keyof WireLimits): keyof WireLimitFlags {
  return new Option(WIRE_LIMITS[key].flag).attributeName() as keyof WireLimitFlags;
}

/** The flag for one limit, its range and default in its help line. */
export function wireLimitOption(key: keyof WireLimits): Option {
  const { flag, unit, scale, default: fallback, bounds, description } = WIRE_LIMITS[key];
  const arg = unit === 'streams' ? 'n' : unit;
  return new Option(`${flag} <${arg}>`, `${description} (${bounds.min / scale} to ${bounds.max / scale} ${unit})`)
    .argParser(numberFlag(flag, { integer: unit !== 'seconds' }))
    .default(fallback / scale);
}

/** The limits from parsed flags; a value outside its bounds is a UsageError naming the flag and the range. */
export function wireLimitsFromFlags(flags: WireLimitFlags): WireLimits {
  const limits = {} as WireLimits;
  for (const key of WIRE_LIMIT_KEYS) {
    const { flag, unit, scale, bounds } = WIRE_LIMITS[key];
    const value = flags[attribute(key)] * scale;
    if (!(value >= bounds.min && value <= bounds.max)) {
      throw new UsageError(`${flag} must be from ${bounds.min / scale} to ${bounds.max / scale} ${unit}, got ${flags[attribute(key)]}`);
    }
    limits[key] = value;
  }
  return limits;
}
