/**
 * The codec: where generated protobuf types stop. Everything else speaks the domain types in
 * tasks.ts, cluster.ts and resources.ts. Decoding checks structure, names (names.ts), enums and
 * numbers, and throws InvalidArgumentError naming the field; it does not judge whether a task fits
 * an offer. Tasks are in task-codec.ts, enums in enum-codec.ts, shared parts in field-codec.ts;
 * all are exported from here.
 */
import type { AgentInfo as AgentInfoMsg, AgentInfo__Output } from '../gen/orbit/v1/AgentInfo.js';
import type { FrameworkInfo as FrameworkInfoMsg, FrameworkInfo__Output } from '../gen/orbit/v1/FrameworkInfo.js';
import type { Offer as OfferMsg, Offer__Output } from '../gen/orbit/v1/Offer.js';
import type { TaskStatus as TaskStatusMsg, TaskStatus__Output } from '../gen/orbit/v1/TaskStatus.js';
import { FAILOVER_TIMEOUT_MS, MAX_ROLES_PER_FRAMEWORK, type AgentInfo, type FrameworkInfo, type Offer } from './cluster.js';
import { quote, truncateText } from './echo.js';
import { reasonFromProto, reasonToProto, sourceFromProto, sourceToProto, stateFromProto, stateToProto } from './enum-codec.js';
import { InvalidArgumentError } from './errors.js';
import {
  attributesFromProto,
  attributesToProto,
  capped,
  integerWithin,
  labelsFromProto,
  labelsToProto,
  resourcesFromProto,
  resourcesToProto,
  secondsToMs,
} from './field-codec.js';
import { checkName } from './names.js';
import { STATUS_TIMESTAMP_MS } from './task-limits.js';
import { MAX_STATUS_MESSAGE_CHARS, type TaskStatus } from './tasks.js';

export { errorReasonFromProto, errorReasonToProto, reasonFromProto, reasonToProto, stateFromProto, stateToProto } from './enum-codec.js';
export { attributesFromProto, attributesToProto, optionalTimeMs, required, resourcesFromProto, resourcesToProto, secondsToMs } from './field-codec.js';
export { launchRefusal, taskFromProto, taskToProto } from './task-codec.js';

/** Agents' containerizers, by the name they register with. */
const CONTAINERIZERS: readonly string[] = ['docker', 'process', 'simulated'];

// ---- statuses -------------------------------------------------------------------------------

export function statusToProto(s: TaskStatus): TaskStatusMsg {
  return {
    taskId: s.taskId,
    frameworkId: s.frameworkId,
    agentId: s.agentId,
    state: stateToProto(s.state),
    source: sourceToProto(s.source),
    reason: reasonToProto(s.reason),
    message: s.message,
    timestamp: s.timestamp / 1000,
    uuid: s.uuid ?? '',
    ...(s.healthy !== undefined ? { healthy: s.healthy } : {}),
    containerId: s.containerId ?? '',
    ...(s.exitCode !== undefined ? { exitCode: s.exitCode } : {}),
  };
}

/** Decodes a status; its message, free text, is cut to MAX_STATUS_MESSAGE_CHARS rather than refused. */
export function statusFromProto(m: TaskStatus__Output, field = 'status'): TaskStatus {
  const state = stateFromProto(m.state, `${field}.state`);
  if (!state) throw new InvalidArgumentError(`${field}.state`, 'a status needs a state');
  if (!m.taskId) throw new InvalidArgumentError(`${field}.task_id`, 'a status needs a task_id');
  const s: TaskStatus = {
    taskId: checkName('task id', m.taskId, `${field}.task_id`),
    frameworkId: checkName('framework id', m.frameworkId, `${field}.framework_id`),
    agentId: m.agentId ? checkName('agent id', m.agentId, `${field}.agent_id`) : '',
    state,
    source: sourceFromProto(m.source, `${field}.source`),
    reason: reasonFromProto(m.reason, `${field}.reason`),
    message: truncateText(m.message, MAX_STATUS_MESSAGE_CHARS),
    timestamp: secondsToMs(m.timestamp, STATUS_TIMESTAMP_MS, `${field}.timestamp`),
  };
  if (m.uuid) s.uuid = checkName('update uuid', m.uuid, `${field}.uuid`);
  if (m.healthy !== undefined) s.healthy = m.healthy;
  if (m.containerId) s.containerId = checkName('container id', m.containerId, `${field}.container_id`);
  if (m.exitCode !== undefined) s.exitCode = m.exitCode;
  return s;
}

