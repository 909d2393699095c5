import t from 'tap';
import { frameworkInfoToProto, offerToProto, statusToProto, taskToProto } from '../../src/common/codec.js';
import { InvalidArgumentError } from '../../src/common/errors.js';
import type { AgentCommand, SchedulerEvent } from '../../src/common/master-messages.js';
import { agentCommandFromProto, schedulerEventFromProto, unbatchEvent, unbatchMasterMessage } from '../../src/common/message-codec.js';
import { orbitV1 } from '../../src/common/proto.js';
import { parseResources } from '../../src/common/resources.js';
import type { Event, Event__Output } from '../../src/gen/orbit/v1/Event.js';
import type { MasterMessage, MasterMessage__Output } from '../../src/gen/orbit/v1/MasterMessage.js';
import { encodeAgentCommand, encodeSchedulerEvent } from '../../src/master/rpc/encode.js';
import { buildTask } from '../../src/framework-sdk/index.js';
import { frameworkInfo } from '../helpers/builders.js';

/** `m` as an agent receives it: encoded and decoded by the same loader the link uses. */
function overTheWire(m: MasterMessage): MasterMessage__Output {
  const method = orbitV1().AgentLink.service.Connect;
  return method.responseDeserialize(method.responseSerialize(m)) as MasterMessage__Output;
}

function eventOverTheWire(e: Event): Event__Output {
  const method = orbitV1().Scheduler.service.Subscribe;
  return method.responseDeserialize(method.responseSerialize(e)) as Event__Output;
}

/** The error a decode throws, or undefined. */
function thrown(fn: () => unknown): Error | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

const FW = frameworkInfo({ id: 'fw-1' });
const TASK = buildTask({ taskId: 'task-1', agentId: 'agent-1', resources: 'cpus:0.1;mem:32', command: 'true' });

t.test('every command the master encodes decodes back to itself, with its epoch', async (t) => {
  const commands: AgentCommand[] = [
    { type: 'registered', agentId: 'agent-1', heartbeatIntervalMs: 15_000 },
    { type: 'reregistered', agentId: 'agent-1', heartbeatIntervalMs: 500 },
    { type: 'runTask', framework: FW, task: TASK },
    { type: 'runTask', framework: FW, task: TASK, acceptedAt: 1_700_000_000_123 },
    { type: 'killTask', frameworkId: 'fw-1', taskId: 'task-1', killGraceMs: 1_500, reason: 'KILLED_BY_FRAMEWORK' },
    { type: 'killTask', frameworkId: 'fw-1', taskId: 'task-1', reason: 'AGENT_DRAINING' },
    { type: 'ack', frameworkId: 'fw-1', taskId: 'task-1', uuid: 'uuid-1' },
    { type: 'shutdownFramework', frameworkId: 'fw-1' },
    { type: 'reconcile', frameworkId: 'fw-1', taskIds: ['task-1', 'task-2'] },
    { type: 'refused', reason: 'AGENT_GONE', message: 'marked gone' },
  ];
  for (const command of commands) {
    const decoded = agentCommandFromProto(overTheWire(encodeAgentCommand(command, 7)));
    t.strictSame(decoded, { epoch: 7, command, warnings: [] }, command.type);
  }
});

t.test("a run_task's accepted time that is not a time is left out with a warning; the launch stands", async (t) => {
  for (const [what, seconds] of [['NaN', NaN], ['negative', -1], ['infinite', Infinity], ['past year 9999', 1e15]] as const) {
    const wire = overTheWire({ ...encodeAgentCommand({ type: 'runTask', framework: FW, task: TASK }, 1), runTask: { framework: frameworkInfoToProto(FW), task: taskToProto(TASK), acceptedAt: seconds } });
    const decoded = agentCommandFromProto(wire);
    t.strictSame(decoded.command, { type: 'runTask', framework: FW, task: TASK }, `${what}: launched without it`);
    t.match(decoded.warnings, [/run_task\.accepted_at/], `${what}: the warning names the field`);
  }
});

t.test('every event the master encodes decodes back to itself', async (t) => {
  const offer = { id: 'offer-1', frameworkId: 'fw-1', agentId: 'agent-1', hostname: 'h', role: '*', resources: parseResources('cpus:2;mem:1024'), attributes: [{ name: 'rack', value: 'r1' }] };
  const status = { taskId: 'task-1', frameworkId: 'fw-1', agentId: 'agent-1', state: 'RUNNING' as const, source: 'AGENT' as const, reason: 'NONE' as const, message: 'ok', timestamp: 1_700_000_000_000, uuid: 'uuid-1' };
  const events: SchedulerEvent[] = [
    { type: 'subscribed', frameworkId: 'fw-1', streamId: 'stream-1', heartbeatIntervalMs: 15_000, masterId: 'master-1' },
    { type: 'offers', offers: [offer] },
    { type: 'rescind', offerId: 'offer-1' },
    { type: 'update', status },
    { type: 'failure', agentId: 'agent-1', message: 'gone' },
    { type: 'error', reason: 'FRAMEWORK_REMOVED', message: 'torn down' },
    { type: 'heartbeat' },
  ];
  for (const event of events) {
    const decoded = schedulerEventFromProto(eventOverTheWire(encodeSchedulerEvent(event)));
    t.match(decoded, { event, warnings: [] }, event.type);
  }
});

