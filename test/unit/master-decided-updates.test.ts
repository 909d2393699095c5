/**
 * Every state the master decides on its own reaches the framework, and again after a
 * re-subscription until it is acknowledged (issue: "every task's end reaches its framework").
 */
import t from 'tap';
import { FailedPreconditionError } from '../../src/common/errors.js';
import type { TaskStatus } from '../../src/common/tasks.js';
import { DEFAULT_FRAMEWORK_RESUBSCRIBE_TIMEOUT_MS } from '../../src/master/core.js';
import { agentInfo, agentStatus, frameworkInfo } from '../helpers/builders.js';
import { FakeAgentChannel, FakeFrameworkChannel, fmt, launch, setup, task, withOffer } from '../helpers/core-harness.js';

type Cluster = ReturnType<typeof withOffer>;

/** Launches `taskId` from the cluster's offer; optionally moves it to RUNNING as its agent would. */
function launched(c: Cluster, taskId: string, running: boolean): void {
  c.core.accept(c.fw.record, [c.offer.id], launch(task(taskId, c.agent.id)));
  if (running) c.core.agentStatusUpdate(c.agent.id, agentStatus({ frameworkId: c.fw.id, taskId, state: 'RUNNING', uuid: `${taskId}-running` }));
  c.fw.channel.fresh();
}

/** The agent comes back on a new stream, reporting `tasks` (none: its checkpoint has nothing). */
function reregister(c: Cluster, tasks: { taskId: string; state: TaskStatus['state'] }[] = []): FakeAgentChannel {
  const channel = new FakeAgentChannel();
  c.core.reregisterAgent(
    channel,
    { ...c.agent.record.info },
    tasks.map(({ taskId, state }) => ({ spec: c.agent.record.tasks.get(`${c.fw.id}/${taskId}`)!.spec, frameworkId: c.fw.id, latest: agentStatus({ frameworkId: c.fw.id, taskId, state }) })),
    [c.fw.record.info],
  );
  return channel;
}

const seen = (channel: FakeFrameworkChannel) => channel.updates().map((s) => [s.taskId, s.state, s.reason]);

t.test('an agent that re-registers without a task the master had', async (t) => {
  const cases: [string, boolean, string, string][] = [
    ['a launch that never reached it is DROPPED', false, 'DROPPED', 'never reached it'],
    ['a task it ran but lost from its checkpoint is LOST', true, 'LOST', 'lost the task'],
  ];
  for (const [behaviour, running, state, message] of cases) {
    const c = withOffer(t);
    launched(c, 't1', running);
    reregister(c);
    const [status] = c.fw.channel.updates();
    t.strictSame([status?.state, status?.reason, status?.source], [state, 'AGENT_RESTARTED', 'MASTER'], `${behaviour}: the framework is told`);
    t.match(status?.message, message, behaviour);
    t.ok(status?.uuid, `${behaviour}: with a uuid to acknowledge`);
    t.equal(c.fw.record.tasks.size, 0, `${behaviour}: the task has ended at the master`);
    t.equal(fmt(c.agent.record.used), '', `${behaviour}: its resources are free again`);
  }
});

t.test('a master-made update is sent again at every re-subscription until the framework acknowledges it', async (t) => {
  const c = withOffer(t, undefined, { failoverTimeoutMs: 60_000 });
  launched(c, 't1', false);
  c.core.frameworkDisconnected(c.fw.id, c.fw.streamId);
  reregister(c);
  t.strictSame(seen(c.fw.channel), [], 'nothing to send to while the framework is away');

  const again = new FakeFrameworkChannel();
  c.core.subscribe({ ...c.fw.record.info }, again);
  t.strictSame(seen(again), [['t1', 'DROPPED', 'AGENT_RESTARTED']], 'sent right after SUBSCRIBED');
  const uuid = again.updates()[0]!.uuid!;

  const third = new FakeFrameworkChannel();
  const { streamId } = c.core.subscribe({ ...c.fw.record.info }, third);
  t.strictSame(seen(third), [['t1', 'DROPPED', 'AGENT_RESTARTED']], 'and again, unacknowledged, with the same uuid');
  t.equal(third.updates()[0]!.uuid, uuid);

  const agentChannel = c.agent.record.channel as FakeAgentChannel;
  const before = agentChannel.sent.length;
  c.core.acknowledge(c.core.requireFramework(c.fw.id, streamId), c.agent.id, 't1', uuid);
  t.equal(agentChannel.sent.length, before, 'the acknowledgement of a master-made update is not relayed to the agent');
  const fourth = new FakeFrameworkChannel();
  c.core.subscribe({ ...c.fw.record.info }, fourth);
  t.strictSame(seen(fourth), [], 'acknowledged: not sent again');
});

t.test("a master-made UNREACHABLE is not sent again once the agent's own update has moved the task on", async (t) => {
  const c = withOffer(t, undefined, { failoverTimeoutMs: 60_000 });
  launched(c, 't1', true);
  c.clock.advance(15_000 * 6);
  t.strictSame(seen(c.fw.channel), [['t1', 'UNREACHABLE', 'AGENT_UNREACHABLE']]);
  c.fw.channel.fresh();
  reregister(c, [{ taskId: 't1', state: 'RUNNING' }]);
  t.strictSame(seen(c.fw.channel), [['t1', 'RUNNING', 'RECONCILIATION']], 'back from the partition');
  c.core.agentStatusUpdate(c.agent.id, agentStatus({ frameworkId: c.fw.id, taskId: 't1', state: 'FINISHED', uuid: 'agent-finished' }));
  const again = new FakeFrameworkChannel();
  c.core.subscribe({ ...c.fw.record.info }, again);
  t.strictSame(seen(again), [], 'neither the UNREACHABLE nor the RUNNING would move the task backwards: both are dropped');
});

