/**
 * The ACL policy: who may do what (DESIGN.md "Security"). Pure: a policy is data, `decide` a
 * function of the policy, the principal and the request; loading a file is policy-file.ts, the
 * CLI's parsing of principals and requests is policy-request.ts.
 *
 * Without a policy file the default policy applies (`defaultPolicy`): operators may do everything,
 * a framework may work under its own roles and see and stop only its own frameworks, tasks never
 * name a user. With a file, its rules are allow rules tried in order: the first that matches
 * allows, and nothing matching denies.
 *
 * Patterns (the lists a rule constrains a field with) are globs with one wildcard: `*` matches any
 * run of characters, `/` and `:` included, or none; every other character matches itself, and there
 * is no escape. A pattern that is exactly `*` also matches a value the request leaves out (no image,
 * no user named), and as a role it matches every role, the default role `*` included; there is no
 * pattern for the default role alone.
 */

/** Who a certificate says is calling. */
export type PrincipalKind = 'operator' | 'framework' | 'agent' | 'master';

/** Every PrincipalKind. */
export const PRINCIPAL_KINDS: readonly PrincipalKind[] = ['operator', 'framework', 'agent', 'master'];

/** A caller, written `kind:name` (`framework:spark`); it comes from a client certificate. */
export interface Principal {
  readonly kind: PrincipalKind;
  readonly name: string;
}

/** What a principal may be allowed to do (Mesos' ACL verbs). */
export type Action =
  | 'register_framework'
  | 'run_task'
  | 'reserve'
  | 'unreserve'
  | 'create_volume'
  | 'destroy_volume'
  | 'teardown_framework'
  | 'update_weights'
  | 'update_quota'
  | 'drain_agent'
  | 'mark_agent_gone'
  | 'view'
  | 'read_task_output'
  | 'issue_certificate'
  | 'manage_tokens';

/** Every Action. */
export const ACTIONS: readonly Action[] = [
  'register_framework', 'run_task', 'reserve', 'unreserve', 'create_volume', 'destroy_volume', 'teardown_framework',
  'update_weights', 'update_quota', 'drain_agent', 'mark_agent_gone', 'view', 'read_task_output', 'issue_certificate', 'manage_tokens',
];

/** How a task runs. */
export type TaskContainerizer = 'docker' | 'process';

/** Every TaskContainerizer. */
export const TASK_CONTAINERIZERS: readonly TaskContainerizer[] = ['docker', 'process'];

/** What is asked, by action. */
export type Request =
  | { readonly action: 'register_framework'; readonly role: string }
  /** `user` undefined (or '') is the default unprivileged user; `image` undefined (or '') is no image. */
  | { readonly action: 'run_task'; readonly role: string; readonly containerizer: TaskContainerizer; readonly image?: string; readonly user?: string }
  | { readonly action: 'reserve' | 'unreserve' | 'create_volume' | 'destroy_volume'; readonly role: string }
  /** `owner` is the principal that owns the framework concerned. */
  | { readonly action: 'teardown_framework' | 'view' | 'read_task_output'; readonly owner: Principal }
  | { readonly action: 'update_weights' | 'update_quota'; readonly role: string }
  /** `agent` is a hostname or an agent id. */
  | { readonly action: 'drain_agent' | 'mark_agent_gone'; readonly agent: string }
  | { readonly action: 'issue_certificate'; readonly kind: PrincipalKind; readonly name: string }
  | { readonly action: 'manage_tokens' };

/** The answer, and which rule gave it (for logs, the audit log and `orbit acl check`). */
export interface Decision {
  readonly allowed: boolean;
  readonly rule: string;
}

/** The fields a rule may constrain. */
export type RuleField = 'roles' | 'containerizers' | 'images' | 'users' | 'frameworks' | 'agents' | 'certificates';

/** The actions each field applies to; a rule naming a field must allow only these. */
export const RULE_FIELDS: Readonly<Record<RuleField, readonly Action[]>> = {
  roles: ['register_framework', 'run_task', 'reserve', 'unreserve', 'create_volume', 'destroy_volume', 'update_weights', 'update_quota'],
  containerizers: ['run_task'],
  images: ['run_task'],
  users: ['run_task'],
  frameworks: ['teardown_framework', 'view', 'read_task_output'],
  agents: ['drain_agent', 'mark_agent_gone'],
  certificates: ['issue_certificate'],
};

