/**
 * What is worth offering: Mesos' minimum offer chunk. Both stages of a cycle skip candidates below it.
 */
import type { Resources } from '../../common/resources.js';
import type { Scalars } from '../../common/scalars.js';

/** Mesos' minimum offer chunk: an offer must carry at least this much cpus or mem. */
export const MIN_OFFER_CPUS = 0.01;
/** The mem half of the minimum offer chunk, in MiB. */
export const MIN_OFFER_MEM_MB = 32;

/** True when resources are worth offering: enough cpus or enough mem. */
export function isOfferable(s: Scalars): boolean {
  return (s['cpus'] ?? 0) >= MIN_OFFER_CPUS || (s['mem'] ?? 0) >= MIN_OFFER_MEM_MB;
}

/** `isOfferable(toScalars(r))`, without building the scalars (summed and rounded the same way). */
export function offerable(r: Resources): boolean {
  let cpus = 0;
  let mem = 0;
  for (const e of r) {
    if (e.kind !== 'scalar') continue;
    if (e.name === 'cpus') cpus = Math.round((cpus + (e.scalar ?? 0)) * 1000) / 1000;
    else if (e.name === 'mem') mem = Math.round((mem + (e.scalar ?? 0)) * 1000) / 1000;
  }
  return cpus >= MIN_OFFER_CPUS || mem >= MIN_OFFER_MEM_MB;
}
