/**
 * Principals and requests written as text: `kind:name` (a rule's principals, `orbit acl check
 * PRINCIPAL ...`) and `orbit acl check`'s ACTION and OBJECT (`key=value[,key=value]`). Values are
 * checked against names.ts, so a request that parses is one the master could have been asked.
 */
import { quote } from '../../common/echo.js';
import { InvalidArgumentError } from '../../common/errors.js';
import { nameProblem } from '../../common/names.js';
import { ACTIONS, PRINCIPAL_KINDS, TASK_CONTAINERIZERS, type Action, type Principal, type PrincipalKind, type Request, type TaskContainerizer } from './policy.js';

/** The longest OBJECT `parseRequest` reads, in characters. */
export const MAX_REQUEST_OBJECT_CHARS = 4096;

const KINDS_TEXT = PRINCIPAL_KINDS.join(', ');

/**
 * Why `text` is not a principal `kind:name`, or undefined when it is. With `wildcard`, `kind:*`
 * (every principal of that kind) is accepted too.
 */
export function principalProblem(text: string, options: { wildcard?: boolean } = {}): string | undefined {
  const colon = text.indexOf(':');
  if (colon < 0) return `${quote(text)} is not kind:name (kind is one of ${KINDS_TEXT})`;
  const kind = text.slice(0, colon);
  const name = text.slice(colon + 1);
  if (!isPrincipalKind(kind)) return `${quote(text)} has an unknown kind ${quote(kind)}; expected one of ${KINDS_TEXT}`;
  if (name === '*' && options.wildcard) return undefined;
  if (name === '') return `${quote(text)} has no name after '${kind}:'`;
  return nameProblem('principal name', name);
}

/** The principal written `kind:name`; throws InvalidArgumentError (field `principal`) saying why not. */
export function parsePrincipal(text: string): Principal {
  const problem = principalProblem(text);
  if (problem !== undefined) throw new InvalidArgumentError('principal', problem);
  const colon = text.indexOf(':');
  return { kind: text.slice(0, colon) as PrincipalKind, name: text.slice(colon + 1) };
}

/** True when `text` is a PrincipalKind. */
export function isPrincipalKind(text: string): text is PrincipalKind {
  return (PRINCIPAL_KINDS as readonly string[]).includes(text);
}

/** True when `text` is an Action. */
export function isAction(text: string): text is Action {
  return (ACTIONS as readonly string[]).includes(text);
}

/** The keys an OBJECT may hold. */
type RequestKey = 'role' | 'containerizer' | 'image' | 'user' | 'owner' | 'agent' | 'kind' | 'name';

/** The keys each action takes: required first, then optional. */
const REQUEST_KEYS: Readonly<Record<Action, { required: readonly RequestKey[]; optional: readonly RequestKey[] }>> = {
  register_framework: { required: ['role'], optional: [] },
  run_task: { required: ['role', 'containerizer'], optional: ['image', 'user'] },
  reserve: { required: ['role'], optional: [] },
  unreserve: { required: ['role'], optional: [] },
  create_volume: { required: ['role'], optional: [] },
  destroy_volume: { required: ['role'], optional: [] },
  teardown_framework: { required: ['owner'], optional: [] },
  update_weights: { required: ['role'], optional: [] },
  update_quota: { required: ['role'], optional: [] },
  drain_agent: { required: ['agent'], optional: [] },
  mark_agent_gone: { required: ['agent'], optional: [] },
  view: { required: ['owner'], optional: [] },
  read_task_output: { required: ['owner'], optional: [] },
  issue_certificate: { required: ['kind', 'name'], optional: [] },
  manage_tokens: { required: [], optional: [] },
};

