/**
 * What the codec accepts, through a real protobuf round trip (so an unknown enum number arrives as
 * a bare number and an absent optional field as undefined, exactly as the master sees them):
 * names, enums and numbers out of range refuse the message naming the field; a task's own
 * problems (overlapping ranges, NUL, oversized environment) refuse that task alone.
 */
import t from 'tap';
import {
  agentInfoFromProto,
  frameworkInfoFromProto,
  launchRefusal,
  resourcesFromProto,
  stateFromProto,
  statusFromProto,
  taskFromProto,
  taskToProto,
} from '../../src/common/codec.js';
import { InvalidArgumentError } from '../../src/common/errors.js';
import { orbitV1 } from '../../src/common/proto.js';
import { MAX_ENVIRONMENT_BYTES } from '../../src/common/task-limits.js';
import type { AgentInfo, AgentInfo__Output } from '../../src/gen/orbit/v1/AgentInfo.js';
import type { FrameworkInfo, FrameworkInfo__Output } from '../../src/gen/orbit/v1/FrameworkInfo.js';
import type { Resource } from '../../src/gen/orbit/v1/Resource.js';
import type { TaskInfo, TaskInfo__Output } from '../../src/gen/orbit/v1/TaskInfo.js';
import type { TaskStatus, TaskStatus__Output } from '../../src/gen/orbit/v1/TaskStatus.js';
import { makeTask } from '../helpers/builders.js';
import { overTheWire } from '../helpers/wire-arbitraries.js';

// ---- the wire, as the master's handlers see it -------------------------------------------------

const v1 = orbitV1();
type Method = { requestSerialize(value: unknown): Buffer; requestDeserialize(bytes: Buffer): unknown };
const roundTrip = <T>(method: Method, message: unknown): T => method.requestDeserialize(method.requestSerialize(message)) as T;

/** A TaskInfo as the master decodes it from an Accept. */
function wireTask(task: TaskInfo): TaskInfo__Output {
  const call = roundTrip<{ operations: { launch: { tasks: TaskInfo__Output[] } }[] }>(v1.Scheduler.service.Accept as Method, { operations: [{ launch: { tasks: [task] } }] });
  return call.operations[0]!.launch.tasks[0]!;
}

function wireFramework(framework: FrameworkInfo): FrameworkInfo__Output {
  return roundTrip<{ framework: FrameworkInfo__Output }>(v1.Scheduler.service.Subscribe as Method, { framework }).framework;
}

// Messages that no unary method carries alone go through protobufjs with the loader's options.
const wireAgent = (info: AgentInfo): AgentInfo__Output => overTheWire('orbit.v1.AgentInfo', info);
const wireStatus = (status: TaskStatus): TaskStatus__Output => overTheWire('orbit.v1.TaskStatus', status);

const base = (): TaskInfo => taskToProto(makeTask('t1').obj());

/** The field an InvalidArgumentError names, or 'no error'. */
function refusedField(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (err) {
    if (!(err instanceof InvalidArgumentError)) throw err;
    return err.field;
  }
}

// ---- tasks ---------------------------------------------------------------------------------------

