/**
 * What a framework principal may do on the Scheduler service, checked before the core sees the
 * call: the roles it subscribes under, the tasks it launches (containerizer, image, user) and the
 * reservations it makes. The principal comes from the certificate and replaces whatever the
 * message said; a framework id stays bound to the principal that created it.
 */
import type { FrameworkInfo, Operation } from '../../common/cluster.js';
import { principalText } from '../../common/pki.js';
import type { Resources } from '../../common/resources.js';
import type { MasterView } from '../master-view.js';
import type { MasterSecurity } from '../security/master-security.js';
import type { Principal, TaskContainerizer } from '../security/policy.js';

/**
 * The subscription as the master records it: the principal from the certificate. Throws
 * PermissionDeniedError for a role the policy does not allow, or a framework id that belongs to
 * another principal.
 */
export function authorizeSubscribe(security: MasterSecurity, principal: Principal | undefined, info: FrameworkInfo, view: MasterView): FrameworkInfo {
  if (!principal) return info;
  const bound = { ...info, principal: principalText(principal) };
  if (info.id) {
    const known = view.framework(info.id);
    if (known) security.checkOwner(principal, known.info.principal, info.id);
  }
  for (const role of info.roles) security.authorize(principal, { action: 'register_framework', role }, `register a framework under role '${role}'`);
  return bound;
}

/** The roles that resources are reserved for. */
function rolesOf(resources: Resources): string[] {
  return [...new Set(resources.map((r) => r.role))];
}

/** How the policy names a task's containerizer; a simulated task runs nothing, like a process that is never started. */
function policyContainerizer(kind: string): TaskContainerizer {
  return kind === 'docker' ? 'docker' : 'process';
}

/** Checks every operation of an Accept before any of it happens; `role` is the offers' role. */
export function authorizeOperations(security: MasterSecurity, principal: Principal | undefined, role: string, operations: readonly Operation[]): void {
  if (!principal) return;
  for (const op of operations) {
    switch (op.type) {
      case 'LAUNCH':
        for (const task of op.tasks) {
          const containerizer = policyContainerizer(task.container.kind);
          const user = task.command.user;
          const image = task.container.image;
          security.authorize(
            principal,
            { action: 'run_task', role, containerizer, ...(image ? { image } : {}), ...(user ? { user } : {}) },
            () => `run task '${task.taskId}' (${containerizer}${image ? ` ${image}` : ''}${user ? ` as user '${user}'` : ''})`,
          );
        }
        break;
      case 'RESERVE':
      case 'UNRESERVE': {
        const action = op.type === 'RESERVE' ? 'reserve' : 'unreserve';
        for (const r of rolesOf(op.resources)) security.authorize(principal, { action, role: r }, `${action} resources for role '${r}'`);
        break;
      }
      case 'CREATE':
      case 'DESTROY': {
        const action = op.type === 'CREATE' ? 'create_volume' : 'destroy_volume';
        for (const r of rolesOf(op.volumes)) security.authorize(principal, { action, role: r }, `${action.replace('_', ' ')} for role '${r}'`);
        break;
      }
    }
  }
}
