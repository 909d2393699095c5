/**
 * Every gRPC service of the master goes through this gate: while the master leads, a call reaches
 * the current term's handler; otherwise it is refused with UNAVAILABLE and the typed reason
 * NOT_LEADER, naming the leader when one is known, and changes nothing. The gate keeps each
 * term's open streams, so that when a term ends every one of them is ended with that refusal and
 * its client follows the hint at once instead of waiting for a keepalive to notice.
 */
import type * as grpc from '@grpc/grpc-js';
import type { NotLeaderError } from '../../common/errors.js';
import { toServiceError } from './status-codes.js';

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown>;

/** Ends a server stream with `err`'s status (its reason in the details). */
export function endStream(call: AnyCall, err: unknown): void {
  const status = toServiceError(err);
  call.emit('error', Object.assign(new Error(status.details), status));
}

export class LeaderGate<H> {
  private open: H | undefined;
  private readonly streams = new Set<AnyCall>();

  /** `refusal()` says why a call is refused now (and who leads). */
  constructor(private readonly refusal: () => NotLeaderError, private readonly leading: () => boolean = () => true) {}

  /** Lets calls through to `handlers` (a term has begun). */
  admit(handlers: H): void {
    this.open = handlers;
  }

  /** Refuses calls from now on and ends every open stream with the refusal (the term is over). */
  shut(): void {
    this.open = undefined;
    const err = this.refusal();
    for (const call of [...this.streams]) endStream(call, err);
    this.streams.clear();
  }

  /** The handlers in use, or undefined while calls are refused. */
  get handlers(): H | undefined {
    // The leading check may step down (synchronously, shutting the gate) when the lead lapsed.
    return this.open !== undefined && this.leading() ? this.open : undefined;
  }

  /** A service implementation for `definition` whose methods go to `pick(handlers)` while admitted. */
  service(definition: grpc.ServiceDefinition, pick: (handlers: H) => grpc.UntypedServiceImplementation): grpc.UntypedServiceImplementation {
    const out: grpc.UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(definition)) {
      if (!method.responseStream) {
        out[name] = ((call: AnyCall, callback: grpc.sendUnaryData<unknown>) => {
          const handlers = this.handlers;
          if (handlers === undefined) return callback(toServiceError(this.refusal()));
          return (pick(handlers)[name] as (c: AnyCall, cb: grpc.sendUnaryData<unknown>) => void)(call, callback);
        }) as grpc.UntypedHandleCall;
      } else {
        out[name] = ((call: AnyCall) => {
          const handlers = this.handlers;
          if (handlers === undefined) return endStream(call, this.refusal());
          this.streams.add(call);
          const forget = (): void => void this.streams.delete(call);
          const events = call as unknown as NodeJS.EventEmitter;
          for (const event of ['close', 'cancelled', 'finish']) events.once(event, forget);
          return (pick(handlers)[name] as (c: AnyCall) => void)(call);
        }) as grpc.UntypedHandleCall;
      }
    }
    return out;
  }
}
