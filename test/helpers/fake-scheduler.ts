/**
 * A scripted Scheduler service for SDK tests: records every subscription and call, answers
 * Subscribe with SUBSCRIBED, and lets the test write events, end streams and fail calls.
 */
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import type { ErrorReason } from '../../src/common/errors.js';
import { orbitV1 } from '../../src/common/proto.js';
import { encodeStatusDetails, STATUS_DETAILS_KEY } from '../../src/common/status-details.js';
import type { CallHeader__Output } from '../../src/gen/orbit/v1/CallHeader.js';
import type { Event } from '../../src/gen/orbit/v1/Event.js';
import type { SchedulerHandlers } from '../../src/gen/orbit/v1/Scheduler.js';
import type { SubscribeRequest__Output } from '../../src/gen/orbit/v1/SubscribeRequest.js';
import { testServerCredentials } from './pki.js';

export type CallName = 'Accept' | 'Decline' | 'Revive' | 'Suppress' | 'Kill' | 'Acknowledge' | 'Reconcile' | 'Message' | 'Teardown';

/** A status a call or Subscribe fails with; a `reason` goes in the status details, as the master puts it. */
export interface FakeFailure {
  code: grpc.status;
  details: string;
  reason?: ErrorReason;
}

/** `failure` as grpc-js takes it from a handler. */
function statusOf(failure: FakeFailure): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (failure.reason) metadata.set(STATUS_DETAILS_KEY, encodeStatusDetails(failure.code, failure.details, { reason: failure.reason, metadata: {} }));
  return { code: failure.code, details: failure.details, metadata };
}

export interface RecordedCall {
  method: CallName;
  // The decoded request; tests look at fields by name.
  request: { header: { frameworkId: string; streamId: string } | null } & Record<string, unknown>;
}

export class FakeScheduler extends EventEmitter {
  readonly server = new grpc.Server();
  readonly subscriptions: SubscribeRequest__Output[] = [];
  readonly calls: RecordedCall[] = [];
  /** The open Subscribe stream (the latest one). */
  stream: grpc.ServerWritableStream<SubscribeRequest__Output, Event> | undefined;
  /** The heartbeat interval announced in SUBSCRIBED. */
  heartbeatSeconds = 60;
  /** When set, the next Subscribe fails with this status instead of answering. */
  refuseSubscribe: FakeFailure | undefined;
  /** Calls of these methods fail with the given status. */
  readonly failures = new Map<CallName, FakeFailure>();
  port = 0;

  async listen(): Promise<string> {
    const unary = <Req extends { header: CallHeader__Output | null }>(method: CallName): grpc.handleUnaryCall<Req, object> => (call, callback) => {
      this.calls.push({ method, request: call.request as unknown as RecordedCall['request'] });
      this.emit('call', method);
      const failure = this.failures.get(method);
      if (failure) callback(statusOf(failure));
      else callback(null, {});
    };
    const handlers: SchedulerHandlers = {
      Subscribe: (call) => {
        this.subscriptions.push(call.request);
        if (this.refuseSubscribe) {
          call.emit('error', statusOf(this.refuseSubscribe));
          return;
        }
        this.stream = call;
        const n = this.subscriptions.length;
        call.write({
          subscribed: {
            frameworkId: call.request.framework?.id || 'fw-1',
            streamId: `stream-${n}`,
            heartbeatIntervalSeconds: this.heartbeatSeconds,
            masterId: 'master-1',
          },
        });
        this.emit('subscribe', call.request);
      },
      Accept: unary('Accept'),
      Decline: unary('Decline'),
      Revive: unary('Revive'),
      Suppress: unary('Suppress'),
      Kill: unary('Kill'),
      Acknowledge: unary('Acknowledge'),
      Reconcile: unary('Reconcile'),
      Message: unary('Message'),
      Teardown: unary('Teardown'),
    };
    this.server.addService(orbitV1().Scheduler.service, handlers);
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', testServerCredentials(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    return `127.0.0.1:${this.port}`;
  }

  /** Writes an event on the open stream. */
  send(event: Event): void {
    if (!this.stream) throw new Error('no open subscription');
    this.stream.write(event);
  }

  /** Ends the open stream with an error status. */
  fail(code: grpc.status, details: string): void {
    this.stream?.emit('error', { code, details });
    this.stream = undefined;
  }

  /** Ends the open stream normally. */
  end(): void {
    this.stream?.end();
    this.stream = undefined;
  }

  callsOf(method: CallName): RecordedCall['request'][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.request);
  }

  close(): void {
    this.server.forceShutdown();
  }
}

/** Resolves with the event's arguments, or rejects after `ms`. */
export function once<T extends unknown[]>(emitter: { once(event: string, fn: (...args: T) => void): unknown }, event: string, ms = 3_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for '${event}'`)), ms);
    emitter.once(event, (...args: T) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

/** Resolves once `predicate` holds (checked every 5 ms), or rejects after `ms`. */
export async function until(predicate: () => boolean, what: string, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
