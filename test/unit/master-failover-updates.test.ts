/**
 * Across a master restart or failover, nothing a user sees changes, and nothing waits on a timer:
 * a task that ended while no master led (its terminal update not acknowledged yet) is known to the
 * new master among its framework's ended tasks, with its facts and nothing counted as used; and an
 * agent's update relayed while its framework was away reaches the framework as soon as it
 * re-subscribes, with the same uuid, until it is acknowledged.
 */
import t from 'tap';
import type { TaskStatus } from '../../src/common/tasks.js';
import { PendingAgentUpdates } from '../../src/master/agent-updates.js';
import type { ReportedTask, RestoredState } from '../../src/master/core.js';
import type { AgentCommand } from '../../src/master/ports.js';
import { agentInfo, agentStatus, frameworkInfo } from '../helpers/builders.js';
import { FakeAgentChannel, FakeFrameworkChannel, fmt, launch, settle, setup, START, task, withOffer } from '../helpers/core-harness.js';

const AGENT_ID = 'agent-old';
const FW_ID = 'fw-old';
/** The old master accepted the launches five minutes before this one started. */
const ACCEPTED_AT = START - 5 * 60_000;

/** A status the agent made for `taskId`, `seconds` after the launch was accepted. */
function agentMade(taskId: string, state: TaskStatus['state'], seconds: number, extra: Partial<TaskStatus> = {}): TaskStatus {
  return {
    taskId, frameworkId: FW_ID, agentId: AGENT_ID, state, source: 'AGENT', reason: 'NONE',
    message: `${state.toLowerCase()} at ${seconds} s`, timestamp: ACCEPTED_AT + seconds * 1000,
    uuid: `${taskId}-${state}-${seconds}`, containerId: `c-${taskId}`, ...extra,
  };
}

/** A report of a task whose statuses were `states`, one a second; the last is its latest. */
function reportOf(taskId: string, states: TaskStatus['state'][], resources = 'cpus:1;mem:128'): ReportedTask {
  const history = states.map((state, i) => agentMade(taskId, state, i, state === 'FAILED' ? { reason: 'COMMAND_EXITED', exitCode: 3, message: 'exited with code 3' } : {}));
  return { spec: { ...task(taskId, AGENT_ID, resources), name: `${taskId}-name`, allocationRole: '*' }, frameworkId: FW_ID, latest: history.at(-1)!, acceptedAt: ACCEPTED_AT, startedAt: ACCEPTED_AT + 5, history };
}

/** A master that has just restarted: the registry knows the agent and the framework; neither is back yet. */
async function restarted(t: Parameters<typeof setup>[0], agentResources = 'cpus:4;mem:4096') {
  const s = setup(t, { agentReregisterTimeoutMs: 10_000 });
  const info = frameworkInfo({ id: FW_ID, failoverTimeoutMs: 60_000 });
  const state: RestoredState = {
    weights: new Map(),
    quotas: new Map(),
    agents: [{ id: AGENT_ID, hostname: 'host-a', status: 'admitted', draining: false }],
    frameworks: [{ info, failoverDeadline: START + 60_000, removed: false }],
  };
  await s.core.restore(state);
  const agentChannel = new FakeAgentChannel();
  const reregister = (tasks: ReportedTask[]) => s.core.reregisterAgent(agentChannel, agentInfo(agentResources, { id: AGENT_ID }), tasks, [info]);
  /** The framework comes back on a new stream; its events so far. */
  const subscribe = async () => {
    const channel = new FakeFrameworkChannel();
    const { streamId } = await s.core.subscribe(info, channel);
    return { channel, framework: () => s.core.requireFramework(FW_ID, streamId) };
  };
  const ended = () => s.view.endedOf(FW_ID);
  const acks = () => agentChannel.sent.filter((c): c is Extract<AgentCommand, { type: 'ack' }> => c.type === 'ack').map((c) => c.uuid);
  return { ...s, agentChannel, reregister, subscribe, ended, acks };
}

const updates = (channel: FakeFrameworkChannel) => channel.updates().map((s) => [s.taskId, s.state, s.source, s.uuid]);