t.test('a task with a number out of range is refused, naming the field', async (t) => {
  const cases: [string, TaskInfo, string][] = [
    ['a kill grace of 1e300 s', { ...base(), killGraceSeconds: 1e300 }, 'task.kill_grace_seconds'],
    ['an infinite kill grace', { ...base(), killGraceSeconds: Infinity }, 'task.kill_grace_seconds'],
    ['a NaN kill grace', { ...base(), killGraceSeconds: NaN }, 'task.kill_grace_seconds'],
    ['a negative kill grace', { ...base(), killGraceSeconds: -1 }, 'task.kill_grace_seconds'],
    ['a kill grace of an hour and a second', { ...base(), killGraceSeconds: 3601 }, 'task.kill_grace_seconds'],
    ['a negative health check delay', { ...base(), healthCheck: { type: 'HEALTH_TCP', port: 80, delaySeconds: -1 } }, 'task.health_check.delay_seconds'],
    ['a 1 ms health check interval', { ...base(), healthCheck: { type: 'HEALTH_TCP', port: 80, intervalSeconds: 0.001 } }, 'task.health_check.interval_seconds'],
    ['a negative health check timeout', { ...base(), healthCheck: { type: 'HEALTH_TCP', port: 80, timeoutSeconds: -3 } }, 'task.health_check.timeout_seconds'],
    ['an infinite health check grace', { ...base(), healthCheck: { type: 'HEALTH_TCP', port: 80, gracePeriodSeconds: Infinity } }, 'task.health_check.grace_period_seconds'],
    ['a health check delay past a day', { ...base(), healthCheck: { type: 'HEALTH_TCP', port: 80, delaySeconds: 86_401 } }, 'task.health_check.delay_seconds'],
    ['1001 consecutive failures', { ...base(), healthCheck: { type: 'HEALTH_TCP', port: 80, consecutiveFailures: 1001 } }, 'task.health_check.consecutive_failures'],
    ['a health check port of 70000', { ...base(), healthCheck: { type: 'HEALTH_TCP', port: 70_000 } }, 'task.health_check.port'],
    ['mem: 1e308', { ...base(), resources: [{ name: 'mem', type: 'SCALAR', scalar: 1e308 }] }, 'task.resources[0].scalar'],
    ['cpus: NaN', { ...base(), resources: [{ name: 'cpus', type: 'SCALAR', scalar: NaN }] }, 'task.resources[0].scalar'],
    ['a negative scalar', { ...base(), resources: [{ name: 'cpus', type: 'SCALAR', scalar: -0.5 }] }, 'task.resources[0].scalar'],
    ['a port above 65535', { ...base(), resources: [{ name: 'ports', type: 'RANGES', ranges: [{ begin: 1, end: 70_000 }] }] }, 'task.resources[0].ranges'],
    ['an inverted range', { ...base(), resources: [{ name: 'ports', type: 'RANGES', ranges: [{ begin: 9, end: 3 }] }] }, 'task.resources[0].ranges'],
    ['a range past 2^53', { ...base(), resources: [{ name: 'things', type: 'RANGES', ranges: [{ begin: '0', end: '18446744073709551615' }] }] }, 'task.resources[0].ranges'],
    ['two entries of one resource adding up past 1e9', { ...base(), resources: [{ name: 'gpus', type: 'SCALAR', scalar: 1e9 }, { name: 'gpus', type: 'SCALAR', scalar: 0.001 }] }, 'task.resources'],
    ['300 resource entries', { ...base(), resources: Array.from({ length: 300 }, (_, i): Resource => ({ name: `r${i}`, type: 'SCALAR', scalar: 1 })) }, 'task.resources'],
    ['101 labels', { ...base(), labels: Array.from({ length: 101 }, (_, i) => ({ key: `k${i}`, value: 'v' })) }, 'task.labels'],
  ];
  for (const [what, task, field] of cases) t.equal(refusedField(() => taskFromProto(wireTask(task), 'task')), field, what);
});

t.test('durations: absent means the default, 0 means 0, and each bound itself is accepted', async (t) => {
  const cases: [string, TaskInfo, (spec: ReturnType<typeof taskFromProto>) => unknown, unknown][] = [
    ['no kill grace: the default 3 s', { ...base(), killGraceSeconds: undefined as unknown as number }, (s) => s.killGraceMs, 3_000],
    ['a kill grace of 0: SIGKILL at once', { ...base(), killGraceSeconds: 0 }, (s) => s.killGraceMs, 0],
    ['a kill grace of an hour', { ...base(), killGraceSeconds: 3_600 }, (s) => s.killGraceMs, 3_600_000],
    ['a kill grace of -0 is 0', { ...base(), killGraceSeconds: -0 }, (s) => Object.is(s.killGraceMs, 0), true],
    ['no health check delay: 15 s', { ...base(), healthCheck: { type: 'HEALTH_TCP', port: 80 } }, (s) => s.healthCheck?.delayMs, 15_000],
    ['a health check delay of 0: at once', { ...base(), healthCheck: { type: 'HEALTH_TCP', port: 80, delaySeconds: 0 } }, (s) => s.healthCheck?.delayMs, 0],
    ['a grace period of 0', { ...base(), healthCheck: { type: 'HEALTH_TCP', port: 80, gracePeriodSeconds: 0 } }, (s) => s.healthCheck?.gracePeriodMs, 0],
    ['an interval of 0: the default 10 s', { ...base(), healthCheck: { type: 'HEALTH_TCP', port: 80, intervalSeconds: 0 } }, (s) => s.healthCheck?.intervalMs, 10_000],
    ['the fastest interval, 100 ms', { ...base(), healthCheck: { type: 'HEALTH_TCP', port: 80, intervalSeconds: 0.1 } }, (s) => s.healthCheck?.intervalMs, 100],
    ['no consecutive failures: 3', { ...base(), healthCheck: { type: 'HEALTH_TCP', port: 80 } }, (s) => s.healthCheck?.consecutiveFailures, 3],
    ['a day of delay', { ...base(), healthCheck: { type: 'HEALTH_TCP', port: 80, delaySeconds: 86_400 } }, (s) => s.healthCheck?.delayMs, 86_400_000],
    ['mem at the largest scalar', { ...base(), resources: [{ name: 'mem', type: 'SCALAR', scalar: 1e9 }] }, (s) => s.resources[0]?.scalar, 1e9],
  ];
  for (const [what, task, pick, want] of cases) t.same(pick(taskFromProto(wireTask(task), 'task')), want, what);
});

