/**
 * Where the master's messages stop being generated types, on the receiving side: a MasterMessage
 * becomes a ReceivedAgentCommand, an Event a ReceivedSchedulerEvent (master-messages.ts; the
 * master's encoders are in master/rpc/encode.ts). Each decoder checks names (names.ts), enums and
 * numbers and throws InvalidArgumentError naming the field, with two exceptions a receiver is
 * better served by, each reported as a warning for its log:
 * - a heartbeat interval outside HEARTBEAT_INTERVAL_MS becomes the default (a NaN interval would
 *   otherwise have an agent heartbeat every millisecond);
 * - an offer that does not decode is left out of its OFFERS event (the others still arrive);
 * - a run_task's accepted_at that is not a time is left out (it is shown, never acted on).
 * A run_task the agent refuses is a value, `invalidLaunch`, naming the task when it can.
 * A batch is the streams' framing, not a message: unbatch* opens one, and a batch inside a batch
 * does not decode.
 */
import type { Event__Output } from '../gen/orbit/v1/Event.js';
import type { MasterMessage__Output } from '../gen/orbit/v1/MasterMessage.js';
import type { RunTask__Output } from '../gen/orbit/v1/RunTask.js';
import type { Offer } from './cluster.js';
import { errorReasonFromProto, frameworkInfoFromProto, launchRefusal, offerFromProto, optionalTimeMs, reasonFromProto, required, secondsToMs, statusFromProto, taskFromProto } from './codec.js';
import { truncateText } from './echo.js';
import { errorMessage, InvalidArgumentError } from './errors.js';
import type { ReceivedAgentCommand, ReceivedSchedulerEvent } from './master-messages.js';
import { checkName, isValidName } from './names.js';
import { KILL_GRACE_MS, within, type Bounds } from './task-limits.js';
import { MAX_STATUS_MESSAGE_CHARS } from './tasks.js';

/** The heartbeat intervals a master may ask for: 0.1 s to 1 hour. */
export const HEARTBEAT_INTERVAL_MS: Bounds = { min: 100, max: 3_600_000 };
/** The interval taken instead of one outside HEARTBEAT_INTERVAL_MS (DESIGN.md: 15 s). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 15_000;

/** A decoded master → agent message: the master's epoch, the command, and what the decoder replaced. */
export interface DecodedAgentCommand {
  epoch: number;
  command: ReceivedAgentCommand;
  warnings: string[];
}

/** A decoded scheduler event, and what the decoder replaced or left out. */
export interface DecodedSchedulerEvent {
  event: ReceivedSchedulerEvent;
  warnings: string[];
}

/** The messages of one AgentLink stream message: a batch's, in order, or the message itself. */
export function unbatchMasterMessage(m: MasterMessage__Output): MasterMessage__Output[] {
  return m.message === 'batch' ? (m.batch?.messages ?? []) : [m];
}

/** The events of one Subscribe stream message: a batch's, in order, or the event itself. */
export function unbatchEvent(m: Event__Output): Event__Output[] {
  return m.event === 'batch' ? (m.batch?.events ?? []) : [m];
}

/** Seconds on the wire as a heartbeat interval in ms; the default, with a warning, when out of bounds. */
function heartbeatIntervalMs(seconds: number, field: string, warnings: string[]): number {
  const ms = seconds * 1000;
  if (Number.isFinite(ms) && within(ms, HEARTBEAT_INTERVAL_MS)) return Math.round(ms);
  const { min, max } = HEARTBEAT_INTERVAL_MS;
  warnings.push(`${field}: ${seconds} s is not ${min / 1000} s to ${max / 1000} s; taking ${DEFAULT_HEARTBEAT_INTERVAL_MS / 1000} s instead`);
  return DEFAULT_HEARTBEAT_INTERVAL_MS;
}

/** The master's epoch: a uint64, as the decimal string the loader makes of it. */
function epochFromProto(epoch: string): number {
  if (!/^\d{1,20}$/.test(epoch)) throw new InvalidArgumentError('epoch', `must be a whole number, got ${JSON.stringify(epoch.slice(0, 24))}`);
  // Past 2^53 epochs round, which keeps their order (no master gets near).
  return Number(epoch);
}

// ---- master → agent -----------------------------------------------------------------------------

/** Decodes a master → agent message (not a batch). */
export function agentCommandFromProto(m: MasterMessage__Output): DecodedAgentCommand {
  const epoch = epochFromProto(m.epoch);
  const warnings: string[] = [];
  return { epoch, command: commandFromProto(m, warnings), warnings };
}

