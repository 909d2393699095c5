/** The one place faults become gRPC status codes (STYLE.md 7). */
import * as grpc from '@grpc/grpc-js';
import { truncateText } from '../../common/echo.js';
import { errorMessage, NotLeaderError, reasonOf } from '../../common/errors.js';
import { encodeStatusDetails, STATUS_DETAILS_KEY } from '../../common/status-details.js';

const CODES: Record<string, grpc.status> = {
  InvalidArgumentError: grpc.status.INVALID_ARGUMENT,
  ResourceParseError: grpc.status.INVALID_ARGUMENT,
  AttributeParseError: grpc.status.INVALID_ARGUMENT,
  NotFoundError: grpc.status.NOT_FOUND,
  FailedPreconditionError: grpc.status.FAILED_PRECONDITION,
  UnimplementedError: grpc.status.UNIMPLEMENTED,
  RegistryWriteError: grpc.status.UNAVAILABLE,
  UnauthenticatedError: grpc.status.UNAUTHENTICATED,
  PermissionDeniedError: grpc.status.PERMISSION_DENIED,
  NotLeaderError: grpc.status.UNAVAILABLE,
  FencedWriteError: grpc.status.UNAVAILABLE,
};

/**
 * The longest status message sent. Messages quote input through echo.ts already; this is the last
 * line of defence, since the message travels in the `grpc-message` header.
 */
export const MAX_STATUS_DETAILS_CHARS = 1_024;

/**
 * A grpc-js service error for a thrown value, with its typed reason in the status details;
 * unknown faults become INTERNAL.
 */
export function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  const name = err instanceof Error ? err.name : '';
  const code = CODES[name] ?? grpc.status.INTERNAL;
  const details = truncateText(errorMessage(err), MAX_STATUS_DETAILS_CHARS);
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_DETAILS_KEY, encodeStatusDetails(code, details, { reason: reasonOf(err), metadata: err instanceof NotLeaderError ? err.metadata : {} }));
  return { code, details, metadata };
}

/** The peer's IP address from grpc-js' `ipv4:127.0.0.1:5555` / `ipv6:[::1]:5555` form. */
export function peerAddress(peer: string): string {
  const m = /^(?:ipv[46]:)?\[?([^\]]+?)\]?:\d+$/.exec(peer);
  return m?.[1] ?? peer;
}