t.test('a task with an unknown or unset enum is refused, naming the field', async (t) => {
  const cases: [string, TaskInfo, string][] = [
    ['an unknown container type number', { ...base(), container: { type: 42 as never } }, 'task.container.type'],
    ['no container type', { ...base(), container: { type: 'CONTAINER_TYPE_UNKNOWN' } }, 'task.container.type'],
    ['no container at all', { ...base(), container: null }, 'task.container.type'],
    ['an unknown health check type', { ...base(), healthCheck: { type: 9 as never, port: 80 } }, 'task.health_check.type'],
    ['an unknown resource type', { ...base(), resources: [{ name: 'cpus', type: 7 as never, scalar: 1 }] }, 'task.resources[0].type'],
  ];
  for (const [what, task, field] of cases) t.equal(refusedField(() => taskFromProto(wireTask(task), 'task')), field, what);
  const err = t.throws(() => taskFromProto(wireTask({ ...base(), container: null }), 'task')) as Error;
  t.match(err.message, /a task needs a container type: DOCKER, PROCESS or SIMULATED/, 'says which types there are');
});

t.test('a task with a hostile name is refused, naming the field', async (t) => {
  const cases: [string, TaskInfo, string][] = [
    ['a task id that climbs out', { ...base(), taskId: '../../etc' }, 'task.task_id'],
    ['a task id with NUL', { ...base(), taskId: 'a\0b' }, 'task.task_id'],
    ['a 10 KB task id', { ...base(), taskId: 'a'.repeat(10_240) }, 'task.task_id'],
    ['a task name with a newline', { ...base(), name: 'a\nb' }, 'task.name'],
    ['an agent id with a slash', { ...base(), agentId: 'a/b' }, 'task.agent_id'],
    ['a label key with NUL', { ...base(), labels: [{ key: 'a\0', value: 'x' }] }, 'task.labels[0].key'],
    ['a label key given twice', { ...base(), labels: [{ key: 'a', value: 'x' }, { key: 'a', value: 'y' }] }, 'task.labels[1].key'],
    ['a label value with an escape', { ...base(), labels: [{ key: 'a', value: '\u001b[2J' }] }, 'task.labels[0].value'],
    ['a user with a slash', { ...base(), command: { value: 'true', shell: true, user: '../root' } }, 'task.command.user'],
    ['an environment name with =', { ...base(), command: { value: 'true', shell: true, environment: [{ name: 'A=B', value: '' }] } }, 'task.command.environment[0].name'],
    ['an environment name given twice', { ...base(), command: { value: 'true', shell: true, environment: [{ name: 'A', value: '1' }, { name: 'A', value: '2' }] } }, 'task.command.environment[1].name'],
    ['an image with a space', { ...base(), container: { type: 'DOCKER', image: 'alpine; rm -rf /' } }, 'task.container.image'],
    ['a role that is two dots', { ...base(), resources: [{ name: 'cpus', type: 'SCALAR', scalar: 1, role: '..' }] }, 'task.resources[0].role'],
    ['a health check path with CRLF', { ...base(), healthCheck: { type: 'HEALTH_HTTP', port: 80, path: '/\r\nHost: x' } }, 'task.health_check.path'],
  ];
  for (const [what, task, field] of cases) t.equal(refusedField(() => taskFromProto(wireTask(task), 'task')), field, what);
});

