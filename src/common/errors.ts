/**
 * Faults, as a few named Error classes, each with a typed reason that crosses the wire (see
 * `ErrorReason` in common.proto) so programs act on the reason, never on the message's English.
 * Expected outcomes (a task that does not fit, a stale offer) are values or status updates
 * instead. gRPC status codes are chosen in rpc/ only.
 */
import { quote } from './echo.js';

/** Why a call, a subscription or an agent was refused; the wire's ErrorReason without "ERROR_". */
export type ErrorReason =
  | 'INVALID_ARGUMENT'
  | 'LIMIT_EXCEEDED'
  | 'UNKNOWN_FRAMEWORK'
  | 'UNKNOWN_AGENT'
  | 'FRAMEWORK_REMOVED'
  | 'STALE_STREAM'
  | 'RESUBSCRIBED'
  | 'AGENT_GONE'
  | 'AGENT_RESOURCES_SHRANK'
  | 'PROTOCOL_VIOLATION'
  | 'FORCE_REQUIRED'
  | 'REGISTRY_UNAVAILABLE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'INVALID_TOKEN'
  | 'NOT_LEADER';

/** Every ErrorReason, in the wire enum's order (a test holds the two together). */
export const ERROR_REASONS: readonly ErrorReason[] = [
  'INVALID_ARGUMENT', 'LIMIT_EXCEEDED', 'UNKNOWN_FRAMEWORK', 'UNKNOWN_AGENT', 'FRAMEWORK_REMOVED', 'STALE_STREAM', 'RESUBSCRIBED',
  'AGENT_GONE', 'AGENT_RESOURCES_SHRANK', 'PROTOCOL_VIOLATION', 'FORCE_REQUIRED', 'REGISTRY_UNAVAILABLE', 'UNIMPLEMENTED', 'INTERNAL',
  'UNAUTHENTICATED', 'PERMISSION_DENIED', 'INVALID_TOKEN', 'NOT_LEADER',
];

/** The reason named by `text`, or undefined for anything else (a newer master's reason, say). */
export function parseErrorReason(text: string): ErrorReason | undefined {
  return (ERROR_REASONS as readonly string[]).includes(text) ? (text as ErrorReason) : undefined;
}

/**
 * A caller sent something malformed; `field` names it (`operations[0].launch.tasks[1].task_id`).
 * The reason is INVALID_ARGUMENT, or LIMIT_EXCEEDED for more items than a per-call cap allows.
 */
export class InvalidArgumentError extends Error {
  override readonly name = 'InvalidArgumentError';
  readonly reason: 'INVALID_ARGUMENT' | 'LIMIT_EXCEEDED';
  constructor(readonly field: string, problem: string, options?: { cause?: unknown; reason?: 'LIMIT_EXCEEDED' }) {
    super(field ? `${field}: ${problem}` : problem, options);
    this.reason = options?.reason ?? 'INVALID_ARGUMENT';
  }
}

/** What NotFoundError can name, and the reason each gives. */
const NOT_FOUND_REASONS = { framework: 'UNKNOWN_FRAMEWORK', agent: 'UNKNOWN_AGENT' } as const;

/** Something named by id does not exist (an unknown framework or agent). */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  readonly reason: ErrorReason;
  constructor(readonly kind: keyof typeof NOT_FOUND_REASONS, readonly id: string, detail?: string) {
    super(`unknown ${kind} ${quote(id)}${detail ? `: ${detail}` : ''}`);
    this.reason = NOT_FOUND_REASONS[kind];
  }
}

/** The call is well formed but not allowed now (a stale stream, a framework torn down); `reason` says which. */
export class FailedPreconditionError extends Error {
  override readonly name = 'FailedPreconditionError';
  constructor(readonly reason: ErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Where the leading master is, as a standby tells a client. */
export interface LeaderHint {
  /** Its gRPC address, HOST:PORT. */
  address: string;
  /** Its HTTP base URL (https://HOST:PORT). */
  httpUrl: string;
}

/**
 * This master does not lead (a standby, or one between leaders): the call changed nothing. `leader`
 * names the master that leads when one is known; the wire carries it in the status details'
 * metadata (`leader`, `leader_http`), so clients follow it at once.
 */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError';
  readonly reason = 'NOT_LEADER' as const;
  constructor(readonly leader: LeaderHint | undefined, why = 'this master is a standby') {
    super(leader ? `${why}; the leader is ${leader.address}` : `${why}, and no leader is elected yet; try again shortly`);
  }

  /** The status details' metadata for this refusal. */
  get metadata(): Record<string, string> {
    return this.leader ? { leader: this.leader.address, leader_http: this.leader.httpUrl } : {};
  }
}

/** A feature named by the wire contract that this build does not implement yet. */
export class UnimplementedError extends Error {
  override readonly name = 'UnimplementedError';
  readonly reason = 'UNIMPLEMENTED' as const;
}

/** The caller has no valid certificate of this cluster; the message says what was wrong with it. */
export class UnauthenticatedError extends Error {
  override readonly name = 'UnauthenticatedError';
  readonly reason = 'UNAUTHENTICATED' as const;
}

/** The caller's identity may not do this; the message names the caller and what decided. */
export class PermissionDeniedError extends Error {
  override readonly name = 'PermissionDeniedError';
  constructor(message: string, readonly reason: 'PERMISSION_DENIED' | 'INVALID_TOKEN' = 'PERMISSION_DENIED') {
    super(message);
  }
}

/** The typed reason of a thrown value: its own, else INTERNAL (a fault nobody named). */
export function reasonOf(err: unknown): ErrorReason {
  const reason = err instanceof Error ? (err as { reason?: unknown }).reason : undefined;
  return typeof reason === 'string' && parseErrorReason(reason) ? (reason as ErrorReason) : 'INTERNAL';
}

/** Formats an unknown thrown value for a log line or a status message. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
