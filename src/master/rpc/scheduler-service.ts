/**
 * The Scheduler service over gRPC. Subscribe opens a server stream of events; every other call is
 * unary, names its framework and stream, and is refused when the stream is stale. Malformed calls
 * get INVALID_ARGUMENT naming the field; outcomes (a stale offer, a task that does not fit) come
 * back as status updates on the stream.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { frameworkInfoFromProto, launchRefusal, required, resourcesFromProto, secondsToMs, taskFromProto } from '../../common/codec.js';
import { REFUSE_MS, type FrameworkInfo, type Operation } from '../../common/cluster.js';
import { errorMessage, InvalidArgumentError, reasonOf, UnimplementedError } from '../../common/errors.js';
import { checkName } from '../../common/names.js';
import { KILL_GRACE_MS } from '../../common/task-limits.js';
import { Outbox } from '../../common/outbox.js';
import type { CallHeader__Output } from '../../gen/orbit/v1/CallHeader.js';
import type { CallResponse } from '../../gen/orbit/v1/CallResponse.js';
import type { Event } from '../../gen/orbit/v1/Event.js';
import type { Filters__Output } from '../../gen/orbit/v1/Filters.js';
import type { Operation__Output } from '../../gen/orbit/v1/Operation.js';
import type { SchedulerHandlers } from '../../gen/orbit/v1/Scheduler.js';
import type { SubscribeRequest__Output } from '../../gen/orbit/v1/SubscribeRequest.js';
import type { TaskInfo__Output } from '../../gen/orbit/v1/TaskInfo.js';
import type { MasterCore } from '../core.js';
import { checkCap, type CallLimits } from '../../common/call-limits.js';
import type { OutboundStreams } from './bounded-stream.js';
import type { FrameworkRecord } from '../records.js';
import { encodeSchedulerEvent } from './encode.js';
import type { MasterSecurity } from '../security/master-security.js';
import type { Principal } from '../security/policy.js';
import { authorizeOperations, authorizeSubscribe } from './scheduler-authz.js';
import { toServiceError } from './status-codes.js';

/** The codec checked the info; a framework that names no role gets role '*'. */
function withDefaultRole(info: FrameworkInfo): FrameworkInfo {
  return info.roles.length === 0 ? { ...info, roles: ['*'] } : info;
}

function refuseSeconds(filters: Filters__Output | null): number | undefined {
  const value = filters?.refuseSeconds;
  if (value === undefined || value === null) return undefined;
  return secondsToMs(value, REFUSE_MS, 'filters.refuse_seconds') / 1000;
}

/** A LAUNCH: every task decoded (or the call refused); a task only it gets wrong is refused alone. */
function decodeLaunch(tasks: readonly TaskInfo__Output[], field: string): Operation {
  const refused = new Map<number, string>();
  const specs = tasks.map((t, j) => {
    const spec = taskFromProto(t, `${field}[${j}]`);
    const refusal = launchRefusal(t, `${field}[${j}]`);
    if (refusal !== undefined) refused.set(j, refusal);
    return spec;
  });
  return refused.size > 0 ? { type: 'LAUNCH', tasks: specs, refused } : { type: 'LAUNCH', tasks: specs };
}