t.test('a task only it gets wrong is refused alone, naming the field', async (t) => {
  const ports = (...ranges: [number, number][]): Resource => ({ name: 'ports', type: 'RANGES', ranges: ranges.map(([begin, end]) => ({ begin, end })) });
  const env = (pairs: [string, string][]) => ({ value: 'true', shell: true, environment: pairs.map(([name, value]) => ({ name, value })) });
  const cases: [string, TaskInfo, RegExp | undefined][] = [
    ['overlapping ranges in one entry', { ...base(), resources: [ports([31000, 31005], [31003, 31010])] }, /resources\[0\]\.ranges\[1\]: ports 31003-31010 overlaps 31000-31005/],
    ['the same range twice', { ...base(), resources: [ports([31000, 31000], [31000, 31000])] }, /resources\[0\]\.ranges\[1\]: ports 31000-31000 overlaps/],
    ['a port in two entries', { ...base(), resources: [ports([31000, 31002]), { ...ports([31002, 31004]), role: 'web' }] }, /resources\[1\]\.ranges\[0\]: ports 31002-31004 overlaps 31000-31002/],
    ['NUL in an environment value', { ...base(), command: env([['A', 'x\0y']]) }, /command\.environment\[0\]\.value: contains NUL/],
    ['NUL in an argument', { ...base(), command: { value: 'echo', arguments: ['ok', 'a\0b'] } }, /command\.arguments\[1\]: contains NUL/],
    ['NUL in the command', { ...base(), command: { value: 'echo\0x', shell: true } }, /command\.value: contains NUL/],
    ['an environment over 64 KiB', { ...base(), command: env([['BIG', 'x'.repeat(MAX_ENVIRONMENT_BYTES)]]) }, /command\.environment: \d+ bytes; at most 65536/],
    ['NUL in a health check command', { ...base(), healthCheck: { type: 'HEALTH_COMMAND', command: { value: 'test\0', shell: true } } }, /health_check\.command\.value: contains NUL/],
    ['adjacent ranges (not an overlap)', { ...base(), resources: [ports([31000, 31002], [31003, 31004])] }, undefined],
    ['an environment just within 64 KiB', { ...base(), command: env([['BIG', 'x'.repeat(MAX_ENVIRONMENT_BYTES - 6)]]) }, undefined],
  ];
  for (const [what, task, why] of cases) {
    const m = wireTask(task);
    t.doesNotThrow(() => taskFromProto(m, 'task'), `${what}: the task decodes (its id is usable)`);
    const refusal = launchRefusal(m, 'task');
    if (why) t.match(refusal, why, `${what}: refused`);
    else t.equal(refusal, undefined, `${what}: not refused`);
  }
});

// ---- frameworks, agents, statuses ---------------------------------------------------------------

t.test('a framework info out of bounds is refused, naming the field', async (t) => {
  const ok: FrameworkInfo = { name: 'fw', roles: ['*'], user: 'tester', hostname: 'h1', failoverTimeoutSeconds: 60 };
  const cases: [string, FrameworkInfo, string][] = [
    ['an id that climbs out', { ...ok, id: '../../etc' }, 'framework.id'],
    ['an id with NUL', { ...ok, id: 'fw\0' }, 'framework.id'],
    ['a 10 KB id', { ...ok, id: 'f'.repeat(10_240) }, 'framework.id'],
    ['a blank name', { ...ok, name: '  ' }, 'framework.name'],
    ['a role with a slash', { ...ok, roles: ['a/b'] }, 'framework.roles[0]'],
    ['a role listed twice', { ...ok, roles: ['a', 'a'] }, 'framework.roles'],
    ['101 roles', { ...ok, roles: Array.from({ length: 101 }, (_, i) => `r${i}`) }, 'framework.roles'],
    ['an infinite failover timeout', { ...ok, failoverTimeoutSeconds: Infinity }, 'framework.failover_timeout_seconds'],
    ['a failover timeout past a year', { ...ok, failoverTimeoutSeconds: 366 * 86_400 }, 'framework.failover_timeout_seconds'],
    ['a negative failover timeout', { ...ok, failoverTimeoutSeconds: -1 }, 'framework.failover_timeout_seconds'],
    ['a hostname with a space', { ...ok, hostname: 'a b' }, 'framework.hostname'],
    ['a principal with NUL', { ...ok, principal: 'p\0' }, 'framework.principal'],
  ];
  for (const [what, info, field] of cases) t.equal(refusedField(() => frameworkInfoFromProto(wireFramework(info))), field, what);
  t.equal(frameworkInfoFromProto(wireFramework({ ...ok, failoverTimeoutSeconds: 365 * 86_400 })).failoverTimeoutMs, 365 * 86_400_000, 'a year is accepted');
  t.same(frameworkInfoFromProto(wireFramework({ name: 'bare' })), { id: '', name: 'bare', roles: [], user: '', hostname: '', failoverTimeoutMs: 0, principal: '', labels: {} }, 'only a name is needed');
});