t.test('a heartbeat interval outside 0.1 s to 1 hour becomes 15 s, with a warning naming the field', async (t) => {
  const cases: [string, number, number][] = [
    ['NaN, which would heartbeat every millisecond', NaN, 15_000],
    ['zero', 0, 15_000],
    ['a negative interval', -5, 15_000],
    ['infinity', Infinity, 15_000],
    ['just under 0.1 s', 0.099, 15_000],
    ['just over an hour', 3600.001, 15_000],
    ['0.1 s, the least', 0.1, 100],
    ['an hour, the most', 3600, 3_600_000],
  ];
  for (const [what, seconds, ms] of cases) {
    const { command, warnings } = agentCommandFromProto(overTheWire({ epoch: '1', registered: { agentId: 'agent-1', heartbeatIntervalSeconds: seconds } }));
    t.match(command, { type: 'registered', heartbeatIntervalMs: ms }, what);
    if (ms === 15_000) t.match(warnings, [/^registered\.heartbeat_interval_seconds: .* taking 15 s instead/], `${what}: warned`);
    else t.strictSame(warnings, [], `${what}: no warning`);
    const event = schedulerEventFromProto(eventOverTheWire({ subscribed: { frameworkId: 'fw-1', streamId: 's', heartbeatIntervalSeconds: seconds } }));
    t.match(event.event, { heartbeatIntervalMs: ms }, `${what}: the same for a framework`);
  }
});

t.test('a command that is malformed is refused, naming the field', async (t) => {
  const cases: [string, MasterMessage, RegExp][] = [
    ['an agent id that climbs out', { epoch: '1', registered: { agentId: '../x', heartbeatIntervalSeconds: 15 } }, /^registered\.agent_id: '\.\.\/x' is not a valid agent id/],
    ['an empty agent id', { epoch: '1', reregistered: { agentId: '', heartbeatIntervalSeconds: 15 } }, /^reregistered\.agent_id: an empty agent id/],
    ['a kill of a hostile task id', { epoch: '1', killTask: { frameworkId: 'fw-1', taskId: 'a\u0000b' } }, /^kill_task\.task_id/],
    ['an infinite kill grace', { epoch: '1', killTask: { frameworkId: 'fw-1', taskId: 't', killGraceSeconds: Infinity } }, /^kill_task\.kill_grace_seconds/],
    ['an unknown kill reason', { epoch: '1', killTask: { frameworkId: 'fw-1', taskId: 't', reason: 999 as never } }, /^kill_task\.reason: unknown status reason 999/],
    ['an ack without a uuid', { epoch: '1', ack: { frameworkId: 'fw-1', taskId: 't', uuid: '' } }, /^ack\.uuid/],
    ['a shutdown of a hostile framework id', { epoch: '1', shutdownFramework: { frameworkId: '../../etc' } }, /^shutdown_framework\.framework_id/],
    ['a batch inside a batch', { epoch: '1', batch: { messages: [] } }, /^batch: a batch holds no batch/],
    ['no command at all', { epoch: '1' }, /^message: the message holds no command/],
  ];
  for (const [what, m, field] of cases) {
    const err = thrown(() => agentCommandFromProto(overTheWire(m)));
    t.type(err, InvalidArgumentError, what);
    t.match(err?.message, field, what);
  }
});

t.test('a launch the agent refuses is a value naming the task when its ids are usable', async (t) => {
  const framework = frameworkInfoToProto(FW);
  const task = taskToProto(TASK);
  const cases: [string, MasterMessage['runTask'], object][] = [
    ['a label key that climbs out', { framework, task: { ...task, labels: [{ key: '../k', value: 'v' }] } }, { frameworkId: 'fw-1', taskId: 'task-1', message: /labels\[0\]\.key/ }],
    ['NUL in its environment', { framework, task: { ...task, command: { value: 'true', shell: true, environment: [{ name: 'A', value: 'a\0b' }] } } }, { frameworkId: 'fw-1', taskId: 'task-1', message: /environment\[0\]\.value: contains NUL/ }],
    ['a task id that climbs out', { framework, task: { ...task, taskId: '../../x' } }, { frameworkId: 'fw-1', taskId: undefined }],
    ['a framework id that climbs out', { framework: { ...framework, id: '../fw' }, task }, { frameworkId: undefined, taskId: 'task-1' }],
    ['no task at all', { framework, task: null }, { frameworkId: 'fw-1', taskId: undefined, message: /run_task\.task: is required/ }],
  ];
  for (const [what, runTask, want] of cases) {
    const { command } = agentCommandFromProto(overTheWire({ epoch: '1', runTask }));
    t.match(command, { type: 'invalidLaunch', ...want }, what);
  }
});

