/**
 * One-shot Operator calls for the CLI, with a deadline, to the first master of the list that can
 * be reached (each is tried in turn while connection attempts fail). None reachable is a one-line
 * UsageError (`cannot reach the master at HOST:PORT (...)`); a refusal is one too, with the
 * master's typed reason.
 */
import * as grpc from '@grpc/grpc-js';
import type { AgentList__Output } from '../gen/orbit/v1/AgentList.js';
import type { AgentSummary__Output } from '../gen/orbit/v1/AgentSummary.js';
import type { ClusterState__Output } from '../gen/orbit/v1/ClusterState.js';
import type { OperatorClient } from '../gen/orbit/v1/Operator.js';
import type { OperatorResponse__Output } from '../gen/orbit/v1/OperatorResponse.js';
import type { TaskList__Output } from '../gen/orbit/v1/TaskList.js';
import type { TaskSummary__Output } from '../gen/orbit/v1/TaskSummary.js';
import { resourcesToProto } from '../common/codec.js';
import { certificatesClients, clusterOf, isConnected, NOT_LEADER_RETRY_MS, notLeaderHint, operatorClients, resolveMasterList, statusReason, type MasterClients, type MasterList } from '../common/connection.js';
import type { ClientSecurity } from '../common/credentials.js';
import { InvalidArgumentError } from '../common/errors.js';
import type { CertificatesClient } from '../gen/orbit/v1/Certificates.js';
import type { Resources } from '../common/resources.js';
import { resolveMaster, UsageError } from './common.js';
import { cliSecurity } from './cli-security.js';

/** How long an operator command waits for the master. */
export const OPERATOR_DEADLINE_MS = 5_000;

const UNREACHABLE: ReadonlySet<grpc.status> = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);
const REFUSED: ReadonlySet<grpc.status> = new Set([
  grpc.status.INVALID_ARGUMENT, grpc.status.FAILED_PRECONDITION, grpc.status.NOT_FOUND, grpc.status.UNIMPLEMENTED,
  grpc.status.PERMISSION_DENIED, grpc.status.UNAUTHENTICATED,
]);

/** The masters `master` names (read from etcd for etcd://...); a bad value or an empty etcd is a UsageError. */
async function mastersOf(master: string, security: ClientSecurity): Promise<MasterList> {
  try {
    return await resolveMasterList(master, '--master', clusterOf(security));
  } catch (err) {
    throw err instanceof InvalidArgumentError ? new UsageError(err.message) : err;
  }
}

async function call<Res>(
  master: string,
  name: string,
  timeoutMs: number,
  invoke: (client: OperatorClient, options: grpc.CallOptions, cb: grpc.requestCallback<Res>) => void,
): Promise<Res> {
  const security = cliSecurity();
  return callMaster(operatorClients(await mastersOf(master, security), security), `Operator.${name}`, master, timeoutMs, invoke);
}

/** A Certificates call with the CLI's credentials, answered or refused as an Operator call is. */
export async function certificatesCall<Res>(
  master: string,
  name: string,
  invoke: (client: CertificatesClient, options: grpc.CallOptions, cb: grpc.requestCallback<Res>) => void,
): Promise<Res> {
  const security = cliSecurity();
  return callMaster(certificatesClients(await mastersOf(master, security), security), `Certificates.${name}`, master, OPERATOR_DEADLINE_MS, invoke);
}

/** Rounds of the master list a call follows NOT_LEADER answers for (an election takes a few seconds at most). */
const NOT_LEADER_TRIES = 12;

async function callMaster<C extends grpc.Client, Res>(
  clients: MasterClients<C>,
  name: string,
  master: string,
  timeoutMs: number,
  invoke: (client: C, options: grpc.CallOptions, cb: grpc.requestCallback<Res>) => void,
): Promise<Res> {
  try {
    for (let tried = 1; ; tried++) {
      const client = clients.current;
      const outcome = await new Promise<{ err: grpc.ServiceError | null; res: Res | undefined }>((resolve) => {
        invoke(client, { deadline: Date.now() + timeoutMs }, (err, res) => resolve({ err, res }));
      });
      const { err, res } = outcome;
      if (!err) {
        if (!res) throw new Error(`${name} returned nothing`);
        return res;
      }
      // Never answered: the next master, until each was tried once.
      if (!isConnected(client) && tried < clients.masters.length) {
        clients.failed(client);
        continue;
      }
      // A standby (nothing was changed): the leader it names, or the next master while none is
      // elected, for a few rounds of the list.
      const hint = notLeaderHint(err);
      if (hint && tried < NOT_LEADER_TRIES * clients.masters.length) {
        clients.follow(client, hint.leader);
        if (!hint.leader) await new Promise((r) => setTimeout(r, NOT_LEADER_RETRY_MS));
        continue;
      }
      const why = `${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`;
      const where = clients.masters.length === 1 ? `the master at ${master}` : `any of the masters ${master}`;
      // It answered, but could not make the change durable (and stops): say so, not "unreachable".
      const reason = statusReason(err);
      if (reason === 'REGISTRY_UNAVAILABLE') throw new UsageError(`the master did not make the change: ${err.details}`, { reason });
      if (UNREACHABLE.has(err.code)) throw new UsageError(`cannot reach ${where} (${why})`);
      // The master refused the request: the operator's to fix, said in one line.
      if (REFUSED.has(err.code)) throw new UsageError(err.details || err.message, { reason });
      throw new Error(`${name} failed: ${why}`);
    }
  } finally {
    clients.close();
  }
}

