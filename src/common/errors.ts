/**
 * Faults, as a few named Error classes. Expected outcomes (a task that does not fit, a stale
 * offer) are values or status updates instead. gRPC status codes are chosen in rpc/ only.
 */
import { quote } from './echo.js';

/** A caller sent something malformed; `field` names it (`operations[0].launch.tasks[1].task_id`). */
export class InvalidArgumentError extends Error {
  override readonly name = 'InvalidArgumentError';
  constructor(readonly field: string, problem: string, options?: { cause?: unknown }) {
    super(field ? `${field}: ${problem}` : problem, options);
  }
}

/** Something named by id does not exist (an unknown framework, agent or task). */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  constructor(readonly kind: string, readonly id: string, detail?: string) {
    super(`unknown ${kind} ${quote(id)}${detail ? `: ${detail}` : ''}`);
  }
}

/** The call is well formed but not allowed now (a stale stream, a framework torn down). */
export class FailedPreconditionError extends Error {
  override readonly name = 'FailedPreconditionError';
}

/** A feature named by the wire contract that this build does not implement yet. */
export class UnimplementedError extends Error {
  override readonly name = 'UnimplementedError';
}

/** Formats an unknown thrown value for a log line or a status message. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