/** Why `value` is not a valid `key`, or undefined. */
function valueProblem(key: RequestKey, value: string): string | undefined {
  switch (key) {
    case 'role':
      return nameProblem('role', value);
    case 'containerizer':
      return (TASK_CONTAINERIZERS as readonly string[]).includes(value) ? undefined : `unknown containerizer ${quote(value)}; expected ${TASK_CONTAINERIZERS.join(' or ')}`;
    case 'image':
      return value === '' ? undefined : nameProblem('image', value);
    case 'user':
      return nameProblem('user', value);
    case 'owner':
      return principalProblem(value);
    case 'agent':
      // An agent id is a hostname as far as characters go, so one check serves both.
      return nameProblem('hostname', value);
    case 'kind':
      return isPrincipalKind(value) ? undefined : `unknown kind ${quote(value)}; expected one of ${KINDS_TEXT}`;
    case 'name':
      return value === '' ? 'a certificate needs a name' : nameProblem('principal name', value);
  }
}

/**
 * The request `orbit acl check` asks about: ACTION is an action's name, OBJECT `key=value` pairs
 * separated by commas (`role=analytics`, `containerizer=docker,image=redis:7,user=root`,
 * `owner=framework:spark`, `agent=host1`, `kind=agent,name=host1`; '' for manage_tokens). An
 * empty `image=` or `user=` is the same as leaving it out. Throws InvalidArgumentError (field
 * `action` or `object`) naming the unknown action, key or value.
 */
export function parseRequest(action: string, object: string): Request {
  if (!isAction(action)) throw new InvalidArgumentError('action', `unknown action ${quote(action)}; expected one of ${ACTIONS.join(', ')}`);
  if (object.length > MAX_REQUEST_OBJECT_CHARS) throw new InvalidArgumentError('object', `at most ${MAX_REQUEST_OBJECT_CHARS} characters`);
  const keys = REQUEST_KEYS[action];
  const allowed: readonly RequestKey[] = [...keys.required, ...keys.optional];
  const expected = allowed.length === 0 ? `${action} takes no keys (pass '')` : `${action} takes ${allowed.join(', ')}`;
  const values = new Map<RequestKey, string>();
  for (const pair of object === '' ? [] : object.split(',')) {
    const eq = pair.indexOf('=');
    if (eq < 0) throw new InvalidArgumentError('object', `${quote(pair)} is not key=value; ${expected}`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (!(allowed as readonly string[]).includes(key)) throw new InvalidArgumentError('object', `unknown key ${quote(key)}; ${expected}`);
    const known = key as RequestKey;
    if (values.has(known)) throw new InvalidArgumentError('object', `${key}= is given twice`);
    const problem = valueProblem(known, value);
    if (problem !== undefined) throw new InvalidArgumentError('object', `${key}=: ${problem}`);
    values.set(known, value);
  }
  const missing = keys.required.filter((k) => !values.has(k));
  if (missing.length > 0) throw new InvalidArgumentError('object', `${action} needs ${missing.map((k) => `${k}=`).join(' and ')}; ${expected}`);
  const get = (key: RequestKey): string => values.get(key) ?? '';
  const optional = (key: RequestKey): string | undefined => (values.get(key) || undefined);
  switch (action) {
    case 'register_framework':
    case 'reserve':
    case 'unreserve':
    case 'create_volume':
    case 'destroy_volume':
    case 'update_weights':
    case 'update_quota':
      return { action, role: get('role') };
    case 'run_task': {
      const image = optional('image');
      const user = optional('user');
      return {
        action, role: get('role'), containerizer: get('containerizer') as TaskContainerizer,
        ...(image === undefined ? {} : { image }), ...(user === undefined ? {} : { user }),
      };
    }
    case 'teardown_framework':
    case 'view':
    case 'read_task_output':
      return { action, owner: parsePrincipal(get('owner')) };
    case 'drain_agent':
    case 'mark_agent_gone':
      return { action, agent: get('agent') };
    case 'issue_certificate':
      return { action, kind: get('kind') as PrincipalKind, name: get('name') };
    case 'manage_tokens':
      return { action };
  }
}