t.test('a task that ended while no master led is among its framework’s ended tasks once its agent re-registers, with its facts', async (t) => {
  const m = await restarted(t);
  const done = reportOf('done', ['STARTING', 'RUNNING', 'FINISHED']);
  const failed = reportOf('failed', ['STARTING', 'RUNNING', 'FAILED']);
  await m.reregister([done, reportOf('live', ['STARTING', 'RUNNING']), failed]);

  t.strictSame(m.ended().map((r) => [r.spec.taskId, r.state]), [['done', 'FINISHED'], ['failed', 'FAILED']], 'both ended tasks, in the order reported');
  const record = m.ended()[0]!;
  t.equal(record.createdAt, ACCEPTED_AT, 'accepted when the old master accepted it');
  t.strictSame(record.statuses, done.history, 'its whole history, ending with FINISHED');
  t.equal(record.spec.name, 'done-name', 'its name and spec');
  t.equal(record.agentId, AGENT_ID);
  t.equal(record.containerId, 'c-done');
  t.notOk(m.view.task(FW_ID, 'done'), 'not an active task');
  t.equal(m.view.tasksOn(AGENT_ID), 1, 'only the running task is active on the agent');
  t.equal(fmt(m.view.usedOn(AGENT_ID)), 'cpus:1;mem:128', 'only the running task counts as used');
  t.equal(fmt(m.view.usedBy(FW_ID)), 'cpus:1;mem:128');
});

t.test('an agent whose resources hold only its running tasks is taken back: ended tasks count for nothing', async (t) => {
  const m = await restarted(t, 'cpus:1;mem:128');
  await m.reregister([reportOf('live', ['RUNNING']), reportOf('done', ['RUNNING', 'FINISHED']), reportOf('failed', ['FAILED'])]);
  t.equal(m.view.agent(AGENT_ID)?.state, 'active', 'not refused for resources its ended tasks no longer use');
  t.equal(m.ended().length, 2);
  const fw = await m.subscribe();
  m.clock.advance(1000);
  t.strictSame(fw.channel.offers(), [], 'nothing left to offer: the running task uses it all, once');
});

t.test('the terminal update the agent resends reaches the framework as it is, once recorded, and its acknowledgement reaches the agent', async (t) => {
  const m = await restarted(t);
  const fw = await m.subscribe();
  const done = reportOf('done', ['STARTING', 'RUNNING', 'FINISHED']);
  await m.reregister([done]);
  m.core.agentStatusUpdate(AGENT_ID, done.latest);
  t.strictSame(updates(fw.channel), [['done', 'FINISHED', 'AGENT', 'done-FINISHED-2']], 'FINISHED, made by the agent, with its uuid');
  t.equal(m.ended().length, 1, 'the task is ended once, not twice');
  t.strictSame(m.ended()[0]!.statuses.map((s) => s.state), ['STARTING', 'RUNNING', 'FINISHED'], 'its history has FINISHED once');
  m.core.acknowledge(fw.framework(), AGENT_ID, 'done', 'done-FINISHED-2');
  t.strictSame(m.acks(), ['done-FINISHED-2'], 'the acknowledgement goes to the agent, which frees its checkpoint');
});

t.test('an update queued ahead of the end (acknowledged by nobody yet) is relayed first, and the end after it', async (t) => {
  const m = await restarted(t);
  const fw = await m.subscribe();
  const done = reportOf('done', ['STARTING', 'RUNNING', 'FINISHED']);
  await m.reregister([done]);
  m.core.agentStatusUpdate(AGENT_ID, done.history![1]!);
  m.core.acknowledge(fw.framework(), AGENT_ID, 'done', 'done-RUNNING-1');
  m.core.agentStatusUpdate(AGENT_ID, done.latest);
  t.strictSame(fw.channel.updates().map((s) => s.state), ['RUNNING', 'FINISHED']);
  t.strictSame(m.acks(), ['done-RUNNING-1']);
  t.strictSame(m.ended().map((r) => r.state), ['FINISHED'], 'still one ended task');
});

