/**
 * AgentLink over gRPC: one bidirectional stream per agent. The first message registers (or
 * re-registers); after that, heartbeats and status updates. A malformed message gets a REFUSED
 * command naming the problem and the stream is ended; the master keeps running.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { agentInfoFromProto, frameworkInfoFromProto, required, statusFromProto } from '../../common/codec.js';
import { errorMessage, InvalidArgumentError, reasonOf, type ErrorReason } from '../../common/errors.js';
import type { AgentInfo, FrameworkInfo } from '../../common/cluster.js';
import { isEmpty } from '../../common/resources.js';
import type { AgentLinkHandlers } from '../../gen/orbit/v1/AgentLink.js';
import type { AgentMessage__Output } from '../../gen/orbit/v1/AgentMessage.js';
import type { MasterMessage } from '../../gen/orbit/v1/MasterMessage.js';
import type { MasterCore, ReportedTask } from '../core.js';
import type { AgentChannel } from '../ports.js';
import { Outbox } from '../../common/outbox.js';
import type { OutboundStreams } from './bounded-stream.js';
import { encodeAgentCommand } from './encode.js';
import { reportedTaskFromProto } from './reported-task-codec.js';
import { peerAddress, toServiceError } from './status-codes.js';
import { principalText } from '../../common/pki.js';
import type { MasterSecurity } from '../security/master-security.js';
import type { Principal } from '../security/policy.js';

/** At most this many tasks in one re-registration, however many messages it comes in. */
export const MAX_REREGISTER_TASKS = 100_000;

/** The codec checked names, numbers and containerizers; an agent must also offer something. */
function checkAgentInfo(info: AgentInfo): AgentInfo {
  if (isEmpty(info.resources)) throw new InvalidArgumentError('info.resources', 'an agent needs resources to offer');
  return info;
}

export function agentLinkHandlers(core: MasterCore, log: Logger, streams: OutboundStreams, security: MasterSecurity): AgentLinkHandlers {
  return {
    Connect(call: grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage>) {
      // Only an agent's certificate opens AgentLink; the id it registers under is bound to it.
      let bound: string | undefined;
      let principal: Principal | undefined;
      try {
        principal = security.callerOfKind(call, ['agent'], 'AgentLink');
        bound = principal && principalText(principal);
      } catch (err) {
        log.warn({ address: peerAddress(call.getPeer()), err: errorMessage(err) }, 'agent connection refused');
        security.audit(undefined, 'agent_connect', peerAddress(call.getPeer()), 'denied', errorMessage(err));
        const status = toServiceError(err);
        call.emit('error', Object.assign(new Error(status.details), status));
        return;
      }
      const withPrincipal = (info: AgentInfo): AgentInfo => (bound ? { ...info, principal: bound } : info);
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
      /**
       * One message; `inBatch` when it came inside a batch (which may not hold another). A
       * (re-)registration returns the promise of its durable admission.
       */
      const handle = (msg: AgentMessage__Output, inBatch: boolean): void | Promise<void> => {
        switch (msg.message) {
          case 'register': {
            if (agentId) return refuse('already registered on this stream');
            return core.registerAgent(channel, withPrincipal(checkAgentInfo(agentInfoFromProto(required(msg.register?.info, 'register.info'), 'register.info')))).then((id) => {
              agentId = id;
              security.audit(principal, 'register_agent', id, 'allowed');
              // The stream ended while the admission was being made durable.
              if (!open) core.agentDisconnected(id, channel);
            });
          }
          case 'reregister': {
            const m = required(msg.reregister, 'reregister');
            const info = withPrincipal(checkAgentInfo(agentInfoFromProto(required(m.info, 'reregister.info'), 'reregister.info')));
            if (!info.id) throw new InvalidArgumentError('reregister.info.id', 'a re-registration needs the agent id');
            if (parts && parts.agentId !== info.id) throw new InvalidArgumentError('reregister.info.id', 'is not the id of the re-registration in progress on this stream');
            const offset = parts?.tasks.length ?? 0;
            if (offset + m.tasks.length > MAX_REREGISTER_TASKS) {
              throw new InvalidArgumentError('reregister.tasks', `a re-registration may report at most ${MAX_REREGISTER_TASKS} tasks`);
            }
            const tasks = m.tasks.map((t, j) => reportedTaskFromProto(t, `reregister.tasks[${offset + j}]`));
            const frameworks = m.frameworks.map((f, j) => frameworkInfoFromProto(f, `reregister.frameworks[${j}]`));
            parts = { agentId: info.id, tasks: [...(parts?.tasks ?? []), ...tasks], frameworks: [...(parts?.frameworks ?? []), ...frameworks] };
            if (m.moreTasks) return;
            const whole = parts;
            parts = undefined;
            return core.reregisterAgent(channel, info, whole.tasks, whole.frameworks).then(
              () => {
                agentId = info.id;
                security.audit(principal, 'reregister_agent', info.id, 'allowed');
                if (!open) core.agentDisconnected(info.id, channel);
              },
              (err: unknown) => {
                if (reasonOf(err) === 'PERMISSION_DENIED') security.audit(principal, 'reregister_agent', info.id, 'denied', errorMessage(err));
                throw err;
              },
            );
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
            return inOrder(msg.batch?.messages ?? [], 0);
          default:
            return refuse('empty message');
        }
      };
      /** A batch's messages from `from` on, in order: what follows a (re-)registration waits for it. */
      const inOrder = (messages: readonly AgentMessage__Output[], from: number): void | Promise<void> => {
        for (let i = from; i < messages.length; i++) {
          if (!open) return;
          const pending = handle(messages[i]!, true);
          if (pending) return pending.then(() => inOrder(messages, i + 1));
        }
      };
      const fail = (err: unknown) => refuse(errorMessage(err), reasonOf(err));
      const process = (msg: AgentMessage__Output): Promise<void> | undefined => {
        try {
          return handle(msg, false)?.catch(fail);
        } catch (err) {
          fail(err);
          return undefined;
        }
      };
      /** While a (re-)registration is made durable, later messages wait for it, in order. */
      let admitting: Promise<void> | undefined;
      const wait = (p: Promise<void>) => {
        admitting = p;
        void p.then(() => {
          if (admitting === p) admitting = undefined;
        });
      };
      call.on('data', (msg: AgentMessage__Output) => {
        if (admitting) return wait(admitting.then(() => process(msg)));
        const pending = process(msg);
        if (pending) wait(pending);
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
