/** Encodes the core's domain messages for the wire. */
import {
  errorReasonToProto,
  frameworkInfoToProto,
  offerToProto,
  reasonToProto,
  statusToProto,
  taskToProto,
} from '../../common/codec.js';
import type { Event } from '../../gen/orbit/v1/Event.js';
import type { MasterMessage } from '../../gen/orbit/v1/MasterMessage.js';
import type { AgentCommand, SchedulerEvent } from '../ports.js';

/** A master → agent command, stamped with the master's epoch. */
export function encodeAgentCommand(command: AgentCommand, epoch: number): MasterMessage {
  const base = { epoch: String(epoch) };
  switch (command.type) {
    case 'registered':
      return { ...base, registered: { agentId: command.agentId, heartbeatIntervalSeconds: command.heartbeatIntervalMs / 1000 } };
    case 'reregistered':
      return { ...base, reregistered: { agentId: command.agentId, heartbeatIntervalSeconds: command.heartbeatIntervalMs / 1000 } };
    case 'runTask':
      return { ...base, runTask: { framework: frameworkInfoToProto(command.framework), task: taskToProto(command.task), acceptedAt: (command.acceptedAt ?? 0) / 1000 } };
    case 'killTask':
      return {
        ...base,
        killTask: {
          frameworkId: command.frameworkId,
          taskId: command.taskId,
          ...(command.killGraceMs !== undefined ? { killGraceSeconds: command.killGraceMs / 1000 } : {}),
          reason: reasonToProto(command.reason),
        },
      };
    case 'ack':
      return { ...base, ack: { frameworkId: command.frameworkId, taskId: command.taskId, uuid: command.uuid } };
    case 'shutdownFramework':
      return { ...base, shutdownFramework: { frameworkId: command.frameworkId } };
    case 'reconcile':
      return { ...base, reconcile: { frameworkId: command.frameworkId, taskIds: command.taskIds } };
    case 'refused':
      return { ...base, refused: { message: command.message, reason: errorReasonToProto(command.reason) } };
  }
}

export function encodeSchedulerEvent(event: SchedulerEvent): Event {
  switch (event.type) {
    case 'subscribed':
      return {
        subscribed: {
          frameworkId: event.frameworkId,
          streamId: event.streamId,
          heartbeatIntervalSeconds: event.heartbeatIntervalMs / 1000,
          masterId: event.masterId,
        },
      };
    case 'offers':
      return { offers: { offers: event.offers.map(offerToProto) } };
    case 'rescind':
      return { rescind: { offerId: event.offerId } };
    case 'update':
      return { update: { status: statusToProto(event.status) } };
    case 'failure':
      return { failure: { agentId: event.agentId, message: event.message } };
    case 'error':
      return { error: { message: event.message, reason: errorReasonToProto(event.reason) } };
    case 'heartbeat':
      return { heartbeat: {} };
  }
}