t.test('a reconciliation about a task that ended while no master led answers its end, not LOST', async (t) => {
  const m = await restarted(t);
  const fw = await m.subscribe();
  m.core.reconcile(fw.framework(), [{ taskId: 'failed', agentId: AGENT_ID }]);
  t.strictSame(fw.channel.updates(), [], 'held while the agent may still come back');
  await m.reregister([reportOf('failed', ['STARTING', 'FAILED'])]);
  t.match(fw.channel.updates(), [{ taskId: 'failed', state: 'FAILED', reason: 'RECONCILIATION', exitCode: 3 }]);
  t.equal(fw.channel.updates().length, 1);
});

t.test('an agent that reconnects before acknowledging an end this master heard does not add the task again', async (t) => {
  const c = await withOffer(t);
  await c.core.accept(c.fw.record(), [c.offer.id], launch(task('t1', c.agent.id)));
  const running = agentStatus({ frameworkId: c.fw.id, taskId: 't1', state: 'RUNNING', uuid: 'u-run', containerId: 'c1' });
  const finished = agentStatus({ frameworkId: c.fw.id, taskId: 't1', state: 'FINISHED', uuid: 'u-fin', containerId: 'c1' });
  c.core.agentStatusUpdate(c.agent.id, running);
  c.core.agentStatusUpdate(c.agent.id, finished);
  t.equal(c.fw.ended().length, 1);
  c.core.agentDisconnected(c.agent.id, c.agent.channel);
  const spec = c.fw.ended()[0]!.spec;
  await c.core.reregisterAgent(new FakeAgentChannel(), { ...c.agent.record().info }, [{ spec, frameworkId: c.fw.id, latest: finished, history: [running, finished] }], [c.fw.record().info]);
  t.equal(c.fw.ended().length, 1, 'the same run, ended once');
  t.equal(fmt(c.agent.used()), '', 'and nothing used');
});

t.test('an agent update relayed while the framework was away is sent again, same uuid, right after SUBSCRIBED', async (t) => {
  const m = await restarted(t);
  const live = reportOf('live', ['STARTING', 'RUNNING']);
  const done = reportOf('done', ['STARTING', 'RUNNING', 'FINISHED']);
  await m.reregister([live, done]);
  // The agent resends its unacknowledged updates at once; the framework has not re-subscribed yet.
  m.core.agentStatusUpdate(AGENT_ID, live.latest);
  m.core.agentStatusUpdate(AGENT_ID, done.latest);

  const fw = await m.subscribe();
  t.equal(fw.channel.events[0]?.type, 'subscribed');
  t.strictSame(updates(fw.channel), [
    ['live', 'RUNNING', 'AGENT', 'live-RUNNING-1'],
    ['done', 'FINISHED', 'AGENT', 'done-FINISHED-2'],
  ], 'each task’s pending update, in the order relayed, without waiting for the agent’s retry');

  const again = await m.subscribe();
  t.strictSame(updates(again.channel).map((u) => u[3]), ['live-RUNNING-1', 'done-FINISHED-2'], 'unacknowledged: sent again at the next subscription');

  m.core.acknowledge(again.framework(), AGENT_ID, 'done', 'done-FINISHED-2');
  t.strictSame(m.acks(), ['done-FINISHED-2'], 'the acknowledgement still reaches the agent');
  const third = await m.subscribe();
  t.strictSame(updates(third.channel).map((u) => u[3]), ['live-RUNNING-1'], 'acknowledged: not sent again');
});

t.test('only a task’s latest agent update is kept, and an acknowledgement of an older one keeps it', async (t) => {
  const c = await withOffer(t, undefined, { failoverTimeoutMs: 60_000 });
  await c.core.accept(c.fw.record(), [c.offer.id], launch(task('t1', c.agent.id)));
  c.core.frameworkDisconnected(c.fw.id, c.fw.streamId);
  await settle();
  for (const [state, uuid] of [['STARTING', 'u1'], ['RUNNING', 'u2']] as const) {
    c.core.agentStatusUpdate(c.agent.id, agentStatus({ frameworkId: c.fw.id, taskId: 't1', state, uuid, containerId: 'c1' }));
  }
  const back = new FakeFrameworkChannel();
  const { streamId } = await c.core.subscribe({ ...c.fw.record().info }, back);
  t.strictSame(back.updates().map((s) => s.uuid), ['u2'], 'the latest only: the agent sends the next only after the one before is acknowledged');
  c.core.acknowledge(c.core.requireFramework(c.fw.id, streamId), c.agent.id, 't1', 'u1');
  const again = new FakeFrameworkChannel();
  await c.core.subscribe({ ...c.fw.record().info }, again);
  t.strictSame(again.updates().map((s) => s.uuid), ['u2'], 'a stale acknowledgement does not forget the newer update');
});