function commandFromProto(m: MasterMessage__Output, warnings: string[]): ReceivedAgentCommand {
  switch (m.message) {
    case 'registered':
    case 'reregistered': {
      const r = required(m[m.message], m.message);
      return {
        type: m.message,
        agentId: checkName('agent id', r.agentId, `${m.message}.agent_id`),
        heartbeatIntervalMs: heartbeatIntervalMs(r.heartbeatIntervalSeconds, `${m.message}.heartbeat_interval_seconds`, warnings),
      };
    }
    case 'runTask':
      return runTaskFromProto(required(m.runTask, 'run_task'), warnings);
    case 'killTask': {
      const k = required(m.killTask, 'kill_task');
      return {
        type: 'killTask',
        frameworkId: checkName('framework id', k.frameworkId, 'kill_task.framework_id'),
        taskId: checkName('task id', k.taskId, 'kill_task.task_id'),
        ...(k.killGraceSeconds === undefined || k.killGraceSeconds === null ? {} : { killGraceMs: secondsToMs(k.killGraceSeconds, KILL_GRACE_MS, 'kill_task.kill_grace_seconds') }),
        reason: reasonFromProto(k.reason, 'kill_task.reason'),
      };
    }
    case 'ack': {
      const a = required(m.ack, 'ack');
      return {
        type: 'ack',
        frameworkId: checkName('framework id', a.frameworkId, 'ack.framework_id'),
        taskId: checkName('task id', a.taskId, 'ack.task_id'),
        uuid: checkName('update uuid', a.uuid, 'ack.uuid'),
      };
    }
    case 'shutdownFramework':
      return { type: 'shutdownFramework', frameworkId: checkName('framework id', required(m.shutdownFramework, 'shutdown_framework').frameworkId, 'shutdown_framework.framework_id') };
    case 'reconcile': {
      const r = required(m.reconcile, 'reconcile');
      return {
        type: 'reconcile',
        frameworkId: checkName('framework id', r.frameworkId, 'reconcile.framework_id'),
        taskIds: r.taskIds.map((id, i) => checkName('task id', id, `reconcile.task_ids[${i}]`)),
      };
    }
    case 'refused': {
      const r = required(m.refused, 'refused');
      return { type: 'refused', reason: errorReasonFromProto(r.reason), message: truncateText(r.message, MAX_STATUS_MESSAGE_CHARS) };
    }
    case 'batch':
      throw new InvalidArgumentError('batch', 'a batch holds no batch');
    case undefined:
      throw new InvalidArgumentError('message', 'the message holds no command');
  }
}

/**
 * A run_task, checked with the master's own rules (the codec and launchRefusal) before the agent
 * makes a sandbox or a checkpoint directory from its ids. Never throws: a launch the agent refuses
 * is `invalidLaunch`, with the ids that are valid names.
 */
export function runTaskFromProto(m: RunTask__Output, warnings: string[] = []): Extract<ReceivedAgentCommand, { type: 'runTask' | 'invalidLaunch' }> {
  try {
    const framework = frameworkInfoFromProto(required(m.framework, 'run_task.framework'), 'run_task.framework');
    const info = required(m.task, 'run_task.task');
    const task = taskFromProto(info, 'run_task.task');
    const refusal = launchRefusal(info, 'run_task.task');
    const acceptedAt = optionalTimeMs(m.acceptedAt, 'run_task.accepted_at', warnings);
    if (refusal === undefined) return { type: 'runTask', framework, task, ...(acceptedAt !== undefined ? { acceptedAt } : {}) };
    return { type: 'invalidLaunch', message: refusal, frameworkId: framework.id, taskId: task.taskId };
  } catch (err) {
    const frameworkId = m.framework?.id ?? '';
    const taskId = m.task?.taskId ?? '';
    return {
      type: 'invalidLaunch',
      message: errorMessage(err),
      ...(isValidName('framework id', frameworkId) ? { frameworkId } : {}),
      ...(isValidName('task id', taskId) ? { taskId } : {}),
    };
  }
}

// ---- master → framework -------------------------------------------------------------------------

/** Decodes a scheduler event (not a batch). */
export function schedulerEventFromProto(m: Event__Output): DecodedSchedulerEvent {
  const warnings: string[] = [];
  return { event: eventFromProto(m, warnings), warnings };
}

function eventFromProto(m: Event__Output, warnings: string[]): ReceivedSchedulerEvent {
  switch (m.event) {
    case 'subscribed': {
      const s = required(m.subscribed, 'subscribed');
      return {
        type: 'subscribed',
        frameworkId: checkName('framework id', s.frameworkId, 'subscribed.framework_id'),
        streamId: checkName('stream id', s.streamId, 'subscribed.stream_id'),
        heartbeatIntervalMs: heartbeatIntervalMs(s.heartbeatIntervalSeconds, 'subscribed.heartbeat_interval_seconds', warnings),
        masterId: truncateText(s.masterId, 256),
      };
    }
    case 'offers': {
      const offers: Offer[] = [];
      for (const [i, o] of (m.offers?.offers ?? []).entries()) {
        try {
          offers.push(offerFromProto(o));
        } catch (err) {
          warnings.push(`offers[${i}]: left out: ${errorMessage(err)}`);
        }
      }
      return { type: 'offers', offers };
    }
    case 'rescind':
      return { type: 'rescind', offerId: checkName('offer id', required(m.rescind, 'rescind').offerId, 'rescind.offer_id') };
    case 'update':
      return { type: 'update', status: statusFromProto(required(required(m.update, 'update').status, 'update.status'), 'update.status') };
    case 'failure': {
      const f = required(m.failure, 'failure');
      return { type: 'failure', agentId: checkName('agent id', f.agentId, 'failure.agent_id'), message: truncateText(f.message, MAX_STATUS_MESSAGE_CHARS) };
    }
    case 'error': {
      const e = required(m.error, 'error');
      return { type: 'error', reason: errorReasonFromProto(e.reason), message: truncateText(e.message, MAX_STATUS_MESSAGE_CHARS) };
    }
    case 'heartbeat':
      return { type: 'heartbeat' };
    case 'message':
      throw new InvalidArgumentError('message', 'framework messages are not supported by this client');
    case 'batch':
      throw new InvalidArgumentError('batch', 'a batch holds no batch');
    case undefined:
      throw new InvalidArgumentError('event', 'the message holds no event');
  }
}
