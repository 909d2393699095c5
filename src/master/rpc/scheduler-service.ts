/**
 * The Scheduler service over gRPC. Subscribe opens a server stream of events; every other call is
 * unary, names its framework and stream, and is refused when the stream is stale. Malformed calls
 * get INVALID_ARGUMENT naming the field; outcomes (a stale offer, a task that does not fit) come
 * back as status updates on the stream.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { frameworkInfoFromProto, required, resourcesFromProto, taskFromProto } from '../../common/codec.js';
import type { FrameworkInfo, Operation } from '../../common/cluster.js';
import { InvalidArgumentError, UnimplementedError } from '../../common/errors.js';
import { Outbox } from '../../common/outbox.js';
import type { CallHeader__Output } from '../../gen/orbit/v1/CallHeader.js';
import type { CallResponse } from '../../gen/orbit/v1/CallResponse.js';
import type { Event } from '../../gen/orbit/v1/Event.js';
import type { Filters__Output } from '../../gen/orbit/v1/Filters.js';
import type { Operation__Output } from '../../gen/orbit/v1/Operation.js';
import type { SchedulerHandlers } from '../../gen/orbit/v1/Scheduler.js';
import type { SubscribeRequest__Output } from '../../gen/orbit/v1/SubscribeRequest.js';
import type { MasterCore } from '../core.js';
import type { FrameworkRecord } from '../records.js';
import { encodeSchedulerEvent } from './encode.js';
import { toServiceError } from './status-codes.js';

const ROLE_PATTERN = /^(\*|[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/;

function checkFrameworkInfo(info: FrameworkInfo): FrameworkInfo {
  if (!info.name.trim()) throw new InvalidArgumentError('framework.name', 'a framework needs a name');
  const roles = info.roles.length === 0 ? ['*'] : info.roles;
  roles.forEach((r, i) => {
    if (!ROLE_PATTERN.test(r)) throw new InvalidArgumentError(`framework.roles[${i}]`, `'${r}' is not a valid role name`);
  });
  if (new Set(roles).size !== roles.length) throw new InvalidArgumentError('framework.roles', 'roles are listed twice');
  if (!(info.failoverTimeoutMs >= 0)) throw new InvalidArgumentError('framework.failover_timeout_seconds', 'must not be negative');
  return { ...info, roles };
}

function refuseSeconds(filters: Filters__Output | null): number | undefined {
  const value = filters?.refuseSeconds;
  if (value === undefined || value === null) return undefined;
  if (!Number.isFinite(value) || value < 0) throw new InvalidArgumentError('filters.refuse_seconds', `must be a non-negative number, got ${value}`);
  return value;
}

function decodeOperation(op: Operation__Output, field: string): Operation {
  switch (op.operation) {
    case 'launch':
      return { type: 'LAUNCH', tasks: (op.launch?.tasks ?? []).map((t, j) => taskFromProto(t, `${field}.launch.tasks[${j}]`)) };
    case 'reserve':
      return { type: 'RESERVE', resources: resourcesFromProto(op.reserve?.resources ?? [], `${field}.reserve.resources`) };
    case 'unreserve':
      return { type: 'UNRESERVE', resources: resourcesFromProto(op.unreserve?.resources ?? [], `${field}.unreserve.resources`) };
    case 'create':
    case 'destroy':
      throw new UnimplementedError(`${field}: ${op.operation.toUpperCase()} (persistent volumes) is not supported yet`);
    default:
      throw new InvalidArgumentError(field, 'an operation needs a type (launch, reserve, unreserve, create or destroy)');
  }
}

function checkIds(ids: readonly string[], field: string): string[] {
  ids.forEach((id, i) => {
    if (!id) throw new InvalidArgumentError(`${field}[${i}]`, 'must not be empty');
  });
  return [...ids];
}

interface Ack {
  agentId: string;
  taskId: string;
  uuid: string;
}

/** One acknowledgement, checked before any of its call is applied; `prefix` names where it sits. */
function checkAck(ack: Ack, prefix: string): Ack {
  if (!ack.taskId) throw new InvalidArgumentError(`${prefix}task_id`, 'is required');
  if (!ack.uuid) throw new InvalidArgumentError(`${prefix}uuid`, 'is required (master-made updates need no acknowledgement)');
  return ack;
}

