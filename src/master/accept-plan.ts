/**
 * Plans an accept, purely: given the resources of the accepted offers and the operations, in
 * order, work out which tasks launch, which are refused and why (including those the decoder
 * already refused: the operation's `refused`), which reservations change, and
 * what is left. RESERVE and UNRESERVE convert resources inside the offered pool, so a LAUNCH after
 * a RESERVE can use the new reservation. Tasks are checked with the same fits() the allocator used
 * (through checkTask); a bad RESERVE or UNRESERVE is a malformed call and throws, before anything
 * is applied.
 */
import type { Operation } from '../common/cluster.js';
import { InvalidArgumentError } from '../common/errors.js';
import { add, contains, formatResources, isEmpty, subtract, withRole, type Resources } from '../common/resources.js';
import type { StatusReason, TaskSpec } from '../common/tasks.js';
import { checkTask } from './validation.js';

export interface AcceptContext {
  agentId: string;
  agentContainerizers: readonly string[];
  /** The role the offers were allocated to. */
  role: string;
  /** Is this id taken by an active task of the framework? */
  isTaskIdTaken: (taskId: string) => boolean;
}

export interface AcceptPlan {
  /** Tasks to launch, with their agent and allocation role filled in. */
  launch: TaskSpec[];
  refused: { task: TaskSpec; reason: StatusReason; message: string }[];
  /** Reservation changes, in order: `from` becomes `to` on the agent. */
  conversions: { from: Resources; to: Resources }[];
  /** What no operation used; it goes back to the pool. */
  remainder: Resources;
}

/** Plans the operations against the offered pool; throws InvalidArgumentError for a bad (un)reserve. */
export function planAccept(offered: Resources, operations: readonly Operation[], ctx: AcceptContext): AcceptPlan {
  const plan: AcceptPlan = { launch: [], refused: [], conversions: [], remainder: offered };
  const launchedHere = new Set<string>();
  operations.forEach((op, i) => {
    const field = `operations[${i}]`;
    switch (op.type) {
      case 'RESERVE': {
        const wanted = op.resources;
        checkReservation(wanted, ctx.role, `${field}.reserve`);
        const from = withRole(wanted, '*');
        if (!contains(plan.remainder, from)) {
          throw new InvalidArgumentError(`${field}.reserve`, `'${formatResources(from)}' is not in the unused, unreserved part of the offer ('${formatResources(plan.remainder)}')`);
        }
        const to = withRole(wanted, ctx.role, true);
        plan.remainder = add(subtract(plan.remainder, from), to);
        plan.conversions.push({ from, to });
        return;
      }
      case 'UNRESERVE': {
        const held = op.resources;
        checkReservation(held, ctx.role, `${field}.unreserve`);
        const from = withRole(held, ctx.role, true);
        if (!contains(plan.remainder, from)) {
          throw new InvalidArgumentError(`${field}.unreserve`, `'${formatResources(from)}' is not in the unused part of the offer: a reservation in use by a task, or one that does not exist, cannot be unreserved`);
        }
        const to = withRole(held, '*');
        plan.remainder = add(subtract(plan.remainder, from), to);
        plan.conversions.push({ from, to });
        return;
      }
      case 'LAUNCH':
        for (const [j, asked] of op.tasks.entries()) {
          const refusal = op.refused?.get(j);
          if (refusal !== undefined) {
            plan.refused.push({ task: asked, reason: 'TASK_INVALID', message: refusal });
            continue;
          }
          const task = { ...asked, resources: alignReservations(asked.resources, plan.remainder) };
          const verdict = checkTask(task, {
            agentId: ctx.agentId,
            agentContainerizers: ctx.agentContainerizers,
            available: plan.remainder,
            isTaskIdTaken: (id) => ctx.isTaskIdTaken(id) || launchedHere.has(id),
          });
          if (!verdict.ok) {
            plan.refused.push({ task, reason: verdict.reason, message: verdict.message });
            continue;
          }
          plan.remainder = subtract(plan.remainder, task.resources);
          launchedHere.add(task.taskId);
          plan.launch.push({ ...task, agentId: ctx.agentId, allocationRole: ctx.role });
        }
        return;
      case 'CREATE':
      case 'DESTROY':
        throw new InvalidArgumentError(field, `${op.type} (persistent volumes) is not supported yet`);
    }
  });
  return plan;
}

/**
 * The text form cannot say whether a reservation is static or dynamic, so a task asking for
 * `cpus(db):1` is matched to whichever kind of `db` reservation the pool holds enough of.
 */
export function alignReservations(asked: Resources, pool: Resources): Resources {
  if (asked.every((r) => r.role === '*') || contains(pool, asked)) return asked;
  const aligned = asked.map((r) => {
    if (r.role === '*') return r;
    const flipped = { ...r, dynamic: !r.dynamic };
    return !contains(pool, [r]) && contains(pool, [flipped]) ? flipped : r;
  });
  return add([], aligned);
}

/** A reservation must name resources and be for the offer's role; '*' cannot be reserved for. */
function checkReservation(resources: Resources, role: string, field: string): void {
  if (isEmpty(resources)) throw new InvalidArgumentError(field, 'names no resources');
  if (role === '*') throw new InvalidArgumentError(field, "offers for role '*' cannot make reservations; subscribe with a role");
  const foreign = resources.find((r) => r.role !== '*' && r.role !== role);
  if (foreign) throw new InvalidArgumentError(field, `'${formatResources([foreign])}' names role '${foreign.role}' but the offer is for role '${role}'`);
}
