/**
 * A refused gRPC call's typed reason, in the standard place: the `grpc-status-details-bin` trailer
 * holds a google.rpc.Status whose details hold one google.rpc.ErrorInfo (domain "orbit.v1",
 * reason an ErrorReason). Any gRPC client reads it with its status-details support (Python's
 * grpcio-status, Go's status.FromError...). The three messages are declared here through
 * protobufjs' reflection API, field for field as googleapis defines them.
 */
import protobuf from 'protobufjs';
import { parseErrorReason, type ErrorReason } from './errors.js';

export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
export const ERROR_DOMAIN = 'orbit.v1';
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';

const root = new protobuf.Root();
const Any = new protobuf.Type('Any').add(new protobuf.Field('typeUrl', 1, 'string')).add(new protobuf.Field('value', 2, 'bytes'));
const ErrorInfo = new protobuf.Type('ErrorInfo')
  .add(new protobuf.Field('reason', 1, 'string'))
  .add(new protobuf.Field('domain', 2, 'string'))
  .add(new protobuf.MapField('metadata', 3, 'string', 'string'));
const Status = new protobuf.Type('Status')
  .add(new protobuf.Field('code', 1, 'int32'))
  .add(new protobuf.Field('message', 2, 'string'))
  .add(new protobuf.Field('details', 3, 'google.protobuf.Any', 'repeated'));
root.define('google.protobuf').add(Any);
root.define('google.rpc').add(ErrorInfo).add(Status);
root.resolveAll();

/** What a status detail says: the reason, and metadata (the leader's address, say). */
export interface ErrorDetail {
  reason: ErrorReason;
  metadata: Record<string, string>;
}

/** The encoded google.rpc.Status for a refusal. */
export function encodeStatusDetails(code: number, message: string, detail: ErrorDetail): Buffer {
  const info = ErrorInfo.encode({ reason: detail.reason, domain: ERROR_DOMAIN, metadata: detail.metadata }).finish();
  return Buffer.from(Status.encode({ code, message, details: [{ typeUrl: ERROR_INFO_TYPE_URL, value: info }] }).finish());
}

/**
 * The Orbit ErrorInfo in an encoded google.rpc.Status, or undefined when there is none (another
 * domain, a reason this build does not know, or bytes that do not decode).
 */
export function decodeStatusDetails(bytes: Uint8Array): ErrorDetail | undefined {
  try {
    const status = Status.decode(bytes) as unknown as { details: { typeUrl: string; value: Uint8Array }[] };
    for (const any of status.details) {
      if (any.typeUrl !== ERROR_INFO_TYPE_URL) continue;
      const info = ErrorInfo.decode(any.value) as unknown as { reason: string; domain: string; metadata: Record<string, string> };
      const reason = info.domain === ERROR_DOMAIN ? parseErrorReason(info.reason) : undefined;
      if (reason) return { reason, metadata: { ...info.metadata } };
    }
  } catch {
    // Not a google.rpc.Status: no typed reason.
  }
  return undefined;
}