t.test('a task’s agent update goes before the newer update the master made about it', async (t) => {
  const s = setup(t, { agentPingTimeoutMs: 1_000, maxAgentPingMisses: 1 });
  const agent = await s.addAgent();
  const fw = await s.addFramework({ failoverTimeoutMs: 60_000 });
  s.clock.advance(0);
  const offer = fw.channel.offers()[0]!;
  await s.core.accept(fw.record(), [offer.id], launch(task('t1', agent.id)));
  s.core.frameworkDisconnected(fw.id, fw.streamId);
  await settle();
  s.core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'RUNNING', uuid: 'u-run', containerId: 'c1' }));
  s.clock.advance(2_500);
  await s.core.checkAgentHealth();
  t.equal(fw.task('t1')?.state, 'UNREACHABLE');
  const back = new FakeFrameworkChannel();
  await s.core.subscribe({ ...fw.record().info }, back);
  t.strictSame(back.updates().map((u) => [u.state, u.source]), [['RUNNING', 'AGENT'], ['UNREACHABLE', 'MASTER']], 'in the order they were made: the task ends up UNREACHABLE at the framework too');
});

t.test('a framework removed forgets the agent updates kept for it', async (t) => {
  const c = await withOffer(t, undefined, { failoverTimeoutMs: 60_000 });
  await c.core.accept(c.fw.record(), [c.offer.id], launch(task('t1', c.agent.id)));
  c.core.agentStatusUpdate(c.agent.id, agentStatus({ frameworkId: c.fw.id, taskId: 't1', state: 'RUNNING', uuid: 'u-run', containerId: 'c1' }));
  t.equal(c.view.pendingAgentUpdates(c.fw.id).length, 1, 'kept until acknowledged');
  await c.core.teardownFramework(c.fw.id);
  t.equal(c.view.pendingAgentUpdates(c.fw.id).length, 0, 'forgotten with the framework');
});

t.test('pending agent updates: one per task, the latest; bounded, the oldest task’s going first', async (t) => {
  const status = (taskId: string, uuid: string): TaskStatus => ({ ...agentStatus({ frameworkId: 'f', taskId, state: 'RUNNING', uuid }) });
  const cases: [behaviour: string, steps: (p: PendingAgentUpdates) => unknown, kept: string[]][] = [
    ['a newer update of a task replaces the older and moves to the end', (p) => [p.note(status('a', 'a1')), p.note(status('b', 'b1')), p.note(status('a', 'a2'))], ['b1', 'a2']],
    ['an update without a uuid is not kept', (p) => p.note({ ...status('a', 'x'), uuid: undefined } as TaskStatus), []],
    ['an acknowledgement of the kept uuid forgets it', (p) => [p.note(status('a', 'a1')), p.acknowledge('a', 'a1')], []],
    ['an acknowledgement of another uuid or task is a no-op', (p) => [p.note(status('a', 'a1')), p.acknowledge('a', 'a0'), p.acknowledge('b', 'a1')], ['a1']],
    ['past the bound, the task relayed longest ago goes', (p) => ['a', 'b', 'c'].map((id) => p.note(status(id, `${id}1`))), ['b1', 'c1']],
  ];
  for (const [behaviour, steps, kept] of cases) {
    const pending = new PendingAgentUpdates(2);
    steps(pending);
    t.strictSame(pending.all().map((s) => s.uuid), kept, behaviour);
  }
  const bounded = new PendingAgentUpdates(1);
  bounded.note(status('a', 'a1'));
  t.equal(bounded.note(status('b', 'b1'))?.uuid, 'a1', 'the evicted update is returned');
});