/** In a rule's `users`, the value that means "no user named" (the default unprivileged user). */
export const DEFAULT_USER = 'default';

/** Principals a rule or a group names: exact `kind:name`s, whole kinds (`kind:*`), and groups. */
export interface PrincipalSet {
  /** `kind:name` texts. */
  readonly exact: ReadonlySet<string>;
  /** Kinds written `kind:*`. */
  readonly kinds: ReadonlySet<PrincipalKind>;
  /** Group names; a group's members are in the policy's `groups`. Empty inside a group. */
  readonly groups: readonly string[];
}

/** An allow rule from a policy file; a field left out does not constrain. */
export interface PolicyRule {
  /** Position in the file, from 1. */
  readonly index: number;
  readonly name?: string;
  /** How a decision names the rule: `rule 3 'data-team-roles' in /etc/orbit/policy.yaml`. */
  readonly label: string;
  readonly actions: ReadonlySet<Action>;
  readonly principals: PrincipalSet;
  readonly roles?: readonly string[];
  readonly containerizers?: readonly TaskContainerizer[];
  readonly images?: readonly string[];
  /** Globs, and DEFAULT_USER for "no user named". */
  readonly users?: readonly string[];
  /** `own`: the request's owner is the principal itself. */
  readonly frameworks?: 'own' | 'any';
  readonly agents?: readonly string[];
  /** `kind:glob` patterns for the certificate's principal. */
  readonly certificates?: readonly string[];
}

/** The default policy, or the rules of a policy file. */
export type Policy =
  | { readonly kind: 'default' }
  | { readonly kind: 'file'; readonly file: string; readonly groups: ReadonlyMap<string, PrincipalSet>; readonly rules: readonly PolicyRule[] };

/** The policy when no file is given. */
export function defaultPolicy(): Policy {
  return { kind: 'default' };
}

/** One line saying which policy is in force, for the master's start log. */
export function describePolicy(policy: Policy): string {
  if (policy.kind === 'default') return 'default policy (no policy file): operators may do everything, frameworks work under their own roles';
  const rules = policy.rules.length;
  const groups = policy.groups.size;
  return `policy file ${policy.file}: ${rules} rule${rules === 1 ? '' : 's'}, ${groups} group${groups === 1 ? '' : 's'}, deny by default`;
}

/** `kind:name` (common/pki.ts' principalText, which policy.ts does not import: it pulls in X.509). */
function principalKey(principal: Principal): string {
  return `${principal.kind}:${principal.name}`;
}

/** Whether `principal` may do what `request` asks, and the rule that says so. */
export function decide(policy: Policy, principal: Principal, request: Request): Decision {
  if (policy.kind === 'default') return decideByDefault(principal, request);
  for (const rule of policy.rules) {
    if (ruleMatches(policy, rule, principal, request)) return { allowed: true, rule: rule.label };
  }
  return { allowed: false, rule: `no rule in ${policy.file} allows it (deny by default)` };
}