/** Operator.GetState; rejects with UsageError when the master cannot be reached in time. */
export function fetchState(master: string, timeoutMs = OPERATOR_DEADLINE_MS): Promise<ClusterState__Output> {
  return call<ClusterState__Output>(master, 'GetState', timeoutMs, (c, o, cb) => c.GetState({}, o, cb));
}

/** Operator.GetAgents; rejects with UsageError when the master cannot be reached in time. */
export async function fetchAgents(master: string, timeoutMs = OPERATOR_DEADLINE_MS): Promise<AgentSummary__Output[]> {
  const list = await call<AgentList__Output>(master, 'GetAgents', timeoutMs, (c, o, cb) => c.GetAgents({}, o, cb));
  return list.agents;
}

/** Operator.UpdateWeights. */
export async function updateWeights(master: string, weights: { role: string; weight: number }[]): Promise<string> {
  const res = await call<OperatorResponse__Output>(master, 'UpdateWeights', OPERATOR_DEADLINE_MS, (c, o, cb) => c.UpdateWeights({ weights }, o, cb));
  return res.message;
}

/** Operator.SetQuota; empty guarantee and limit remove the quota. */
export async function setQuota(master: string, role: string, guarantee: Resources, limit: Resources, force: boolean): Promise<string> {
  const res = await call<OperatorResponse__Output>(master, 'SetQuota', OPERATOR_DEADLINE_MS, (c, o, cb) =>
    c.SetQuota({ role, guarantee: resourcesToProto(guarantee), limit: resourcesToProto(limit), force }, o, cb),
  );
  return res.message;
}

/** The master address from a --master flag (or $ORBIT_MASTER), a malformed one as a UsageError. */
export function masterFrom(flag: string | undefined): string {
  try {
    return resolveMaster(flag);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** Operator.GetTasks for one framework: its active and recently completed tasks. */
export async function fetchTasks(master: string, frameworkId: string, timeoutMs = OPERATOR_DEADLINE_MS): Promise<TaskSummary__Output[]> {
  const list = await call<TaskList__Output>(master, 'GetTasks', timeoutMs, (c, o, cb) => c.GetTasks({ frameworkId }, o, cb));
  return list.tasks;
}

/** Operator.DrainAgent: no new offers from the agent, its tasks killed with their grace. */
export async function drainAgent(master: string, agentId: string): Promise<string> {
  return (await call<OperatorResponse__Output>(master, 'DrainAgent', OPERATOR_DEADLINE_MS, (c, o, cb) => c.DrainAgent({ agentId }, o, cb))).message;
}

/** Operator.ReactivateAgent: ends a drain. */
export async function reactivateAgent(master: string, agentId: string): Promise<string> {
  return (await call<OperatorResponse__Output>(master, 'ReactivateAgent', OPERATOR_DEADLINE_MS, (c, o, cb) => c.ReactivateAgent({ agentId }, o, cb))).message;
}

/** Operator.MarkAgentGone: the agent's tasks are GONE and it may never re-register under its id. */
export async function markAgentGone(master: string, agentId: string): Promise<string> {
  return (await call<OperatorResponse__Output>(master, 'MarkAgentGone', OPERATOR_DEADLINE_MS, (c, o, cb) => c.MarkAgentGone({ agentId }, o, cb))).message;
}

/** Operator.TeardownFramework: kills its tasks and retires its id. */
export async function teardownFramework(master: string, frameworkId: string): Promise<string> {
  return (await call<OperatorResponse__Output>(master, 'TeardownFramework', OPERATOR_DEADLINE_MS, (c, o, cb) => c.TeardownFramework({ frameworkId }, o, cb))).message;
}
