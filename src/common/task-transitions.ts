/**
 * The task state machine, shared by master and agent: one function decides whether a status may
 * move a task from one state to another. Terminal states are final; a repeat of the same state is
 * allowed (a RUNNING update that only changes health, a retried terminal update) and is a no-op
 * for the state itself.
 */
import { isTerminal, type TaskState } from './tasks.js';

export type Transition = { ok: true; changed: boolean } | { ok: false; reason: string };

const ALLOWED_FROM: Record<TaskState, readonly TaskState[]> = {
  // Only the master creates a STAGING task; nothing moves back to it.
  STAGING: [],
  STARTING: ['STAGING', 'UNREACHABLE'],
  RUNNING: ['STAGING', 'STARTING', 'UNREACHABLE'],
  KILLING: ['STAGING', 'STARTING', 'RUNNING', 'UNREACHABLE'],
  UNREACHABLE: ['STAGING', 'STARTING', 'RUNNING', 'KILLING'],
  FINISHED: ['STAGING', 'STARTING', 'RUNNING', 'KILLING', 'UNREACHABLE'],
  FAILED: ['STAGING', 'STARTING', 'RUNNING', 'KILLING', 'UNREACHABLE'],
  KILLED: ['STAGING', 'STARTING', 'RUNNING', 'KILLING', 'UNREACHABLE'],
  ERROR: ['STAGING', 'STARTING'],
  DROPPED: ['STAGING', 'STARTING', 'UNREACHABLE'],
  GONE: ['STAGING', 'STARTING', 'RUNNING', 'KILLING', 'UNREACHABLE'],
  LOST: ['STAGING', 'STARTING', 'RUNNING', 'KILLING', 'UNREACHABLE'],
};

/** May a task in `from` take a status saying `to`? */
export function checkTransition(from: TaskState, to: TaskState): Transition {
  if (from === to) return { ok: true, changed: false };
  if (isTerminal(from)) return { ok: false, reason: `task is already ${from}` };
  if (!ALLOWED_FROM[to].includes(from)) return { ok: false, reason: `${from} cannot become ${to}` };
  return { ok: true, changed: true };
}
