/**
 * Server streams to frameworks and agents with a bound on what waits unsent. grpc-js queues every
 * `write()` in the call's object-mode Writable, as the message object, until HTTP/2 flow control
 * lets the previous one go; a peer that stops reading stops its window, and the queue then grows
 * with everything the master has to say (a never-reading subscriber grew the master by 200 MiB over
 * 600k events). Here each message is encoded when written, so the queue is counted in bytes (and
 * holds compact bytes, which grpc-js sends as they are: src/common/proto.ts); a write's callback
 * runs when HTTP/2 has taken it, which is when it leaves the count.
 *
 * Past the bound the stream is cut: a warning names the framework or agent and the queue, the
 * metrics count it, and the HTTP/2 stream is reset with ENHANCE_YOUR_CALM, which gRPC clients read
 * as RESOURCE_EXHAUSTED and reconnect on. A status in trailers would not do: trailers queue behind
 * the data the peer is not reading. grpc-js has no public way to reset one server stream, so the
 * reset reaches for the call's HTTP/2 stream (`resetStream`); the reset makes grpc-js cancel the
 * call, which destroys its Writable, drops its queue and runs the services' 'cancelled' handlers.
 */
import * as http2 from 'node:http2';
import type { Writable } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Logger } from '../../common/logging.js';
import { orbitV1 } from '../../common/proto.js';
import type { MasterMetrics, StreamKind } from '../metrics-port.js';

/** A stream the master writes to, of either service. */
type ServerStream<T> = grpc.ServerWritableStream<unknown, T> | grpc.ServerDuplexStream<unknown, T>;

export interface BoundedWriter<T> {
  /** Queues `message` for the peer; false (and the message dropped) once the stream has been cut. */
  write(message: T): boolean;
  /** Bytes written and not yet taken by HTTP/2. */
  readonly queuedBytes: number;
}

export interface OutboundStreamsOptions {
  maxQueueBytes: number;
  log: Logger;
  metrics: MasterMetrics;
}

/** Each kind of stream's message encoder: a framework's events, an agent's commands. */
function encoderOf(kind: StreamKind): (message: object) => Buffer {
  const v1 = orbitV1();
  return kind === 'framework' ? v1.Scheduler.service.Subscribe.responseSerialize : v1.AgentLink.service.Connect.responseSerialize;
}

/**
 * Resets `call`'s HTTP/2 stream with `code`; false when grpc-js' internals are not where this
 * version keeps them (test/integration/slow-readers.test.ts would then fail).
 */
export function resetStream(call: object, code: number): boolean {
  const stream = (call as { call?: { stream?: unknown } }).call?.stream;
  if (typeof stream !== 'object' || stream === null || !('rstCode' in stream) || !('close' in stream)) return false;
  (stream as http2.Http2Stream).close(code);
  return true;
}

/** The master's policy for streams it writes to: the bound, and who hears about a cut. */
export class OutboundStreams {
  private readonly encoders = new Map<StreamKind, (message: object) => Buffer>();

  constructor(private readonly options: OutboundStreamsOptions) {}

  /**
   * A bounded writer for `call`. `peer` names the framework or agent in the cut's log line (its id,
   * once known). A single message larger than the bound still goes when nothing is queued.
   */
  open<T extends object>(call: ServerStream<T>, kind: StreamKind, peer: () => string | undefined): BoundedWriter<T> {
    let encoder = this.encoders.get(kind);
    if (!encoder) this.encoders.set(kind, (encoder = encoderOf(kind)));
    const encode = encoder;
    const { maxQueueBytes, log, metrics } = this.options;
    // Bytes go in, not T: grpc-js' typing says T, and proto.ts lets encoded bytes through as they are.
    const writable = call as unknown as Writable;
    let queued = 0;
    let cut = false;
    return {
      get queuedBytes() {
        return queued;
      },
      write(message) {
        if (cut || writable.destroyed) return false;
        const bytes = encode(message);
        if (queued > 0 && queued + bytes.length > maxQueueBytes) {
          cut = true;
          log.warn({ [kind === 'framework' ? 'frameworkId' : 'agentId']: peer(), address: call.getPeer(), queuedBytes: queued, maxQueueBytes },
            `${kind} stream cut: the ${kind} is not reading and ${queued} bytes wait unsent (bound ${maxQueueBytes}); it can reconnect`);
          metrics.streamCut(kind);
          queued = 0;
          if (!resetStream(call, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM)) {
            // The status then waits behind the unread data: a reader that resumes still gets it.
            log.error('cannot reset the HTTP/2 stream of a grpc-js call (grpc-js internals moved); ending it with a status instead');
            writable.emit('error', { code: grpcStatus.RESOURCE_EXHAUSTED, details: `${kind} stream cut: not reading` });
          }
          return false;
        }
        queued += bytes.length;
        writable.write(bytes, () => {
          if (!cut) queued -= bytes.length;
        });
        return true;
      },
    };
  }
}