/** True when `value` matches the glob `pattern` (see the file comment); linear in practice, O(n·m) at worst. */
export function globMatches(pattern: string, value: string): boolean {
  // The usual two-pointer wildcard match: on a mismatch, let the last `*` swallow one more character.
  let p = 0;
  let v = 0;
  let star = -1;
  let starV = 0;
  while (v < value.length) {
    if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      starV = v;
    } else if (p < pattern.length && pattern[p] === value[v]) {
      p++;
      v++;
    } else if (star >= 0) {
      p = star + 1;
      v = ++starV;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** True when `value` (undefined or '' for "left out") matches one of `patterns`. */
function anyMatches(patterns: readonly string[], value: string | undefined): boolean {
  if (value === undefined || value === '') return patterns.includes('*');
  return patterns.some((p) => globMatches(p, value));
}

/** True when the set names `principal`, directly, by kind, or through a group. */
function principalIn(policy: Extract<Policy, { kind: 'file' }>, set: PrincipalSet, principal: Principal): boolean {
  if (set.kinds.has(principal.kind) || set.exact.has(principalKey(principal))) return true;
  return set.groups.some((g) => {
    const members = policy.groups.get(g);
    return members !== undefined && principalIn(policy, members, principal);
  });
}

function ruleMatches(policy: Extract<Policy, { kind: 'file' }>, rule: PolicyRule, principal: Principal, request: Request): boolean {
  if (!rule.actions.has(request.action) || !principalIn(policy, rule.principals, principal)) return false;
  switch (request.action) {
    case 'register_framework':
    case 'reserve':
    case 'unreserve':
    case 'create_volume':
    case 'destroy_volume':
    case 'update_weights':
    case 'update_quota':
      return rule.roles === undefined || anyMatches(rule.roles, request.role);
    case 'run_task': {
      const user = request.user === '' ? undefined : request.user;
      return (rule.roles === undefined || anyMatches(rule.roles, request.role))
        && (rule.containerizers === undefined || rule.containerizers.includes(request.containerizer))
        && (rule.images === undefined || anyMatches(rule.images, request.image))
        // DEFAULT_USER is a word, not a glob: it matches "no user named" and never a user called 'default'.
        && (rule.users === undefined || (user === undefined ? rule.users.includes(DEFAULT_USER) || rule.users.includes('*') : anyMatches(rule.users.filter((u) => u !== DEFAULT_USER), user)));
    }
    case 'teardown_framework':
    case 'view':
    case 'read_task_output':
      return rule.frameworks !== 'own' || samePrincipal(request.owner, principal);
    case 'drain_agent':
    case 'mark_agent_gone':
      return rule.agents === undefined || anyMatches(rule.agents, request.agent);
    case 'issue_certificate':
      return rule.certificates === undefined || rule.certificates.some((c) => certificateMatches(c, request.kind, request.name));
    case 'manage_tokens':
      return true;
  }
}

/** `kind:glob` against a certificate's principal: the kind exactly, the name by glob. */
function certificateMatches(pattern: string, kind: PrincipalKind, name: string): boolean {
  const colon = pattern.indexOf(':');
  return pattern.slice(0, colon) === kind && globMatches(pattern.slice(colon + 1), name);
}

function samePrincipal(a: Principal, b: Principal): boolean {
  return a.kind === b.kind && a.name === b.name;
}

/** The default policy, clause by clause; each decision names its clause. */
function decideByDefault(principal: Principal, request: Request): Decision {
  switch (principal.kind) {
    case 'operator':
      return { allowed: true, rule: 'default policy: operators may do everything' };
    case 'master':
      return { allowed: false, rule: 'default policy: master principals may do nothing through the ACL' };
    case 'agent':
      return { allowed: false, rule: 'default policy: agent principals are authorized by identity binding, not by the ACL' };
    case 'framework':
      return decideForFramework(principal, request);
  }
}

function decideForFramework(principal: Principal, request: Request): Decision {
  const own = `its own role (${principal.name}) or '*'`;
  switch (request.action) {
    case 'register_framework':
      return { allowed: isOwnRole(principal, request.role), rule: `default policy: a framework principal may register under ${own}` };
    case 'reserve':
    case 'unreserve':
    case 'create_volume':
    case 'destroy_volume':
      return { allowed: isOwnRole(principal, request.role), rule: `default policy: a framework principal may ${request.action} only for ${own}` };
    case 'run_task': {
      const user = request.user === '' ? undefined : request.user;
      return { allowed: user === undefined, rule: 'default policy: a framework principal may run tasks of any image only as the default user (no user named)' };
    }
    case 'teardown_framework':
    case 'view':
    case 'read_task_output':
      return { allowed: samePrincipal(request.owner, principal), rule: `default policy: a framework principal may ${request.action} only for frameworks it owns` };
    case 'update_weights':
    case 'update_quota':
    case 'drain_agent':
    case 'mark_agent_gone':
    case 'issue_certificate':
    case 'manage_tokens':
      return { allowed: false, rule: `default policy: a framework principal may not ${request.action} (operators only)` };
  }
}

/** The roles a framework principal works under by default: its name, roles under it, and '*'. */
function isOwnRole(principal: Principal, role: string): boolean {
  if (role === '*') return true;
  return principal.name !== '' && (role === principal.name || role.startsWith(`${principal.name}/`));
}
