/**
 * What one message, one stream and one connection may cost the master (DESIGN.md "Limits"): each
 * limit with its master flag, default and bounds, kept here once for the master and `orbit master`.
 */
import type * as grpc from '@grpc/grpc-js';
import { SERVER_OPTIONS } from '../../common/proto.js';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface WireLimits {
  /** The largest message the master takes; a larger one gets RESOURCE_EXHAUSTED before it is decoded. */
  maxReceiveBytes: number;
  /** Bytes a framework's or agent's stream may have written but not yet sent before it is cut. */
  maxStreamQueueBytes: number;
  /** How long a new connection has to send the HTTP/2 preface and its first SETTINGS frame. */
  handshakeTimeoutMs: number;
  /** Streams one connection may have open at once; a peer that opens more has them refused. */
  maxStreamsPerConnection: number;
}

interface LimitSpec {
  flag: string;
  /** What the flag's value is in; the limit is the flag's value times `scale`. */
  unit: 'bytes' | 'seconds' | 'streams';
  scale: number;
  default: number;
  /** Inclusive, in the limit's own unit (bytes, milliseconds, streams). */
  bounds: { readonly min: number; readonly max: number };
  description: string;
}

export const WIRE_LIMITS: Readonly<Record<keyof WireLimits, LimitSpec>> = {
  maxReceiveBytes: {
    flag: '--max-receive-bytes',
    unit: 'bytes',
    scale: 1,
    // One valid 60 MiB Accept stalled the master for 4-5 s and added 400 MiB. Below 1 MiB an agent
    // re-registering with a few thousand tasks would be refused.
    default: 4 * MiB,
    bounds: { min: 1 * MiB, max: 64 * MiB },
    description: 'the largest gRPC message the master takes; a larger one is refused with RESOURCE_EXHAUSTED',
  },
  maxStreamQueueBytes: {
    flag: '--max-stream-queue-bytes',
    unit: 'bytes',
    scale: 1,
    // A cycle's offers for 10,000 agents are about 3 MB: a reader that is merely slow has room for
    // several; one that has stopped costs at most this much.
    default: 16 * MiB,
    bounds: { min: 64 * KiB, max: 1024 * MiB },
    description: 'bytes queued for a framework or agent that is not reading before its stream is cut',
  },
  handshakeTimeoutMs: {
    flag: '--handshake-timeout',
    unit: 'seconds',
    scale: 1000,
    default: 10_000,
    bounds: { min: 100, max: 300_000 },
    description: 'a gRPC connection that has not sent the HTTP/2 preface and settings by then is closed',
  },
  maxStreamsPerConnection: {
    flag: '--max-streams-per-connection',
    unit: 'streams',
    scale: 1,
    // `orbit fleet` puts up to 2,500 simulated agents' streams on one connection.
    default: 4096,
    bounds: { min: 16, max: 100_000 },
    description: 'concurrent gRPC streams one connection may have; more are refused',
  },
};

export const WIRE_LIMIT_KEYS = Object.keys(WIRE_LIMITS) as (keyof WireLimits)[];

/** The defaults with `overrides` applied. Bounds are the flags' business: tests may go below them. */
export function wireLimits(overrides: Partial<WireLimits> = {}): WireLimits {
  const limits = {} as WireLimits;
  for (const key of WIRE_LIMIT_KEYS) limits[key] = overrides[key] ?? WIRE_LIMITS[key].default;
  return limits;
}

/** The gRPC server's options under these limits (the handshake timeout is the listener's, not grpc-js'). */
export function serverOptions(limits: WireLimits): grpc.ServerOptions {
  return {
    ...SERVER_OPTIONS,
    'grpc.max_receive_message_length': limits.maxReceiveBytes,
    'grpc.max_concurrent_streams': limits.maxStreamsPerConnection,
  };
}
