/**
 * AgentLink over gRPC: one bidirectional stream per agent. The first message registers (or
 * re-registers); after that, heartbeats and status updates. A malformed message gets a REFUSED
 * command naming the problem and the stream is ended; the master keeps running.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { agentInfoFromProto, frameworkInfoFromProto, required, statusFromProto, taskFromProto } from '../../common/codec.js';
import { errorMessage, InvalidArgumentError } from '../../common/errors.js';
import type { AgentInfo } from '../../common/cluster.js';
import { checkName } from '../../common/names.js';
import { isEmpty } from '../../common/resources.js';
import type { AgentLinkHandlers } from '../../gen/orbit/v1/AgentLink.js';
import type { AgentMessage__Output } from '../../gen/orbit/v1/AgentMessage.js';
import type { MasterMessage } from '../../gen/orbit/v1/MasterMessage.js';
import type { MasterCore } from '../core.js';
import type { AgentChannel } from '../ports.js';
import { Outbox } from '../../common/outbox.js';
import type { OutboundStreams } from './bounded-stream.js';
import { encodeAgentCommand } from './encode.js';
import { peerAddress } from './status-codes.js';

/** The codec checked names, numbers and containerizers; an agent must also offer something. */
function checkAgentInfo(info: AgentInfo): AgentInfo {
  if (isEmpty(info.resources)) throw new InvalidArgumentError('info.resources', 'an agent needs resources to offer');
  return info;
}

export function agentLinkHandlers(core: MasterCore, log: Logger, streams: OutboundStreams): AgentLinkHandlers {
  return {
    Connect(call: grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage>) {
      let agentId: string | undefined;
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
      const refuse = (message: string) => {
        log.warn({ agentId, address: channel.address }, `agent refused: ${message}`);
        channel.send({ type: 'refused', message });
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
            const tasks = m.tasks.map((t, i) => ({
              spec: taskFromProto(required(t.task, `reregister.tasks[${i}].task`), `reregister.tasks[${i}].task`),
              frameworkId: checkName('framework id', t.frameworkId, `reregister.tasks[${i}].framework_id`),
              latest: statusFromProto(required(t.latestStatus, `reregister.tasks[${i}].latest_status`), `reregister.tasks[${i}].latest_status`),
            }));
            agentId = info.id;
            core.reregisterAgent(channel, info, tasks, m.frameworks.map((f, i) => frameworkInfoFromProto(f, `reregister.frameworks[${i}]`)));
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
          refuse(errorMessage(err));
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