t.test('an agent whose resources shrank below what its tasks use is refused, and nothing changes', async (t) => {
  const c = withOffer(t, 'cpus:4;mem:4096');
  c.core.accept(c.fw.record, [c.offer.id], launch(task('t1', c.agent.id, 'cpus:3;mem:1536')));
  c.core.agentStatusUpdate(c.agent.id, agentStatus({ frameworkId: c.fw.id, taskId: 't1', state: 'RUNNING', uuid: 'r1' }));
  c.fw.channel.fresh();
  const spec = c.agent.record.tasks.get(`${c.fw.id}/t1`)!.spec;
  const channel = new FakeAgentChannel();
  t.throws(
    () => c.core.reregisterAgent(channel, agentInfo('cpus:2;mem:1024', { id: c.agent.id }), [{ spec, frameworkId: c.fw.id, latest: agentStatus({ frameworkId: c.fw.id, taskId: 't1', state: 'RUNNING' }) }], [c.fw.record.info]),
    FailedPreconditionError,
  );
  t.equal(fmt(c.agent.record.info.resources), 'cpus:4;mem:4096', 'the agent keeps its resources');
  t.equal(fmt(c.agent.record.used), 'cpus:3;mem:1536');
  t.equal(c.agent.record.tasks.get(`${c.fw.id}/t1`)?.state, 'RUNNING', 'its task is untouched');
  t.equal(c.agent.record.channel, c.agent.channel, 'and its stream too');
  t.strictSame(channel.sent, [], 'the refused stream was sent nothing by the core');
  t.strictSame(seen(c.fw.channel), []);
});

t.test('a framework torn down while subscribed hears that its tasks were killed before its stream ends', async (t) => {
  const c = withOffer(t);
  launched(c, 't1', true);
  c.core.teardown(c.fw.record);
  const events = c.fw.channel.fresh();
  t.strictSame(events.map((e) => e.type), ['update', 'error']);
  const first = events[0];
  t.strictSame(first?.type === 'update' ? [first.status.state, first.status.reason] : [], ['KILLED', 'FRAMEWORK_REMOVED']);
  t.ok(c.fw.channel.closed);
});

t.test('after a master restart a framework that was subscribed has at least the resubscribe time, even with failover 0', async (t) => {
  const { core, clock } = setup(t);
  const info = frameworkInfo({ id: 'fw-oneshot', failoverTimeoutMs: 0 });
  core.restoreFramework(info, undefined, false);
  clock.advance(DEFAULT_FRAMEWORK_RESUBSCRIBE_TIMEOUT_MS - 1);
  t.ok(core.frameworks.has('fw-oneshot'), 'still there just before the deadline');
  const channel = new FakeFrameworkChannel();
  core.subscribe(info, channel);
  t.equal(channel.events[0]?.type, 'subscribed', 'and it re-subscribes');
  t.equal(core.frameworks.get('fw-oneshot')?.connected, true);

  const late = frameworkInfo({ id: 'fw-late', failoverTimeoutMs: 0 });
  core.restoreFramework(late, undefined, false);
  clock.advance(DEFAULT_FRAMEWORK_RESUBSCRIBE_TIMEOUT_MS);
  t.notOk(core.frameworks.has('fw-late'), 'one that does not come back is removed at the deadline');
});

t.test('an offer nobody answers is rescinded after the default offer timeout and filtered from that framework', async (t) => {
  const { core, clock, addAgent, addFramework } = setup(t);
  addAgent('cpus:1;mem:512');
  const silent = addFramework({ name: 'silent' });
  clock.advance(0);
  const [offer] = silent.channel.offers();
  t.ok(offer);
  silent.channel.fresh();
  clock.advance(29_999);
  t.ok(core.offers.get(offer!.id), 'outstanding for 30 s');
  const other = addFramework({ name: 'other' });
  clock.advance(1);
  t.strictSame(silent.channel.fresh().map((e) => e.type), ['rescind'], 'then rescinded');
  clock.advance(1000);
  t.equal(other.channel.offers().length, 1, 'and the other framework gets the agent at the next allocation');
});

t.test('a framework arriving during a flood of subscribers that never answer gets an offer within one offer timeout and one allocation interval', async (t) => {
  const { core, clock, addAgent, addFramework } = setup(t);
  const AGENTS = 100;
  const HOARDERS = 2000;
  const agents = Array.from({ length: AGENTS }, () => addAgent('cpus:4;mem:4096').id);
  for (let i = 0; i < HOARDERS; i++) addFramework({ name: `hoarder-${i}` });
  /** Moves time on in heartbeat-sized steps, the agents heartbeating as real ones do. */
  const run = (ms: number) => {
    for (let left = ms; left > 0; left -= 5000) {
      clock.advance(Math.min(5000, left));
      for (const id of agents) core.agentHeartbeat(id);
    }
  };
  // The flood: every round, the free agents go to hoarders, and their offers lapse after 30 s.
  clock.advance(0);
  run((HOARDERS / AGENTS + 1) * 31_000);
  t.equal(core.offers.size, AGENTS, 'every agent is held in an unanswered offer');
  const polite = addFramework({ name: 'polite' });
  run(30_000 + 1000);
  t.ok(polite.channel.offers().length > 0, 'the newcomer was offered');
});
