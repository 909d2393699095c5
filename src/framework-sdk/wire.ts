/**
 * The SDK's side of the codec: call envelopes the common codec does not cover (operations,
 * filters, the call header), and the errors calls and subscriptions end with, each with the
 * master's typed reason. Internal to the SDK but for the error classes.
 */
import * as grpc from '@grpc/grpc-js';
import type { Filters } from '../gen/orbit/v1/Filters.js';
import type { Operation as OperationMsg } from '../gen/orbit/v1/Operation.js';
import type { Operation } from '../common/cluster.js';
import { resourcesToProto, taskToProto } from '../common/codec.js';
import { statusReason } from '../common/connection.js';
import type { ErrorReason } from '../common/errors.js';

/** Filters for accept and decline: how long the master holds back resources like these. */
export interface CallFilters {
  /** Seconds during which the unused or declined resources are not offered again (master default 5). */
  refuseSeconds?: number;
}

/**
 * Why a scheduler call failed: the gRPC status name (`INVALID_ARGUMENT`, ...), the master's
 * message, and its typed reason. Act on `reason`; the message is for people.
 */
export class OrbitCallError extends Error {
  override readonly name = 'OrbitCallError';
  /** Why the master refused the call (`STALE_STREAM`, `LIMIT_EXCEEDED`...); undefined when it did not answer, or gave a reason this SDK does not know. */
  readonly reason: ErrorReason | undefined;
  constructor(
    /** The call that failed, e.g. `Accept`. */
    readonly call: string,
    /** The gRPC status code name, e.g. `FAILED_PRECONDITION`; `UNAVAILABLE` when not subscribed. */
    readonly code: string,
    /** The master's message (the field it names, for INVALID_ARGUMENT). */
    readonly details: string,
    options?: { cause?: unknown; reason?: ErrorReason | undefined },
  ) {
    super(`${call} failed: ${code}: ${details}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = options?.reason;
  }
}

/** Wraps a grpc-js error (or anything thrown) as an OrbitCallError, with the reason from its status details. */
export function callErrorFrom(call: string, err: unknown): OrbitCallError {
  const e = err as Partial<grpc.ServiceError> | undefined;
  if (e && typeof e.code === 'number') {
    const code = grpc.status[e.code] ?? `CODE_${e.code}`;
    return new OrbitCallError(call, code, e.details ?? e.message ?? '', { cause: err, reason: statusReason(e) });
  }
  return new OrbitCallError(call, 'UNKNOWN', err instanceof Error ? err.message : String(err), { cause: err });
}

/**
 * The master ended a subscription for good: it sent an ERROR event, or refused Subscribe. The
 * client has stopped; `reason` says whether something else can be done (FRAMEWORK_REMOVED: the
 * framework id is retired, and subscribing without it starts afresh).
 */
export class SubscriptionError extends Error {
  override readonly name = 'SubscriptionError';
  constructor(
    /** Why (`FRAMEWORK_REMOVED`, `INVALID_ARGUMENT`...); undefined when the master gave a reason this SDK does not know. */
    readonly reason: ErrorReason | undefined,
    /** The master's message. */
    readonly details: string,
    /** The gRPC status name when Subscribe was refused (`FAILED_PRECONDITION`...); undefined for an ERROR event. */
    readonly code?: string,
  ) {
    super(`the master ended the subscription: ${code ? `${code}: ` : ''}${details}`);
  }
}

/** Filters on the wire; none given leaves the master's default (refuse 5 s). */
export function filtersToProto(filters: CallFilters | undefined): Filters | null {
  return filters?.refuseSeconds === undefined ? null : { refuseSeconds: filters.refuseSeconds };
}

/** One domain Operation as the wire's oneof. */
export function operationToProto(op: Operation): OperationMsg {
  switch (op.type) {
    case 'LAUNCH':
      return { launch: { tasks: op.tasks.map(taskToProto) } };
    case 'RESERVE':
      return { reserve: { resources: resourcesToProto(op.resources) } };
    case 'UNRESERVE':
      return { unreserve: { resources: resourcesToProto(op.resources) } };
    case 'CREATE':
      return { create: { volumes: resourcesToProto(op.volumes) } };
    case 'DESTROY':
      return { destroy: { volumes: resourcesToProto(op.volumes) } };
  }
}
