/**
 * Reads a process's line in /proc/PID/stat (Linux): enough to tell whether a pid still names the
 * process the agent started (its start time), whether it has exited (a zombie), and its group.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The fields of /proc/PID/stat the agent uses. */
export interface ProcStat {
  pid: number;
  /** R, S, D, T, Z (zombie: exited, not yet reaped), ... */
  state: string;
  /** Process group id. */
  pgrp: number;
  /** Session id. */
  session: number;
  /** Field 22: clock ticks after boot when the process started. */
  startTime: number;
}

/** The stat of `pid`, or undefined when no such process exists (or /proc cannot say). */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp session ..."; comm may hold spaces and parentheses, so split
  // after the last ')'. Field 3 (state) is the first after it, field 22 (starttime) the 20th.
  const fields = text.slice(text.lastIndexOf(')') + 2).trim().split(/\s+/);
  const state = fields[0];
  const startTime = Number(fields[19]);
  if (state === undefined || !Number.isFinite(startTime)) return undefined;
  return { pid, state, pgrp: Number(fields[2]), session: Number(fields[3]), startTime };
}

/**
 * True while the process that started at `startTime` still runs as `pid`: the pid exists, is not
 * a zombie, and was not reused by a later process.
 */
export function isRunning(pid: number, startTime: number): boolean {
  const stat = readProcStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.startTime === startTime;
}

/**
 * Pids of the live session leaders whose command line has `arg` as one of its arguments: how a
 * process task whose pid was not recorded is found (its wrapper names its sandbox's status file).
 */
export function leadersWithArgument(arg: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!argv.includes(arg)) continue;
    const stat = readProcStat(Number(name));
    if (stat && stat.state !== 'Z' && stat.session === stat.pid) found.push(stat.pid);
  }
  return found;
}