function decodeOperation(op: Operation__Output, field: string): Operation {
  switch (op.operation) {
    case 'launch':
      return decodeLaunch(op.launch?.tasks ?? [], `${field}.launch.tasks`);
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

function checkOfferIds(ids: readonly string[], cap: 'offersPerAccept' | 'offersPerDecline', limits: CallLimits, field: string): string[] {
  checkCap(ids.length, cap, limits, field);
  return ids.map((id, i) => checkName('offer id', id, `${field}[${i}]`));
}

function checkRoles(roles: readonly string[], limits: CallLimits): string[] {
  checkCap(roles.length, 'rolesPerCall', limits, 'roles');
  return roles.map((r, i) => checkName('role', r, `roles[${i}]`));
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
  return {
    agentId: ack.agentId ? checkName('agent id', ack.agentId, `${prefix}agent_id`) : '',
    taskId: checkName('task id', ack.taskId, `${prefix}task_id`),
    uuid: checkName('update uuid', ack.uuid, `${prefix}uuid`),
  };
}

/** Tasks over all LAUNCH operations of an Accept, counted before any is decoded. */
function launchCount(operations: readonly Operation__Output[]): number {
  return operations.reduce((n, op) => n + (op.launch?.tasks.length ?? 0), 0);
}

/** Who may use the Scheduler service: frameworks, and operators (`orbit run` is a framework). */
const SCHEDULER_KINDS = ['framework', 'operator'] as const;

export function schedulerHandlers(core: MasterCore, log: Logger, limits: CallLimits, streams: OutboundStreams, security: MasterSecurity): SchedulerHandlers {
  /**
   * Wraps a unary call: header check, then the action; faults become status codes. An action that
   * makes a durable change returns a promise, and the call answers once it settles.
   */
  function call<Req extends { header: CallHeader__Output | null }>(action: (framework: FrameworkRecord, request: Req, principal: Principal | undefined) => void | Promise<void>): grpc.handleUnaryCall<Req, CallResponse> {
    const refused = (callback: grpc.sendUnaryData<CallResponse>) => (err: unknown) => {
      log.debug({ err }, 'scheduler call refused');
      callback(toServiceError(err));
    };
    return (c, callback) => {
      try {
        const header = required(c.request.header, 'header');
        if (!header.frameworkId) throw new InvalidArgumentError('header.framework_id', 'is required');
        if (!header.streamId) throw new InvalidArgumentError('header.stream_id', 'is required');
        checkName('framework id', header.frameworkId, 'header.framework_id');
        checkName('stream id', header.streamId, 'header.stream_id');
        const principal = security.callerOfKind(c, SCHEDULER_KINDS, 'the Scheduler service');
        const framework = core.requireFramework(header.frameworkId, header.streamId);
        security.checkOwner(principal, framework.info.principal, framework.info.id);
        const done = action(framework, c.request, principal);
        if (done instanceof Promise) done.then(() => callback(null, {}), refused(callback));
        else callback(null, {});
      } catch (err) {
        refused(callback)(err);
      }
    };
  }

  return {
    Subscribe(stream: grpc.ServerWritableStream<SubscribeRequest__Output, Event>) {
      let open = true;
      let ids: { frameworkId: string; streamId: string } | undefined;
      // A turn's events go as one message: the updates of tasks launched together, say.
      const writer = streams.open(stream, 'framework', () => ids?.frameworkId);
      const outbox = Outbox.forStream<Event>(
        (event) => open && writer.write(event),
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
      let over = false;
      const ended = () => {
        open = false;
        over = true;
        outbox.clear();
        if (ids) core.frameworkDisconnected(ids.frameworkId, ids.streamId);
      };
      stream.on('cancelled', ended);
      stream.on('error', ended);
      stream.on('close', ended);
      const refuse = (err: unknown) => {
        if (over) return;
        open = false;
        // grpc-js ends a server stream with a status when the stream emits an error.
        const status = toServiceError(err);
        stream.emit('error', Object.assign(new Error(status.details), status));
      };
      let principal: Principal | undefined;
      try {
        principal = security.callerOfKind(stream, SCHEDULER_KINDS, 'the Scheduler service');
        const asked = withDefaultRole(frameworkInfoFromProto(required(stream.request.framework, 'framework')));
        const info = authorizeSubscribe(security, principal, asked, core.view);
        security.audit(principal, 'subscribe', info.id || `new framework ${info.name}`, 'allowed');
        core.subscribe(info, channel).then((subscribed) => {
          ids = subscribed;
          // The stream ended while the subscription was being made durable.
          if (over) core.frameworkDisconnected(subscribed.frameworkId, subscribed.streamId);
        }, refuse);
      } catch (err) {
        if (reasonOf(err) === 'PERMISSION_DENIED') security.audit(principal, 'subscribe', stream.request.framework?.id || 'new framework', 'denied', errorMessage(err));
        refuse(err);
      }
    },
    Accept: call((framework, req, principal) => {
      const offerIds = checkOfferIds(req.offerIds, 'offersPerAccept', limits, 'offer_ids');
      if (offerIds.length === 0) throw new InvalidArgumentError('offer_ids', 'at least one offer id is required');
      checkCap(req.operations.length, 'operationsPerAccept', limits, 'operations');
      checkCap(launchCount(req.operations), 'tasksPerAccept', limits, 'operations[].launch.tasks');
      const operations = req.operations.map((op, i) => decodeOperation(op, `operations[${i}]`));
      const role = core.view.offer(offerIds[0]!)?.offer.role ?? framework.info.roles[0] ?? '*';
      try {
        authorizeOperations(security, principal, role, operations);
      } catch (err) {
        security.audit(principal, 'accept', framework.info.id, 'denied', errorMessage(err));
        throw err;
      }
      if (operations.length > 0) security.audit(principal, 'accept', framework.info.id, 'allowed', operations.map((op) => (op.type === 'LAUNCH' ? `LAUNCH ${op.tasks.map((t) => t.taskId).join(',')}` : op.type)).join('; '));
      return core.accept(framework, offerIds, operations, refuseSeconds(req.filters));
    }),
    Decline: call((framework, req) => {
      core.decline(framework, checkOfferIds(req.offerIds, 'offersPerDecline', limits, 'offer_ids'), refuseSeconds(req.filters));
    }),
    Revive: call((framework, req) => core.revive(framework, checkRoles(req.roles, limits))),
    Suppress: call((framework, req) => core.suppress(framework, checkRoles(req.roles, limits))),
    Kill: call((framework, req, principal) => {
      if (!req.taskId) throw new InvalidArgumentError('task_id', 'is required');
      const taskId = checkName('task id', req.taskId, 'task_id');
      security.audit(principal, 'kill_task', `${framework.info.id}/${taskId}`, 'allowed');
      if (req.agentId) checkName('agent id', req.agentId, 'agent_id');
      const grace = req.killGraceSeconds;
      core.kill(framework, taskId, grace === undefined ? undefined : secondsToMs(grace, KILL_GRACE_MS, 'kill_grace_seconds'));
    }),
    Acknowledge: call((framework, req) => {
      checkCap(req.acks.length, 'acksPerCall', limits, 'acks');
      const acks: Ack[] = req.taskId || req.uuid || req.acks.length === 0 ? [checkAck(req, '')] : [];
      req.acks.forEach((a, i) => acks.push(checkAck(a, `acks[${i}].`)));
      for (const a of acks) core.acknowledge(framework, a.agentId, a.taskId, a.uuid);
    }),
    Reconcile: call((framework, req) => {
      checkCap(req.tasks.length, 'reconcileTasks', limits, 'tasks');
      core.reconcile(framework, req.tasks.map((t, i) => {
        if (!t.taskId) throw new InvalidArgumentError(`tasks[${i}].task_id`, 'is required');
        return { taskId: checkName('task id', t.taskId, `tasks[${i}].task_id`), agentId: t.agentId ? checkName('agent id', t.agentId, `tasks[${i}].agent_id`) : '' };
      }));
    }),
    Message: call(() => {
      throw new UnimplementedError('framework messages need an executor; Orbit runs tasks without executors');
    }),
    Teardown: call((framework, _req, principal) => {
      security.audit(principal, 'teardown_framework', framework.info.id, 'allowed', 'its own');
      return core.teardown(framework);
    }),
  };
}
