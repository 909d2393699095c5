/**
 * AgentLink over gRPC: one bidirectional stream per agent. The first message registers (or
 * re-registers); after that, heartbeats and status updates. A malformed message gets a REFUSED
 * command naming the problem and the stream is ended; the master keeps running.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { agentInfoFromProto, frameworkInfoFromProto, required, statusFromProto, taskFromProto } from '../../common/codec.js';
import { errorMessage, InvalidArgumentError, reasonOf, type ErrorReason } from '../../common/errors.js';
import type { AgentInfo, FrameworkInfo } from '../../common/cluster.js';
import { checkName } from '../../common/names.js';
import { isEmpty } from '../../common/resources.js';
import type { AgentLinkHandlers } from '../../gen/orbit/v1/AgentLink.js';
import type { AgentMessage__Output } from '../../gen/orbit/v1/AgentMessage.js';
import type { MasterMessage } from '../../gen/orbit/v1/MasterMessage.js';
import type { MasterCore, ReportedTask } from '../core.js';
import type { AgentChannel } from '../ports.js';
import { Outbox } from '../../common/outbox.js';
import type { OutboundStreams } from './bounded-stream.js';
import { encodeAgentCommand } from './encode.js';
import { peerAddress } from './status-codes.js';

/** At most this many tasks in one re-registration, however many messages it comes in. */
export const MAX_REREGISTER_TASKS = 100_000;

/** The codec checked names, numbers and containerizers; an agent must also offer something. */
function checkAgentInfo(info: AgentInfo): AgentInfo {
  if (isEmpty(info.resources)) throw new InvalidArgumentError('info.resources', 'an agent needs resources to offer');
  return info;
}

export function agentLinkHandlers(core: MasterCore, log: Logger, streams: OutboundStreams): AgentLinkHandlers {
  return {
    Connect(call: grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage>) {
      let agentId: string | undefined;
      /** A re-registration that comes in several messages (more_tasks), gathered until its last. */
      let parts: { agentId: string; tasks: ReportedTask[]; frameworks: FrameworkInfo[] } | undefined;
      let open = true;
      const writer = streams.open(call, 'agent', () => agentId);
      const outbox = Outbox.forStream<MasterMessage>(
        (message) => open && writer.write(message),
        (messages) => ({ epoch: core.epoch, batch: { messages } }),
      );
      const channel: AgentChannel = {
        address: peerAddress(call.getPeer()),
        send: (command) => {
          if (open) outbox.push(encodeAgentCommand(command, core.epoch));
        },
        close: () => {
          if (!open) return;
          outbox.flush();
          open = false;
          call.end();
        },
      };
      const refuse = (message: string, reason: ErrorReason = 'PROTOCOL_VIOLATION') => {
        log.warn({ agentId, address: channel.address, reason }, `agent refused: ${message}`);
        channel.send({ type: 'refused', reason, message });
        channel.close();
      };
      /** One message; `inBatch` when it came inside a batch (which may not hold another). */
      const handle = (msg: AgentMessage__Output, inBatch: boolean): void => {
        switch (msg.message) {
          case 'register': {
            if (agentId) return refuse('already registered on this stream');
            agentId = core.registerAgent(channel, checkAgentInfo(agentInfoFromProto(required(msg.register?.info, 'register.info'), 'register.info')));
            return;
          }
          case 'reregister': {
            const m = required(msg.reregister, 'reregister');
            const info = checkAgentInfo(agentInfoFromProto(required(m.info, 'reregister.info'), 'reregister.info'));
            if (!info.id) throw new InvalidArgumentError('reregister.info.id', 'a re-registration needs the agent id');
            if (parts && parts.agentId !== info.id) throw new InvalidArgumentError('reregister.info.id', 'is not the id of the re-registration in progress on this stream');
            const offset = parts?.tasks.length ?? 0;
            if (offset + m.tasks.length > MAX_REREGISTER_TASKS) {
              throw new InvalidArgumentError('reregister.tasks', `a re-registration may report at most ${MAX_REREGISTER_TASKS} tasks`);
            }
            const tasks = m.tasks.map((t, j) => {
              const at = `reregister.tasks[${offset + j}]`;
              return {
                spec: taskFromProto(required(t.task, `${at}.task`), `${at}.task`),
                frameworkId: checkName('framework id', t.frameworkId, `${at}.framework_id`),
                latest: statusFromProto(required(t.latestStatus, `${at}.latest_status`), `${at}.latest_status`),
              };
            });
            const frameworks = m.frameworks.map((f, j) => frameworkInfoFromProto(f, `reregister.frameworks[${j}]`));
            parts = { agentId: info.id, tasks: [...(parts?.tasks ?? []), ...tasks], frameworks: [...(parts?.frameworks ?? []), ...frameworks] };
            if (m.moreTasks) return;
            const whole = parts;
            parts = undefined;
            agentId = info.id;
            core.reregisterAgent(channel, info, whole.tasks, whole.frameworks);
            return;
          }
          case 'statusUpdate':
            if (!agentId) return refuse('register before sending status updates');
            core.agentStatusUpdate(agentId, statusFromProto(required(msg.statusUpdate?.status, 'status_update.status'), 'status_update.status'));
            return;
          case 'heartbeat':
            if (agentId) core.agentHeartbeat(agentId);
            return;
          case 'batch':
            if (inBatch) throw new InvalidArgumentError('batch.messages', 'a batch cannot hold a batch');
            for (const m of msg.batch?.messages ?? []) {
              if (!open) return;
              handle(m, true);
            }
            return;
          default:
            return refuse('empty message');
        }
      };
      call.on('data', (msg: AgentMessage__Output) => {
        try {
          handle(msg, false);
        } catch (err) {
          refuse(errorMessage(err), reasonOf(err));
        }
      });
      const ended = () => {
        if (agentId) core.agentDisconnected(agentId, channel);
        open = false;
        outbox.clear();
      };
      call.on('end', () => {
        ended();
        call.end();
      });
      call.on('error', ended);
      call.on('cancelled', ended);
    },
  };
}