t.test('a refusal or an ERROR with a reason this build does not know keeps its message, without a reason', async (t) => {
  const refused = agentCommandFromProto(overTheWire({ epoch: '1', refused: { message: 'no', reason: 1234 as never } }));
  t.strictSame(refused.command, { type: 'refused', reason: undefined, message: 'no' });
  const error = schedulerEventFromProto(eventOverTheWire({ error: { message: 'no', reason: 'ERROR_REASON_UNKNOWN' } }));
  t.strictSame(error.event, { type: 'error', reason: undefined, message: 'no' });
});

t.test('an epoch is the whole number the master sent, up to the largest uint64', async (t) => {
  t.equal(agentCommandFromProto(overTheWire({ epoch: '0', shutdownFramework: { frameworkId: 'fw-1' } })).epoch, 0);
  t.equal(agentCommandFromProto(overTheWire({ epoch: '18446744073709551615', shutdownFramework: { frameworkId: 'fw-1' } })).epoch, 18446744073709551615);
  t.throws(() => agentCommandFromProto({ epoch: '-1', message: 'shutdownFramework', shutdownFramework: { frameworkId: 'fw-1' } } as MasterMessage__Output), /^epoch: must be a whole number/);
});

t.test('an event that is malformed is refused, naming the field; an offer that is left out is a warning', async (t) => {
  const cases: [string, Event, RegExp][] = [
    ['a hostile framework id', { subscribed: { frameworkId: '../fw', streamId: 's', heartbeatIntervalSeconds: 15 } }, /^subscribed\.framework_id/],
    ['a stream id with a space', { subscribed: { frameworkId: 'fw-1', streamId: 'a b', heartbeatIntervalSeconds: 15 } }, /^subscribed\.stream_id/],
    ['a rescind of a hostile offer id', { rescind: { offerId: '../o' } }, /^rescind\.offer_id/],
    ['an update without a status', { update: {} }, /^update\.status: is required/],
    ['an update of an unknown state', { update: { status: { ...statusToProto({ taskId: 't', frameworkId: 'fw-1', agentId: 'a', state: 'RUNNING', source: 'AGENT', reason: 'NONE', message: '', timestamp: 0 }), state: 77 as never } } }, /^update\.status\.state: unknown task state 77/],
    ['a failure of a hostile agent id', { failure: { agentId: 'a/b', message: '' } }, /^failure\.agent_id/],
    ['a framework message, which masters do not send', { message: { agentId: 'a', data: Buffer.from('x') } }, /^message: framework messages are not supported/],
    ['a batch inside a batch', { batch: { events: [] } }, /^batch: a batch holds no batch/],
    ['no event at all', {}, /^event: the message holds no event/],
  ];
  for (const [what, e, field] of cases) {
    const err = thrown(() => schedulerEventFromProto(eventOverTheWire(e)));
    t.type(err, InvalidArgumentError, what);
    t.match(err?.message, field, what);
  }
  const good = offerToProto({ id: 'offer-1', frameworkId: 'fw-1', agentId: 'agent-1', hostname: 'h', role: '*', resources: parseResources('cpus:1'), attributes: [] });
  const bad = { ...good, id: 'offer-2', resources: [{ name: 'cpus', type: 'SCALAR' as const, scalar: -1, role: '*' }] };
  const { event, warnings } = schedulerEventFromProto(eventOverTheWire({ offers: { offers: [bad, good] } }));
  t.match(event, { type: 'offers', offers: [{ id: 'offer-1' }] }, 'the good offer arrives');
  t.match(warnings, [/^offers\[0\]: left out: .*cpus must be a number from 0/], 'the bad one is a warning');
});

t.test('unbatch opens a batch in order and leaves a lone message as it is', async (t) => {
  const lone = overTheWire({ epoch: '1', shutdownFramework: { frameworkId: 'a' } });
  t.strictSame(unbatchMasterMessage(lone), [lone]);
  const batch = overTheWire({ epoch: '1', batch: { messages: [{ epoch: '1', shutdownFramework: { frameworkId: 'a' } }, { epoch: '2', ack: { frameworkId: 'a', taskId: 't', uuid: 'u' } }] } });
  t.strictSame(unbatchMasterMessage(batch).map((m) => agentCommandFromProto(m).command.type), ['shutdownFramework', 'ack']);
  const events = eventOverTheWire({ batch: { events: [{ heartbeat: {} }, { rescind: { offerId: 'o' } }] } });
  t.strictSame(unbatchEvent(events).map((e) => schedulerEventFromProto(e).event.type), ['heartbeat', 'rescind']);
});