t.test('an agent info out of bounds is refused, naming the field', async (t) => {
  const ok: AgentInfo = { hostname: 'h1', resources: [{ name: 'cpus', type: 'SCALAR', scalar: 1 }], containerizers: ['process'] };
  const cases: [string, AgentInfo, string][] = [
    ['an id with a slash', { ...ok, id: 'a/../b' }, 'info.id'],
    ['a hostname with a control character', { ...ok, hostname: 'h\u0007' }, 'info.hostname'],
    ['no hostname', { ...ok, hostname: '' }, 'info.hostname'],
    ['an attribute name with a space', { ...ok, attributes: [{ name: 'a b', value: 'x' }] }, 'info.attributes[0].name'],
    ['an attribute given twice', { ...ok, attributes: [{ name: 'a', value: 'x' }, { name: 'a', value: 'y' }] }, 'info.attributes[1].name'],
    ['an attribute value with ;', { ...ok, attributes: [{ name: 'a', value: 'x;y' }] }, 'info.attributes[0].value'],
    ['an unknown containerizer', { ...ok, containerizers: ['vm'] }, 'info.containerizers[0]'],
    ['an HTTP port past 65535', { ...ok, httpPort: 70_000 }, 'info.http_port'],
  ];
  for (const [what, info, field] of cases) t.equal(refusedField(() => agentInfoFromProto(wireAgent(info))), field, what);
});

t.test('a status with an unknown enum or a bad id is refused, naming the field', async (t) => {
  const ok: TaskStatus = { taskId: 't1', frameworkId: 'fw-1', agentId: 'a1', state: 'TASK_RUNNING', source: 'SOURCE_AGENT', reason: 'REASON_NONE', timestamp: 1_700_000_000, uuid: 'u1' };
  const cases: [string, TaskStatus, string][] = [
    ['an unknown state number', { ...ok, state: 99 as never }, 'status.state'],
    ['no state', { ...ok, state: 'TASK_STATE_UNKNOWN' }, 'status.state'],
    ['an unknown reason number', { ...ok, reason: 1234 as never }, 'status.reason'],
    ['an unknown source number', { ...ok, source: 5 as never }, 'status.source'],
    ['a task id that climbs out', { ...ok, taskId: '../x' }, 'status.task_id'],
    ['a framework id with NUL', { ...ok, frameworkId: 'f\0' }, 'status.framework_id'],
    ['a NaN timestamp', { ...ok, timestamp: NaN }, 'status.timestamp'],
    ['a uuid with a space', { ...ok, uuid: 'a b' }, 'status.uuid'],
    ['a container id with a slash', { ...ok, containerId: 'c/../d' }, 'status.container_id'],
  ];
  for (const [what, status, field] of cases) t.equal(refusedField(() => statusFromProto(wireStatus(status))), field, what);
  const long = statusFromProto(wireStatus({ ...ok, message: 'm'.repeat(100_000) }));
  t.ok(long.message.length <= 4_096, 'a 100 KB message is cut to 4096 characters, not refused');
});

t.test('a task state filter: unset is no filter, an unknown number is refused', async (t) => {
  t.equal(stateFromProto('TASK_STATE_UNKNOWN'), undefined);
  t.equal(stateFromProto('TASK_RUNNING'), 'RUNNING');
  t.equal(refusedField(() => stateFromProto(13 as never, 'state')), 'state');
});

t.test('resources: at most 256 entries and 1024 ranges each; every role and name checked', async (t) => {
  const many = Array.from({ length: 1025 }, (_, i) => ({ begin: String(2 * i + 1), end: String(2 * i + 1) }));
  t.equal(refusedField(() => resourcesFromProto([{ name: 'ports', type: 'RANGES', scalar: 0, ranges: many, role: '', dynamic: false, volume: null }], 'r')), 'r[0].ranges');
  t.equal(refusedField(() => resourcesFromProto([{ name: 'CPUS', type: 'SCALAR', scalar: 1, ranges: [], role: '', dynamic: false, volume: null }], 'r')), 'r[0].name');
});
