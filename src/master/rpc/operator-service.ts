/**
 * The Operator service: the cluster state that GET /state serves, over gRPC, and the operator's
 * levers: drain and reactivate agents, mark them gone, tear frameworks down, weights and quota.
 */
import type * as grpc from '@grpc/grpc-js';
import { InvalidArgumentError, NotFoundError } from '../../common/errors.js';
import { encodeStateView } from '../../common/state-codec.js';
import type { OperatorHandlers } from '../../gen/orbit/v1/Operator.js';
import { resourcesFromProto, stateFromProto } from '../../common/codec.js';
import { checkName } from '../../common/names.js';
import type { MasterCore } from '../core.js';
import { checkCap, type CallLimits } from '../../common/call-limits.js';
import { clusterStateView } from '../state-view.js';
import { toServiceError } from './status-codes.js';

function unary<Req, Res>(fn: (request: Req) => Res): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    try {
      callback(null, fn(call.request));
    } catch (err) {
      callback(toServiceError(err));
    }
  };
}

/** An async handler: the reply waits for the durable change. */
function unaryAsync<Req, Res>(fn: (request: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(err)),
    );
  };
}

/** The agent a call names; empty is refused, so is a name no agent could have. */
function agentIdOf(request: { agentId: string }): string {
  if (!request.agentId) throw new InvalidArgumentError('agent_id', 'is required');
  return checkName('agent id', request.agentId, 'agent_id');
}

export function operatorHandlers(core: MasterCore, limits: CallLimits): OperatorHandlers {
  return {
    GetState: unary(() => encodeStateView(clusterStateView(core.view))),
    GetAgents: unary(() => ({ agents: encodeStateView(clusterStateView(core.view)).agents })),
    GetFrameworks: unary(() => ({ frameworks: encodeStateView(clusterStateView(core.view)).frameworks })),
    GetTasks: unary((req) => {
      const wanted = stateFromProto(req.state, 'state');
      if (req.frameworkId) checkName('framework id', req.frameworkId, 'framework_id');
      if (req.frameworkId && !core.view.framework(req.frameworkId)) throw new NotFoundError('framework', req.frameworkId);
      const state = encodeStateView(clusterStateView(core.view));
      const tasks = (state.frameworks ?? [])
        .filter((f) => !req.frameworkId || f.id === req.frameworkId)
        .flatMap((f) => [...(f.tasks ?? []), ...(f.completedTasks ?? [])])
        .filter((t) => !wanted || t.state === `TASK_${wanted}`);
      return { tasks };
    }),
    DrainAgent: unaryAsync(async (req) => ({ message: await core.drainAgent(agentIdOf(req)) })),
    ReactivateAgent: unaryAsync(async (req) => ({ message: await core.reactivateAgent(agentIdOf(req)) })),
    MarkAgentGone: unaryAsync(async (req) => ({ message: await core.markAgentGone(agentIdOf(req)) })),
    TeardownFramework: unaryAsync(async (req) => {
      if (!req.frameworkId) throw new InvalidArgumentError('framework_id', 'is required');
      return { message: await core.teardownFramework(checkName('framework id', req.frameworkId, 'framework_id')) };
    }),
    UpdateWeights: unaryAsync(async (req) => {
      if (req.weights.length === 0) throw new InvalidArgumentError('weights', 'name at least one role and weight');
      checkCap(req.weights.length, 'rolesPerCall', limits, 'weights');
      await core.setWeights(req.weights.map((w) => ({ role: w.role, weight: w.weight })));
      return { message: req.weights.map((w) => `weight of role '${w.role}' set to ${w.weight}`).join('; ') };
    }),
    SetQuota: unaryAsync(async (req) => {
      checkCap(req.guarantee.length, 'quotaResources', limits, 'guarantee');
      checkCap(req.limit.length, 'quotaResources', limits, 'limit');
      const guarantee = resourcesFromProto(req.guarantee, 'guarantee');
      const limit = resourcesFromProto(req.limit, 'limit');
      return { message: await core.setQuota(req.role, guarantee, limit, req.force) };
    }),
  };
}