// ---- frameworks, agents, offers -------------------------------------------------------------

export function frameworkInfoToProto(f: FrameworkInfo): FrameworkInfoMsg {
  return {
    id: f.id,
    name: f.name,
    roles: f.roles,
    user: f.user,
    hostname: f.hostname,
    failoverTimeoutSeconds: f.failoverTimeoutMs / 1000,
    principal: f.principal,
    labels: labelsToProto(f.labels),
  };
}

/** Decodes a framework's info: id ('' on a first subscription), name, roles (unique), timeout, labels. */
export function frameworkInfoFromProto(m: FrameworkInfo__Output, field = 'framework'): FrameworkInfo {
  const id = m.id ? checkName('framework id', m.id, `${field}.id`) : '';
  const name = checkName('framework name', m.name, `${field}.name`);
  const roles = capped(m.roles, MAX_ROLES_PER_FRAMEWORK, `${field}.roles`).map((r, i) => checkName('role', r, `${field}.roles[${i}]`));
  if (new Set(roles).size !== roles.length) throw new InvalidArgumentError(`${field}.roles`, 'roles are listed twice');
  return {
    id,
    name,
    roles,
    user: checkName('user', m.user, `${field}.user`),
    // A framework need not say where it runs; an agent must (agentInfoFromProto).
    hostname: m.hostname ? checkName('hostname', m.hostname, `${field}.hostname`) : '',
    failoverTimeoutMs: secondsToMs(m.failoverTimeoutSeconds, FAILOVER_TIMEOUT_MS, `${field}.failover_timeout_seconds`),
    principal: checkName('principal', m.principal, `${field}.principal`),
    labels: labelsFromProto(m.labels, `${field}.labels`),
  };
}

export function agentInfoToProto(a: AgentInfo): AgentInfoMsg {
  return {
    id: a.id,
    hostname: a.hostname,
    resources: resourcesToProto(a.resources),
    attributes: attributesToProto(a.attributes),
    httpPort: a.httpPort,
    containerizers: a.containerizers,
  };
}

/** Decodes an agent's info: id ('' on a first registration), hostname, resources, attributes, containerizers. */
export function agentInfoFromProto(m: AgentInfo__Output, field = 'info'): AgentInfo {
  const containerizers = capped(m.containerizers, CONTAINERIZERS.length, `${field}.containerizers`).map((c, i) => {
    if (!CONTAINERIZERS.includes(c)) throw new InvalidArgumentError(`${field}.containerizers[${i}]`, `unknown containerizer ${quote(c)} (docker, process or simulated)`);
    return c;
  });
  return {
    id: m.id ? checkName('agent id', m.id, `${field}.id`) : '',
    hostname: checkName('hostname', m.hostname, `${field}.hostname`),
    resources: resourcesFromProto(m.resources, `${field}.resources`),
    attributes: attributesFromProto(m.attributes, `${field}.attributes`),
    httpPort: integerWithin(m.httpPort, { min: 0, max: 65_535 }, `${field}.http_port`),
    containerizers,
  };
}

export function offerToProto(o: Offer): OfferMsg {
  return {
    id: o.id,
    frameworkId: o.frameworkId,
    agentId: o.agentId,
    hostname: o.hostname,
    role: o.role,
    resources: resourcesToProto(o.resources),
    attributes: attributesToProto(o.attributes),
  };
}

export function offerFromProto(m: Offer__Output): Offer {
  return {
    id: m.id,
    frameworkId: m.frameworkId,
    agentId: m.agentId,
    hostname: m.hostname,
    role: m.role,
    resources: resourcesFromProto(m.resources, 'offer.resources'),
    attributes: attributesFromProto(m.attributes, 'offer.attributes'),
  };
}
