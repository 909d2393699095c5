/**
 * The Operator service: the cluster state that GET /state serves, over gRPC, and the operator's
 * levers: drain and reactivate agents, mark them gone, tear frameworks down, weights and quota.
 * Every call needs a certificate; what it shows and lets change is the policy's (`view` shows a
 * framework principal only its own frameworks), and every lever pulled is audited.
 */
import type * as grpc from '@grpc/grpc-js';
import { errorMessage, InvalidArgumentError, NotFoundError, reasonOf } from '../../common/errors.js';
import { encodeStateView } from '../../common/state-codec.js';
import type { OperatorHandlers } from '../../gen/orbit/v1/Operator.js';
import { resourcesFromProto, stateFromProto } from '../../common/codec.js';
import { checkName } from '../../common/names.js';
import type { MasterCore } from '../core.js';
import { checkCap, type CallLimits } from '../../common/call-limits.js';
import { clusterStateView } from '../state-view.js';
import { toServiceError } from './status-codes.js';
import type { MasterSecurity } from '../security/master-security.js';
import type { Principal, Request } from '../security/policy.js';
import type { ClusterStateView } from '../../common/state-view.js';

/** Who may call the Operator service at all; the policy then decides each call. */
const OPERATOR_KINDS = ['operator', 'framework'] as const;

/** A reading call: the caller identified first, then `fn` with the principal. */
function unary<Req, Res>(security: MasterSecurity, fn: (request: Req, principal: Principal | undefined) => Res): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    try {
      callback(null, fn(call.request, security.callerOfKind(call, OPERATOR_KINDS, 'the Operator service')));
    } catch (err) {
      callback(toServiceError(err));
    }
  };
}

/**
 * A lever: the caller identified, `request` authorized (audited either way), then the change;
 * the reply waits for it to be durable.
 */
function lever<Req, Res>(
  security: MasterSecurity,
  action: string,
  decide: (request: Req) => { object: string; checks: { request: Request; what: string }[] },
  fn: (request: Req) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let principal: Principal | undefined;
    let object = '';
    const fail = (err: unknown) => {
      const denied = reasonOf(err) === 'PERMISSION_DENIED' || reasonOf(err) === 'UNAUTHENTICATED';
      security.audit(principal, action, object, denied ? 'denied' : 'failed', errorMessage(err));
      callback(toServiceError(err));
    };
    try {
      principal = security.callerOfKind(call, OPERATOR_KINDS, 'the Operator service');
      const asked = decide(call.request);
      object = asked.object;
      for (const check of asked.checks) security.authorize(principal, check.request, check.what);
    } catch (err) {
      fail(err);
      return;
    }
    fn(call.request).then((res) => {
      security.audit(principal, action, object, 'allowed');
      callback(null, res);
    }, fail);
  };
}

/** The state as `principal` may see it: frameworks it may not view are left out. */
function visibleState(state: ClusterStateView, security: MasterSecurity, principal: Principal | undefined): ClusterStateView {
  if (!principal) return state;
  const frameworks = state.frameworks.filter((f) => {
    const owner = security.ownerOf(f.principal);
    return owner !== undefined && security.decide(principal, { action: 'view', owner }).allowed;
  });
  return frameworks.length === state.frameworks.length ? state : { ...state, frameworks };
}

/** The agent a call names; empty is refused, so is a name no agent could have. */
function agentIdOf(request: { agentId: string }): string {
  if (!request.agentId) throw new InvalidArgumentError('agent_id', 'is required');
  return checkName('agent id', request.agentId, 'agent_id');
}

