/**
 * Every state the master decides on its own reaches the framework, and again after a
 * re-subscription until it is acknowledged (issue: "every task's end reaches its framework").
 */
import t from 'tap';
import { FailedPreconditionError } from '../../src/common/errors.js';
import type { TaskStatus } from '../../src/common/tasks.js';
import { DEFAULT_FRAMEWORK_RESUBSCRIBE_TIMEOUT_MS, type RestoredState } from '../../src/master/core.js';
import { agentInfo, agentStatus, frameworkInfo } from '../helpers/builders.js';
import { FakeAgentChannel, FakeFrameworkChannel, fmt, launch, settle, setup, task, withOffer } from '../helpers/core-harness.js';

type Cluster = Awaited<ReturnType<typeof withOffer>>;

/** Launches `taskId` from the cluster's offer; optionally moves it to RUNNING as its agent would. */
async function launched(c: Cluster, taskId: string, running: boolean): Promise<void> {
  await c.core.accept(c.fw.record(), [c.offer.id], launch(task(taskId, c.agent.id)));
  if (running) c.core.agentStatusUpdate(c.agent.id, agentStatus({ frameworkId: c.fw.id, taskId, state: 'RUNNING', uuid: `${taskId}-running` }));
  c.fw.channel.fresh();
}

/** The agent comes back on a new stream, reporting `tasks` (none: its checkpoint has nothing). */
async function reregister(c: Cluster, tasks: { taskId: string; state: TaskStatus['state'] }[] = []): Promise<FakeAgentChannel> {
  const channel = new FakeAgentChannel();
  await c.core.reregisterAgent(
    channel,
    { ...c.agent.record().info },
    tasks.map(({ taskId, state }) => ({ spec: c.fw.task(taskId)!.spec, frameworkId: c.fw.id, latest: agentStatus({ frameworkId: c.fw.id, taskId, state }) })),
    [c.fw.record().info],
  );
  return channel;
}

/** A registry with nothing in it. */
const NOTHING: RestoredState = { weights: new Map(), quotas: new Map(), agents: [], frameworks: [] };

const seen = (channel: FakeFrameworkChannel) => channel.updates().map((s) => [s.taskId, s.state, s.reason]);

t.test('an agent that re-registers without a task the master had', async (t) => {
  const cases: [string, boolean, string, string][] = [
    ['a launch that never reached it is DROPPED', false, 'DROPPED', 'never reached it'],
    ['a task it ran but lost from its checkpoint is LOST', true, 'LOST', 'lost the task'],
  ];
  for (const [behaviour, running, state, message] of cases) {
    const c = await withOffer(t);
    await launched(c, 't1', running);
    await reregister(c);
    const [status] = c.fw.channel.updates();
    t.strictSame([status?.state, status?.reason, status?.source], [state, 'AGENT_RESTARTED', 'MASTER'], `${behaviour}: the framework is told`);
    t.match(status?.message, message, behaviour);
    t.ok(status?.uuid, `${behaviour}: with a uuid to acknowledge`);
    t.equal(c.fw.taskCount(), 0, `${behaviour}: the task has ended at the master`);
    t.equal(fmt(c.agent.used()), '', `${behaviour}: its resources are free again`);
  }
});

t.test('a master-made update is sent again at every re-subscription until the framework acknowledges it', async (t) => {
  const c = await withOffer(t, undefined, { failoverTimeoutMs: 60_000 });
  await launched(c, 't1', false);
  c.core.frameworkDisconnected(c.fw.id, c.fw.streamId);
  await settle();
  await reregister(c);
  t.strictSame(seen(c.fw.channel), [], 'nothing to send to while the framework is away');

  const again = new FakeFrameworkChannel();
  await c.core.subscribe({ ...c.fw.record().info }, again);
  t.strictSame(seen(again), [['t1', 'DROPPED', 'AGENT_RESTARTED']], 'sent right after SUBSCRIBED');
  const uuid = again.updates()[0]!.uuid!;

  const third = new FakeFrameworkChannel();
  const { streamId } = await c.core.subscribe({ ...c.fw.record().info }, third);
  t.strictSame(seen(third), [['t1', 'DROPPED', 'AGENT_RESTARTED']], 'and again, unacknowledged, with the same uuid');
  t.equal(third.updates()[0]!.uuid, uuid);

  const agentChannel = c.agent.channel;
  const before = agentChannel.sent.length;
  c.core.acknowledge(c.core.requireFramework(c.fw.id, streamId), c.agent.id, 't1', uuid);
  t.equal(agentChannel.sent.length, before, 'the acknowledgement of a master-made update is not relayed to the agent');
  const fourth = new FakeFrameworkChannel();
  await c.core.subscribe({ ...c.fw.record().info }, fourth);
  t.strictSame(seen(fourth), [], 'acknowledged: not sent again');
});

