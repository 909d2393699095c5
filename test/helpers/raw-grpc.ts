/**
 * Raw gRPC clients of the master, outside the SDK: tests send exactly the messages they mean,
 * hostile ones included, and see the status the master answers. Every client is closed at teardown.
 */
import * as grpc from '@grpc/grpc-js';
import { orbitV1 } from '../../src/common/proto.js';
import type { AgentMessage } from '../../src/gen/orbit/v1/AgentMessage.js';
import type { Event__Output } from '../../src/gen/orbit/v1/Event.js';
import type { FrameworkInfo } from '../../src/gen/orbit/v1/FrameworkInfo.js';
import type { MasterMessage__Output } from '../../src/gen/orbit/v1/MasterMessage.js';
import type { SchedulerClient } from '../../src/framework-sdk/index.js';
import type { TestLike } from './cluster.js';
import type { ClientSecurity } from '../../src/common/credentials.js';
import { AGENT, OPERATOR, testChannel } from './pki.js';

/** A call's outcome: the status code and details (OK is 0), never a throw. */
export interface CallOutcome {
  code: grpc.status;
  details: string;
}

type Unary = (request: unknown, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null) => void) => unknown;

function outcome(client: object, method: string, request: unknown, timeoutMs: number): Promise<CallOutcome> {
  const fn = (client as Record<string, Unary>)[method];
  if (!fn) throw new Error(`no method ${method}`);
  return new Promise((resolve) => {
    fn.call(client, request, { deadline: Date.now() + timeoutMs }, (err) => resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }));
  });
}

export interface RawScheduler {
  /** A unary Scheduler call. */
  call(method: string, request: unknown, timeoutMs?: number): Promise<CallOutcome>;
  /** Subscribes; resolves with the SUBSCRIBED ids, or the status that refused it. */
  subscribe(framework: FrameworkInfo, timeoutMs?: number): Promise<{ ok: true; frameworkId: string; streamId: string; events: Event__Output[]; cancel(): void } | ({ ok: false } & CallOutcome)>;
}

export function rawScheduler(t: TestLike, address: string, security: ClientSecurity = OPERATOR): RawScheduler {
  const client = new (orbitV1().Scheduler)(address, testChannel(security));
  t.teardown(() => client.close());
  return {
    call: (method, request, timeoutMs = 10_000) => outcome(client, method, request, timeoutMs),
    subscribe(framework, timeoutMs = 10_000) {
      return new Promise((resolve) => {
        const events: Event__Output[] = [];
        const call = client.Subscribe({ framework }, { deadline: Infinity });
        const timer = setTimeout(() => {
          call.cancel();
          resolve({ ok: false, code: grpc.status.DEADLINE_EXCEEDED, details: 'no SUBSCRIBED in time' });
        }, timeoutMs);
        call.on('data', (e: Event__Output) => {
          const all = e.event === 'batch' ? (e.batch?.events ?? []) : [e];
          events.push(...all);
          const subscribed = all.find((x) => x.event === 'subscribed')?.subscribed;
          if (subscribed) {
            clearTimeout(timer);
            resolve({ ok: true, frameworkId: subscribed.frameworkId, streamId: subscribed.streamId, events, cancel: () => call.cancel() });
          }
        });
        call.on('error', (err: grpc.ServiceError) => {
          clearTimeout(timer);
          resolve({ ok: false, code: err.code, details: err.details });
        });
        t.teardown(() => call.cancel());
      });
    },
  };
}

/**
 * A raw client that calls as a subscribed SDK framework (the same header), to send what the SDK
 * never would while the SDK client takes the offers and the updates.
 */
export async function rawAs(t: TestLike, address: string, framework: SchedulerClient): Promise<{ sched: RawScheduler; header: { frameworkId: string; streamId: string } }> {
  const { frameworkId, streamId } = await framework.start();
  return { sched: rawScheduler(t, address), header: { frameworkId, streamId } };
}

export interface RawOperator {
  call(method: string, request: unknown, timeoutMs?: number): Promise<CallOutcome>;
}

export function rawOperator(t: TestLike, address: string, security: ClientSecurity = OPERATOR): RawOperator {
  const client = new (orbitV1().Operator)(address, testChannel(security));
  t.teardown(() => client.close());
  return { call: (method, request, timeoutMs = 10_000) => outcome(client, method, request, timeoutMs) };
}

/** One AgentLink stream: what the master sent back, and how the stream ended. */
export interface RawAgentSession {
  received: MasterMessage__Output[];
  send(message: AgentMessage): void;
  /** Half-closes the stream: the master ends its side once it has handled what was sent. */
  end(): void;
  /** Resolves when the master ends the stream (or it errs): with the REFUSED message, if any. */
  ended: Promise<{ refused: string | undefined; status: grpc.status | undefined }>;
  close(): void;
}

export function rawAgentSession(t: TestLike, address: string, security: ClientSecurity = AGENT): RawAgentSession {
  const client = new (orbitV1().AgentLink)(address, testChannel(security));
  const call = client.Connect();
  const received: MasterMessage__Output[] = [];
  const close = () => {
    call.cancel();
    client.close();
  };
  t.teardown(close);
  const ended = new Promise<{ refused: string | undefined; status: grpc.status | undefined }>((resolve) => {
    const refusedMessage = () => received.flatMap((m) => (m.message === 'batch' ? (m.batch?.messages ?? []) : [m])).find((m) => m.message === 'refused')?.refused?.message;
    call.on('data', (m: MasterMessage__Output) => received.push(m));
    call.on('end', () => resolve({ refused: refusedMessage(), status: grpc.status.OK }));
    call.on('error', (err: grpc.ServiceError) => resolve({ refused: refusedMessage(), status: err.code }));
  });
  return { received, send: (m) => call.write(m), end: () => call.end(), ended, close };
}