export function operatorHandlers(core: MasterCore, limits: CallLimits, security: MasterSecurity): OperatorHandlers {
  const state = (principal: Principal | undefined) => encodeStateView(visibleState(clusterStateView(core.view), security, principal));
  /** The owner of a framework, for view and teardown decisions (a framework with no owner is an operator's to tear down). */
  const ownerOf = (frameworkId: string): Principal => {
    const framework = core.view.framework(frameworkId);
    if (!framework) throw new NotFoundError('framework', frameworkId);
    return security.ownerOf(framework.info.principal) ?? { kind: 'operator', name: '' };
  };
  const agentLever = (action: 'drain_agent' | 'mark_agent_gone', verb: string) => (req: { agentId: string }) => {
    const agent = agentIdOf(req);
    const hostname = core.view.agent(agent)?.info.hostname;
    return { object: agent, checks: [{ request: { action, agent: hostname ?? agent } as Request, what: `${verb} agent '${agent}'` }] };
  };
  return {
    GetState: unary(security, (_req, principal) => state(principal)),
    GetAgents: unary(security, (_req, principal) => ({ agents: state(principal).agents })),
    GetFrameworks: unary(security, (_req, principal) => ({ frameworks: state(principal).frameworks })),
    GetTasks: unary(security, (req, principal) => {
      const wanted = stateFromProto(req.state, 'state');
      if (req.frameworkId) checkName('framework id', req.frameworkId, 'framework_id');
      if (req.frameworkId && !core.view.framework(req.frameworkId)) throw new NotFoundError('framework', req.frameworkId);
      const tasks = (state(principal).frameworks ?? [])
        .filter((f) => !req.frameworkId || f.id === req.frameworkId)
        .flatMap((f) => [...(f.tasks ?? []), ...(f.completedTasks ?? [])])
        .filter((t) => !wanted || t.state === `TASK_${wanted}`);
      return { tasks };
    }),
    DrainAgent: lever(security, 'drain_agent', agentLever('drain_agent', 'drain'), async (req) => ({ message: await core.drainAgent(agentIdOf(req)) })),
    ReactivateAgent: lever(security, 'reactivate_agent', agentLever('drain_agent', 'reactivate'), async (req) => ({ message: await core.reactivateAgent(agentIdOf(req)) })),
    MarkAgentGone: lever(security, 'mark_agent_gone', agentLever('mark_agent_gone', 'mark gone'), async (req) => ({ message: await core.markAgentGone(agentIdOf(req)) })),
    TeardownFramework: lever(
      security,
      'teardown_framework',
      (req) => {
        if (!req.frameworkId) throw new InvalidArgumentError('framework_id', 'is required');
        const id = checkName('framework id', req.frameworkId, 'framework_id');
        return { object: id, checks: [{ request: { action: 'teardown_framework', owner: ownerOf(id) }, what: `tear down framework '${id}'` }] };
      },
      async (req) => ({ message: await core.teardownFramework(req.frameworkId) }),
    ),
    UpdateWeights: lever(
      security,
      'update_weights',
      (req) => {
        if (req.weights.length === 0) throw new InvalidArgumentError('weights', 'name at least one role and weight');
        checkCap(req.weights.length, 'rolesPerCall', limits, 'weights');
        return { object: req.weights.map((w) => w.role).join(','), checks: req.weights.map((w) => ({ request: { action: 'update_weights', role: w.role } as Request, what: `set the weight of role '${w.role}'` })) };
      },
      async (req) => {
        await core.setWeights(req.weights.map((w) => ({ role: w.role, weight: w.weight })));
        return { message: req.weights.map((w) => `weight of role '${w.role}' set to ${w.weight}`).join('; ') };
      },
    ),
    SetQuota: lever(
      security,
      'update_quota',
      (req) => ({ object: req.role, checks: [{ request: { action: 'update_quota', role: req.role }, what: `set the quota of role '${req.role}'` }] }),
      async (req) => {
        checkCap(req.guarantee.length, 'quotaResources', limits, 'guarantee');
        checkCap(req.limit.length, 'quotaResources', limits, 'limit');
        const guarantee = resourcesFromProto(req.guarantee, 'guarantee');
        const limit = resourcesFromProto(req.limit, 'limit');
        return { message: await core.setQuota(req.role, guarantee, limit, req.force) };
      },
    ),
  };
}
