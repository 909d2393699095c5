/**
 * What an agent offers when --resources does not say: the machine's cpus, its memory less a
 * reserve for the system, the free disk of the work dir less a reserve, and ports 31000-32000
 * (Mesos' defaults). Names given in --resources are taken as they are.
 */
import { cpus, totalmem } from 'node:os';
import { statfsSync } from 'node:fs';
import { normalize, rangesResource, scalarResource, type Resource, type Resources } from '../common/resources.js';

export const DEFAULT_PORTS = { begin: 31000, end: 32000 };

/** Memory kept for the system: half of it, at most 1 GiB (Mesos' rule). */
function memoryForTasksMb(totalBytes: number): number {
  const totalMb = Math.floor(totalBytes / 1024 / 1024);
  return Math.max(32, totalMb - Math.min(1024, Math.floor(totalMb / 2)));
}

/** Disk kept for the system: half of it, at most 5 GiB. */
function diskForTasksMb(workDir: string): number {
  const s = statfsSync(workDir);
  const freeMb = Math.floor((s.bavail * s.bsize) / 1024 / 1024);
  return Math.max(0, freeMb - Math.min(5 * 1024, Math.floor(freeMb / 2)));
}

/** Fills in cpus, mem, disk and ports that `given` lacks. */
export function detectResources(given: Resources, workDir: string): Resources {
  const has = (name: string) => given.some((r) => r.name === name);
  const detected: Resource[] = [];
  if (!has('cpus')) detected.push(scalarResource('cpus', cpus().length));
  if (!has('mem')) detected.push(scalarResource('mem', memoryForTasksMb(totalmem())));
  if (!has('disk')) detected.push(scalarResource('disk', diskForTasksMb(workDir)));
  if (!has('ports')) detected.push(rangesResource('ports', [DEFAULT_PORTS]));
  return normalize([...given, ...detected]);
}