export function schedulerHandlers(core: MasterCore, log: Logger): SchedulerHandlers {
  /** Wraps a unary call: header check, then the action; faults become status codes. */
  function call<Req extends { header: CallHeader__Output | null }>(action: (framework: FrameworkRecord, request: Req) => void): grpc.handleUnaryCall<Req, CallResponse> {
    return (c, callback) => {
      try {
        const header = required(c.request.header, 'header');
        if (!header.frameworkId) throw new InvalidArgumentError('header.framework_id', 'is required');
        if (!header.streamId) throw new InvalidArgumentError('header.stream_id', 'is required');
        action(core.requireFramework(header.frameworkId, header.streamId), c.request);
        callback(null, {});
      } catch (err) {
        log.debug({ err }, 'scheduler call refused');
        callback(toServiceError(err));
      }
    };
  }

  return {
    Subscribe(stream: grpc.ServerWritableStream<SubscribeRequest__Output, Event>) {
      let open = true;
      let ids: { frameworkId: string; streamId: string } | undefined;
      // A turn's events go as one message: the updates of tasks launched together, say.
      const outbox = Outbox.forStream<Event>(
        (event) => open && stream.write(event),
        (events) => ({ batch: { events } }),
      );
      const channel = {
        send: (event: Parameters<typeof encodeSchedulerEvent>[0]) => {
          if (open) outbox.push(encodeSchedulerEvent(event));
        },
        close: () => {
          if (!open) return;
          outbox.flush();
          open = false;
          stream.end();
        },
      };
      const ended = () => {
        open = false;
        outbox.clear();
        if (ids) core.frameworkDisconnected(ids.frameworkId, ids.streamId);
      };
      stream.on('cancelled', ended);
      stream.on('error', ended);
      stream.on('close', ended);
      try {
        const info = checkFrameworkInfo(frameworkInfoFromProto(required(stream.request.framework, 'framework')));
        ids = core.subscribe(info, channel);
      } catch (err) {
        open = false;
        // grpc-js ends a server stream with a status when the stream emits an error.
        const status = toServiceError(err);
        stream.emit('error', Object.assign(new Error(status.details), status));
      }
    },
    Accept: call((framework, req) => {
      const offerIds = checkIds(req.offerIds, 'offer_ids');
      if (offerIds.length === 0) throw new InvalidArgumentError('offer_ids', 'at least one offer id is required');
      const operations = req.operations.map((op, i) => decodeOperation(op, `operations[${i}]`));
      core.accept(framework, offerIds, operations, refuseSeconds(req.filters));
    }),
    Decline: call((framework, req) => {
      core.decline(framework, checkIds(req.offerIds, 'offer_ids'), refuseSeconds(req.filters));
    }),
    Revive: call((framework, req) => core.revive(framework, req.roles)),
    Suppress: call((framework, req) => core.suppress(framework, req.roles)),
    Kill: call((framework, req) => {
      if (!req.taskId) throw new InvalidArgumentError('task_id', 'is required');
      const grace = req.killGraceSeconds;
      if (grace !== undefined && !(grace >= 0)) throw new InvalidArgumentError('kill_grace_seconds', 'must not be negative');
      core.kill(framework, req.taskId, grace === undefined ? undefined : grace * 1000);
    }),
    Acknowledge: call((framework, req) => {
      const acks: Ack[] = req.taskId || req.uuid || req.acks.length === 0 ? [checkAck(req, '')] : [];
      req.acks.forEach((a, i) => acks.push(checkAck(a, `acks[${i}].`)));
      for (const a of acks) core.acknowledge(framework, a.agentId, a.taskId, a.uuid);
    }),
    Reconcile: call((framework, req) => {
      core.reconcile(framework, req.tasks.map((t, i) => {
        if (!t.taskId) throw new InvalidArgumentError(`tasks[${i}].task_id`, 'is required');
        return { taskId: t.taskId, agentId: t.agentId };
      }));
    }),
    Message: call(() => {
      throw new UnimplementedError('framework messages need an executor; Orbit runs tasks without executors');
    }),
    Teardown: call((framework) => core.teardown(framework)),
  };
}