t.test("a master-made UNREACHABLE is not sent again once the agent's own update has moved the task on", async (t) => {
  const c = await withOffer(t, undefined, { failoverTimeoutMs: 60_000 });
  await launched(c, 't1', true);
  c.clock.advance(15_000 * 6);
  await settle();
  t.strictSame(seen(c.fw.channel), [['t1', 'UNREACHABLE', 'AGENT_UNREACHABLE']]);
  c.fw.channel.fresh();
  await reregister(c, [{ taskId: 't1', state: 'RUNNING' }]);
  t.strictSame(seen(c.fw.channel), [['t1', 'RUNNING', 'RECONCILIATION']], 'back from the partition');
  c.core.agentStatusUpdate(c.agent.id, agentStatus({ frameworkId: c.fw.id, taskId: 't1', state: 'FINISHED', uuid: 'agent-finished' }));
  const again = new FakeFrameworkChannel();
  await c.core.subscribe({ ...c.fw.record().info }, again);
  t.strictSame(again.updates().filter((s) => s.source === 'MASTER'), [], 'neither the UNREACHABLE nor the RUNNING would move the task backwards: both are dropped');
  t.strictSame(again.updates().map((s) => [s.state, s.source, s.uuid]), [['FINISHED', 'AGENT', 'agent-finished']], 'only the agent’s FINISHED, not acknowledged yet, is sent again');
});

t.test('an agent whose resources shrank below what its tasks use is refused, and nothing changes', async (t) => {
  const c = await withOffer(t, 'cpus:4;mem:4096');
  await c.core.accept(c.fw.record(), [c.offer.id], launch(task('t1', c.agent.id, 'cpus:3;mem:1536')));
  c.core.agentStatusUpdate(c.agent.id, agentStatus({ frameworkId: c.fw.id, taskId: 't1', state: 'RUNNING', uuid: 'r1' }));
  c.fw.channel.fresh();
  const spec = c.fw.task('t1')!.spec;
  const channel = new FakeAgentChannel();
  await t.rejects(
    c.core.reregisterAgent(channel, agentInfo('cpus:2;mem:1024', { id: c.agent.id }), [{ spec, frameworkId: c.fw.id, latest: agentStatus({ frameworkId: c.fw.id, taskId: 't1', state: 'RUNNING' }) }], [c.fw.record().info]),
    FailedPreconditionError,
  );
  t.equal(fmt(c.agent.record().info.resources), 'cpus:4;mem:4096', 'the agent keeps its resources');
  t.equal(fmt(c.agent.used()), 'cpus:3;mem:1536');
  t.equal(c.fw.task('t1')?.state, 'RUNNING', 'its task is untouched');
  t.equal(c.agent.record().state, 'active', 'and it stays active on its stream');
  t.notOk(c.agent.channel.closed);
  t.strictSame(channel.sent, [], 'the refused stream was sent nothing by the core');
  t.strictSame(seen(c.fw.channel), []);
});

t.test('a framework torn down while subscribed hears that its tasks were killed before its stream ends', async (t) => {
  const c = await withOffer(t);
  await launched(c, 't1', true);
  await c.core.teardown(c.fw.record());
  const events = c.fw.channel.fresh();
  t.strictSame(events.map((e) => e.type), ['update', 'error']);
  const first = events[0];
  t.strictSame(first?.type === 'update' ? [first.status.state, first.status.reason] : [], ['KILLED', 'FRAMEWORK_REMOVED']);
  t.ok(c.fw.channel.closed);
});

t.test('after a master restart a framework that was subscribed has at least the resubscribe time, even with failover 0', async (t) => {
  const { core, clock } = setup(t);
  const info = frameworkInfo({ id: 'fw-oneshot', failoverTimeoutMs: 0 });
  const late = frameworkInfo({ id: 'fw-late', failoverTimeoutMs: 0 });
  await core.restore({ ...NOTHING, frameworks: [{ info, removed: false }, { info: late, removed: false }] });
  clock.advance(DEFAULT_FRAMEWORK_RESUBSCRIBE_TIMEOUT_MS - 1);
  await settle();
  t.ok(core.view.framework('fw-oneshot'), 'still there just before the deadline');
  const channel = new FakeFrameworkChannel();
  await core.subscribe(info, channel);
  t.equal(channel.events[0]?.type, 'subscribed', 'and it re-subscribes');
  t.equal(core.view.framework('fw-oneshot')?.state, 'subscribed');
  clock.advance(1);
  await settle();
  t.notOk(core.view.framework('fw-late'), 'one that does not come back is removed at the deadline');
});

t.test('an offer nobody answers is rescinded after the default offer timeout and filtered from that framework', async (t) => {
  const { core, clock, addAgent, addFramework } = setup(t);
  await addAgent('cpus:1;mem:512');
  const silent = await addFramework({ name: 'silent' });
  clock.advance(0);
  const [offer] = silent.channel.offers();
  t.ok(offer);
  silent.channel.fresh();
  clock.advance(29_999);
  t.ok(core.view.offer(offer!.id), 'outstanding for 30 s');
  const other = await addFramework({ name: 'other' });
  clock.advance(1);
  t.strictSame(silent.channel.fresh().map((e) => e.type), ['rescind'], 'then rescinded');
  clock.advance(1000);
  t.equal(other.channel.offers().length, 1, 'and the other framework gets the agent at the next allocation');
});

t.test('a framework arriving during a flood of subscribers that never answer gets an offer within one offer timeout and one allocation interval', async (t) => {
  const { core, clock, addAgent, addFramework } = setup(t);
  const AGENTS = 100;
  const HOARDERS = 2000;
  const agents: string[] = [];
  for (let i = 0; i < AGENTS; i++) agents.push((await addAgent('cpus:4;mem:4096')).id);
  for (let i = 0; i < HOARDERS; i++) await addFramework({ name: `hoarder-${i}` });
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
  t.equal(core.view.offerCount(), AGENTS, 'every agent is held in an unanswered offer');
  const polite = await addFramework({ name: 'polite' });
  run(30_000 + 1000);
  t.ok(polite.channel.offers().length > 0, 'the newcomer was offered');
});
