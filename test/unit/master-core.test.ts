import fc from 'fast-check';
import t from 'tap';
import { ManualClock } from '../../src/common/clock.js';
import { FailedPreconditionError, NotFoundError } from '../../src/common/errors.js';
import { add, contains, pickRanges, subtract, takePorts, type Resources } from '../../src/common/resources.js';
import type { TaskState, TaskStatus } from '../../src/common/tasks.js';
import { MasterCore } from '../../src/master/core.js';
import type { SchedulerEvent } from '../../src/master/ports.js';
import type { FrameworkRecord } from '../../src/master/records.js';
import { agentInfo, agentStatus, frameworkInfo, makeTask, res } from '../helpers/builders.js';
import { FakeAgentChannel, FakeFrameworkChannel, fmt, launch, settle, setup, START, task, withOffer } from '../helpers/core-harness.js';

t.test('a registered agent is told its id, and offered to a subscribed framework at the next allocation', async (t) => {
  const { clock, core, addAgent, addFramework } = setup(t);
  const fw = await addFramework();
  t.strictSame(fw.channel.fresh(), [
    { type: 'subscribed', frameworkId: fw.id, streamId: fw.streamId, heartbeatIntervalMs: 15_000, masterId: 'm' },
  ]);
  t.match(fw.id, /^fw-/);
  const agent = await addAgent('cpus:4;mem:4096;ports:[31000-31009]');
  t.strictSame(agent.channel.sent, [{ type: 'registered', agentId: agent.id, heartbeatIntervalMs: 15_000 }]);
  t.strictSame(fw.channel.fresh(), [], 'no offer before the allocation runs');

  clock.advance(0);
  const offers = fw.channel.offers();
  t.strictSame(fw.channel.fresh(), [{ type: 'offers', offers }], 'one offers event');
  t.equal(offers.length, 1);
  const offer = offers[0]!;
  t.strictSame({ ...offer, id: 'X' }, {
    id: 'X', frameworkId: fw.id, agentId: agent.id, hostname: 'host-1', role: '*', resources: res('cpus:4;mem:4096;ports:[31000-31009]'), attributes: [],
  });
  t.equal(fmt(agent.offered()), 'cpus:4;mem:4096;ports:[31000-31009]', 'the agent is fully offered');
  t.equal(core.view.offerCount(), 1);
  t.strictSame([...fw.offerIds()], [offer.id]);

  clock.advance(5000);
  t.strictSame(fw.channel.fresh(), [], 'offered resources are not offered again while outstanding');
});

t.test('an agent registered before any framework is offered once one subscribes', async (t) => {
  const { clock, addAgent, addFramework } = setup(t);
  const agent = await addAgent('cpus:1;mem:512');
  clock.advance(1000);
  t.strictSame(agent.offered(), [], 'nobody to offer to');
  const fw = await addFramework();
  clock.advance(0);
  t.strictSame(fw.channel.offers().map((o) => fmt(o.resources)), ['cpus:1;mem:512']);
});

t.test('accepting an offer launches the task on its agent', async (t) => {
  const { core, agent, fw, offer } = await withOffer(t);
  const spec = makeTask('web-1').on('').resources('cpus:1;mem:256;ports:[31000-31000]').obj();
  await core.accept(fw.record(), [offer.id], launch(spec));

  const staged = { ...spec, agentId: agent.id, allocationRole: '*' };
  t.strictSame(agent.channel.sent.slice(1), [{ type: 'runTask', framework: fw.record().info, task: staged, acceptedAt: fw.task('web-1')!.createdAt }], 'runTask, with the agent filled in and the time the master accepted it');
  t.equal(fmt(agent.used()), 'cpus:1;mem:256;ports:[31000-31000]', "the agent's used grows by the task");
  t.equal(fmt(fw.used()), 'cpus:1;mem:256;ports:[31000-31000]', "and so does the framework's");
  t.strictSame(agent.offered(), [], 'nothing is offered any more');
  t.equal(core.view.offer(offer.id), undefined, 'the offer is gone');
  t.equal(core.view.offerCount(), 0);
  t.strictSame([...fw.offerIds()], []);
  const record = fw.task('web-1');
  t.equal(record?.state, 'STAGING');
  t.equal(record?.agentId, agent.id);
  t.equal(agent.taskCount(), 1);
  t.strictSame(fw.channel.fresh(), [], 'no status goes to the framework for a good launch');
});

t.test('what an accept leaves unused is filtered for refuse_seconds (default 5 s), then offered', async (t) => {
  const { core, clock, fw, offer } = await withOffer(t);
  await core.accept(fw.record(), [offer.id], launch(task('t1', offer.agentId)));
  clock.advance(4999);
  t.strictSame(fw.channel.offers(), [], 'not re-offered before 5 s');
  clock.advance(1);
  t.strictSame(fw.channel.offers().map((o) => fmt(o.resources)), ['cpus:3;mem:3968;ports:[31000-31009]'], 'the rest, at 5 s');
});

t.test('several tasks in one accept share the offer; the one that does not fit errors', async (t) => {
  const { core, agent, fw, offer } = await withOffer(t, 'cpus:2;mem:1024');
  await core.accept(fw.record(), [offer.id], launch(task('a', agent.id, 'cpus:1;mem:512'), task('b', agent.id, 'cpus:1;mem:1024'), task('c', agent.id, 'cpus:1;mem:512')));
  t.strictSame(agent.channel.sent.filter((c) => c.type === 'runTask').map((c) => (c.type === 'runTask' ? c.task.taskId : '')), ['a', 'c']);
  t.strictSame(fw.channel.updates().map((s) => [s.taskId, s.state, s.reason, s.message]), [
    ['b', 'ERROR', 'TASK_INVALID', "task 'b' does not fit the offer: mem: requested 1024, available 512"],
  ]);
  t.equal(fmt(agent.used()), 'cpus:2;mem:1024');
});

t.test('a task id used twice in one accept is refused the second time', async (t) => {
  const { core, agent, fw, offer } = await withOffer(t);
  await core.accept(fw.record(), [offer.id], launch(task('same', agent.id), task('same', agent.id)));
  t.equal(agent.channel.sent.filter((c) => c.type === 'runTask').length, 1);
  t.strictSame(fw.channel.updates().map((s) => [s.state, s.reason]), [['ERROR', 'TASK_INVALID']]);
});

t.test('status updates are relayed; a terminal one releases the resources and completes the task', async (t) => {
  const { core, clock, agent, fw, offer } = await withOffer(t);
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id, 'cpus:2;mem:1024')), 0);

  const running = agentStatus({ frameworkId: fw.id, taskId: 't1', agentId: '', state: 'RUNNING', uuid: 'u1', timestamp: START });
  core.agentStatusUpdate(agent.id, running);
  t.strictSame(fw.channel.fresh(), [{ type: 'update', status: { ...running, agentId: agent.id } }], 'relayed with the agent id set');
  t.equal(fw.task('t1')?.state, 'RUNNING');
  t.equal(fmt(agent.used()), 'cpus:2;mem:1024', 'a running task keeps its resources');

  const finished = agentStatus({ frameworkId: fw.id, taskId: 't1', agentId: agent.id, state: 'FINISHED', uuid: 'u2', timestamp: START });
  core.agentStatusUpdate(agent.id, finished);
  t.strictSame(fw.channel.fresh(), [{ type: 'update', status: finished }]);
  t.strictSame(agent.used(), [], "the agent's resources are released");
  t.strictSame(fw.used(), [], "and the framework's");
  t.equal(fw.taskCount(), 0, 'the task is no longer active');
  t.equal(agent.taskCount(), 0);
  t.strictSame(fw.ended().map((r) => [r.spec.taskId, r.state, r.statuses.map((s) => s.uuid)]), [['t1', 'FINISHED', ['u1', 'u2']]]);

  clock.advance(1000);
  t.strictSame(fw.channel.offers().map((o) => fmt(o.resources)), ['cpus:4;mem:4096;ports:[31000-31009]'], 'the whole agent is offered again');
});

t.test('a resent update is relayed again but kept once in the history', async (t) => {
  const { core, agent, fw, offer } = await withOffer(t);
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id)));
  const starting = agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'STARTING', uuid: 'u1' });
  core.agentStatusUpdate(agent.id, starting);
  core.agentStatusUpdate(agent.id, starting);
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'RUNNING', uuid: 'u2' }));
  t.strictSame(fw.task('t1')?.statuses.map((s) => [s.state, s.uuid]), [['STARTING', 'u1'], ['RUNNING', 'u2']]);
  t.strictSame(fw.channel.updates().map((s) => s.uuid), ['u1', 'u1', 'u2'], 'the framework sees the resend, to acknowledge it');
});

t.test('an update that the state machine refuses is relayed but does not move the task', async (t) => {
  const { core, agent, fw, offer } = await withOffer(t);
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id)));
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'RUNNING', uuid: 'u1' }));
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'STARTING', uuid: 'u2' }));
  t.equal(fw.task('t1')?.state, 'RUNNING');
  t.equal(fw.task('t1')?.statuses.length, 1);
  t.strictSame(fw.channel.updates().map((s) => s.uuid), ['u1', 'u2'], 'the framework still sees it, to acknowledge it');
});

/** An event with its status' uuid taken out (master-made ones get a fresh one each). */
function withoutUuid(e: SchedulerEvent): SchedulerEvent {
  if (e.type !== 'update') return e;
  const { uuid, ...status } = e.status;
  return uuid ? { type: 'update', status } : e;
}

t.test('accepting a stale offer drops its tasks with INVALID_OFFER and sends nothing to the agent', async (t) => {
  const cases: [string, (offerId: string) => string[], string][] = [
    ['a good offer with an unknown one', (id) => [id, 'offer-nope'], "offer 'offer-nope' is no longer valid (unknown, rescinded, declined or already used)"],
    ['an offer listed twice', (id) => [id, id], "offer '<id>' is listed twice"],
  ];
  for (const [behaviour, ids, message] of cases) {
    const { core, clock, agent, fw, offer } = await withOffer(t);
    await core.accept(fw.record(), ids(offer.id), launch(task('t1', agent.id), task('t2', agent.id)));
    const want = (taskId: string): TaskStatus => ({
      taskId, frameworkId: fw.id, agentId: agent.id, state: 'DROPPED', source: 'MASTER', reason: 'INVALID_OFFER',
      message: message.replace('<id>', offer.id), timestamp: clock.now(),
    });
    const events = fw.channel.fresh();
    t.strictSame(events.map(withoutUuid), [{ type: 'update', status: want('t1') }, { type: 'update', status: want('t2') }], behaviour);
    t.equal(new Set(core.view.pendingMasterUpdates(fw.id).map((s) => s.uuid)).size, 2, `${behaviour}: each kept with a uuid of its own until acknowledged`);
    t.strictSame(agent.channel.types(), ['registered'], `${behaviour}: nothing sent to the agent`);
    t.strictSame(agent.used(), [], `${behaviour}: nothing used`);
    t.strictSame(agent.offered(), [], `${behaviour}: the framework's offers in the call return to the pool`);
    clock.advance(1000);
    t.equal(fw.channel.offers().length, 1, `${behaviour}: and are offered again, unfiltered, at the next allocation`);
  }
});

t.test('accepting an offer a second time drops the tasks', async (t) => {
  const { core, agent, fw, offer } = await withOffer(t);
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id)));
  await core.accept(fw.record(), [offer.id], launch(task('t2', agent.id)));
  t.strictSame(fw.channel.updates().map((s) => [s.taskId, s.state, s.reason]), [['t2', 'DROPPED', 'INVALID_OFFER']]);
  t.strictSame(agent.channel.types(), ['registered', 'runTask']);
});

t.test("accepting another framework's offer drops the tasks and leaves that offer alone", async (t) => {
  const { core, clock, addAgent, addFramework } = setup(t);
  await addAgent();
  const f1 = await addFramework();
  const f2 = await addFramework();
  clock.advance(0);
  const [owner, thief] = f1.channel.offers().length === 1 ? [f1, f2] : [f2, f1];
  const offer = owner.channel.offers()[0]!;
  await core.accept(thief.record(), [offer.id], launch(task('t1', offer.agentId)));
  t.strictSame(thief.channel.updates().map((s) => [s.state, s.reason, s.message]), [['DROPPED', 'INVALID_OFFER', `offer '${offer.id}' was made to another framework`]]);
  t.not(core.view.offer(offer.id), undefined, "the owner's offer is still outstanding");
});

t.test('a task too big for its offer gets ERROR / TASK_INVALID and is not launched', async (t) => {
  const { core, clock, agent, fw, offer } = await withOffer(t);
  await core.accept(fw.record(), [offer.id], launch(task('big', agent.id, 'cpus:8;mem:128')));
  t.strictSame(fw.channel.fresh().map(withoutUuid), [{
    type: 'update',
    status: {
      taskId: 'big', frameworkId: fw.id, agentId: agent.id, state: 'ERROR', source: 'MASTER', reason: 'TASK_INVALID',
      message: "task 'big' does not fit the offer: cpus: requested 8, available 4", timestamp: clock.now(),
    },
  }]);
  t.strictSame(agent.channel.types(), ['registered']);
  t.strictSame(agent.used(), []);
  t.strictSame(agent.offered(), []);
  t.equal(fw.taskCount(), 0);
});

t.test('decline with refuse 5 s: no offer of that agent until 5 s pass, then one', async (t) => {
  const { core, clock, fw, offer } = await withOffer(t);
  core.decline(fw.record(), [offer.id], 5);
  t.strictSame(core.view.offerCount(), 0);
  clock.advance(4999);
  t.strictSame(fw.channel.fresh(), [], 'nothing for 4999 ms');
  clock.advance(1);
  t.strictSame(fw.channel.offers().map((o) => [o.agentId, fmt(o.resources)]), [[offer.agentId, 'cpus:4;mem:4096;ports:[31000-31009]']]);
});

t.test('decline with refuse 0 is re-offered at the next allocation', async (t) => {
  const { core, clock, fw, offer } = await withOffer(t);
  core.decline(fw.record(), [offer.id], 0);
  clock.advance(999);
  t.strictSame(fw.channel.fresh(), []);
  clock.advance(1);
  t.equal(fw.channel.offers().length, 1);
});

t.test("a declined agent's resources still go to another framework", async (t) => {
  const { core, clock, addAgent, addFramework } = setup(t);
  await addAgent();
  const f1 = await addFramework();
  const f2 = await addFramework();
  clock.advance(0);
  // Equal shares: DRF breaks the tie by framework id, so either may be first.
  const [first, second] = f1.channel.offers().length === 1 ? [f1, f2] : [f2, f1];
  t.equal(first.channel.offers().length, 1);
  t.equal(second.channel.offers().length, 0);
  core.decline(first.record(), [first.channel.offers()[0]!.id], 60);
  clock.advance(1000);
  t.equal(second.channel.offers().length, 1);
});

t.test('decline ignores unknown and foreign offer ids', async (t) => {
  const { core, clock, addAgent, addFramework } = setup(t);
  await addAgent();
  const f1 = await addFramework();
  const f2 = await addFramework();
  clock.advance(0);
  const [owner, other] = f1.channel.offers().length === 1 ? [f1, f2] : [f2, f1];
  const offer = owner.channel.offers()[0]!;
  core.decline(other.record(), [offer.id, 'offer-nope'], 60);
  t.not(core.view.offer(offer.id), undefined, "another framework cannot decline an offer that is not its own");
});

t.test('revive clears the filters, so the agent is offered at once', async (t) => {
  const { core, clock, fw, offer } = await withOffer(t);
  core.decline(fw.record(), [offer.id], 60);
  clock.advance(10_000);
  t.strictSame(fw.channel.fresh(), []);
  core.revive(fw.record(), []);
  clock.advance(0);
  t.equal(fw.channel.offers().length, 1);
});

t.test('suppress stops offers until a revive', async (t) => {
  const { core, clock, addAgent, addFramework } = setup(t);
  await addAgent();
  const fw = await addFramework({ roles: ['*', 'a'] });
  core.suppress(fw.record(), []);
  t.strictSame([...core.view.suppressedRoles(fw.id)], ['*', 'a'], 'all of its roles');
  clock.advance(10_000);
  t.strictSame(fw.channel.offers(), []);
  core.revive(fw.record(), ['a']);
  clock.advance(0);
  t.strictSame(fw.channel.offers().map((o) => o.role), ['a'], 'reviving one role offers for that role only');
});

t.test('agentDisconnected rescinds the offers of that agent only', async (t) => {
  const { core, clock, addAgent, addFramework } = setup(t);
  const a1 = await addAgent('cpus:1;mem:512');
  const a2 = await addAgent('cpus:2;mem:512');
  const fw = await addFramework();
  clock.advance(0);
  const [o1, o2] = [fw.channel.offers().find((o) => o.agentId === a1.id)!, fw.channel.offers().find((o) => o.agentId === a2.id)!];
  fw.channel.fresh();

  core.agentDisconnected(a1.id, new FakeAgentChannel());
  t.strictSame(fw.channel.fresh(), [], 'a stream that is not the current one is ignored');
  t.equal((a1.record().state === 'active'), true);

  core.agentDisconnected(a1.id, a1.channel);
  t.strictSame(fw.channel.fresh(), [{ type: 'rescind', offerId: o1.id }]);
  t.equal(core.view.offer(o1.id), undefined);
  t.not(core.view.offer(o2.id), undefined, "the other agent's offer stays");
  t.strictSame(a1.offered(), []);
  t.equal((a1.record().state === 'active'), false);
  core.decline(fw.record(), [o2.id], 0);
  clock.advance(1000);
  t.strictSame(fw.channel.offers().map((o) => o.agentId), [a2.id], 'a disconnected agent is not offered');
});

t.test('frameworkDisconnected with failover 0 removes the framework at once', async (t) => {
  const { core, clock, agent, fw, offer } = await withOffer(t, undefined, { failoverTimeoutMs: 0 });
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id)));
  core.frameworkDisconnected(fw.id, fw.streamId);
  await settle();

  t.equal(core.view.framework(fw.id), undefined);
  t.equal(core.view.removedFrameworks().length, 1);
  t.equal(core.view.removedFrameworks()[0], fw.record(), 'it appears in completedFrameworks');
  const killed = fw.ended()[0];
  t.equal(killed?.state, 'KILLED', 'its task is KILLED at the master');
  t.strictSame(killed?.statuses.map((s) => [s.state, s.source, s.reason]), [['KILLED', 'MASTER', 'FRAMEWORK_REMOVED']]);
  t.strictSame(agent.channel.sent.slice(2), [{ type: 'shutdownFramework', frameworkId: fw.id }], 'the agent is told to shut it down');
  t.strictSame(agent.used(), []);
  t.equal(agent.taskCount(), 0);
  await t.rejects(core.subscribe(frameworkInfo({ id: fw.id }), new FakeFrameworkChannel()), FailedPreconditionError, 're-subscribing with its id is refused');
  clock.advance(0);
  t.equal(core.view.offerCount(), 0, 'nobody left to offer to');
});

t.test('frameworkDisconnected with failover 10 s removes it only after 10 s', async (t) => {
  const { core, clock, agent, fw, offer } = await withOffer(t, undefined, { failoverTimeoutMs: 10_000 });
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id)), 0);
  clock.advance(1000);
  t.equal(core.view.offerCount(), 1, 'an offer of the rest is outstanding');
  core.frameworkDisconnected(fw.id, fw.streamId);
  await settle();
  t.equal(core.view.offerCount(), 0, 'its offers return to the pool at once');
  t.strictSame(agent.offered(), []);
  t.equal((fw.record().state === 'subscribed'), false);

  clock.advance(9_999);
  t.equal(core.view.framework(fw.id), fw.record(), 'still there at 9999 ms');
  t.equal(fw.task('t1')?.state, 'STAGING');
  t.notOk(agent.channel.types().includes('shutdownFramework'));
  clock.advance(1);
  await settle();
  t.equal(core.view.framework(fw.id), undefined, 'removed at 10 s');
  t.equal(fw.ended()[0]?.state, 'KILLED');
  t.strictSame(agent.channel.sent.at(-1), { type: 'shutdownFramework', frameworkId: fw.id });
  t.equal(core.view.removedFrameworks()[0], fw.record());
});

t.test('a re-subscription within the failover timeout keeps the tasks', async (t) => {
  const { core, clock, agent, fw, offer } = await withOffer(t, undefined, { failoverTimeoutMs: 10_000 });
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id)));
  core.frameworkDisconnected(fw.id, fw.streamId);
  await settle();
  clock.advance(9_000);
  const channel = new FakeFrameworkChannel();
  const again = await core.subscribe(frameworkInfo({ id: fw.id, failoverTimeoutMs: 10_000 }), channel);
  t.equal(again.frameworkId, fw.id, 'same framework id');
  t.not(again.streamId, fw.streamId, 'a new stream id');
  clock.advance(60_000);
  t.equal(core.view.framework(fw.id), fw.record(), 'not removed');
  t.equal(fw.task('t1')?.state, 'STAGING', 'its task kept');
  t.strictSame(agent.channel.types(), ['registered', 'runTask'], 'no shutdown');
  t.throws(() => core.requireFramework(fw.id, fw.streamId), FailedPreconditionError, 'the old stream is stale');
  t.equal(core.requireFramework(fw.id, again.streamId), fw.record());
});

t.test('a re-subscription on a new stream closes the old one with an error', async (t) => {
  const { core, addFramework } = setup(t);
  const fw = await addFramework({ failoverTimeoutMs: 10_000 });
  const channel = new FakeFrameworkChannel();
  await core.subscribe(frameworkInfo({ id: fw.id }), channel);
  t.strictSame(fw.channel.events.at(-1), { type: 'error', reason: 'RESUBSCRIBED', message: 'framework re-subscribed on another stream' });
  t.equal(fw.channel.closed, true);
  core.frameworkDisconnected(fw.id, fw.streamId);
  await settle();
  t.equal((fw.record().state === 'subscribed'), true, 'the old stream ending late does not disconnect the new one');
});

t.test('reconcile: explicit tasks get their latest state, unknown ones LOST / TASK_UNKNOWN', async (t) => {
  const { core, clock, agent, fw, offer } = await withOffer(t);
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id), task('t2', agent.id), task('t3', agent.id)));
  core.agentStatusUpdate(agent.id, { ...agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'RUNNING', uuid: 'u1' }), message: 'up', healthy: true });
  core.agentStatusUpdate(agent.id, { ...agentStatus({ frameworkId: fw.id, taskId: 't3', state: 'FAILED', uuid: 'u3' }), message: 'exit 2', exitCode: 2 });
  clock.advance(100);
  fw.channel.fresh();

  core.reconcile(fw.record(), [{ taskId: 't1', agentId: agent.id }, { taskId: 't3', agentId: '' }, { taskId: 'ghost', agentId: 'agent-x' }]);
  const base = { frameworkId: fw.id, source: 'MASTER' as const, timestamp: clock.now() };
  t.strictSame(fw.channel.updates(), [
    { ...base, taskId: 't1', agentId: agent.id, state: 'RUNNING', reason: 'RECONCILIATION', message: 'up', healthy: true },
    { ...base, taskId: 't3', agentId: agent.id, state: 'FAILED', reason: 'RECONCILIATION', message: 'exit 2', exitCode: 2 },
    { ...base, taskId: 'ghost', agentId: 'agent-x', state: 'LOST', reason: 'TASK_UNKNOWN', message: 'reconciliation: the master knows no such task' },
  ]);
  t.equal(fw.task('t1')?.state, 'RUNNING', 'reconciliation changes nothing');
});

t.test('reconcile: implicit (no tasks) reports every active task and nothing else', async (t) => {
  const { core, agent, fw, offer } = await withOffer(t);
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id), task('t2', agent.id), task('t3', agent.id)));
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'RUNNING', uuid: 'u1' }));
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: fw.id, taskId: 't3', state: 'FINISHED', uuid: 'u3' }));
  fw.channel.fresh();
  core.reconcile(fw.record(), []);
  t.strictSame(fw.channel.updates().map((s) => [s.taskId, s.state, s.reason]), [['t1', 'RUNNING', 'RECONCILIATION'], ['t2', 'STAGING', 'RECONCILIATION']]);
});

t.test('kill of an active task sends killTask to its agent and waits for the agent', async (t) => {
  const { core, agent, fw, offer } = await withOffer(t);
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id), task('t2', agent.id)));
  core.kill(fw.record(), 't1');
  core.kill(fw.record(), 't2', 500);
  t.strictSame(agent.channel.sent.slice(3), [
    { type: 'killTask', frameworkId: fw.id, taskId: 't1', reason: 'KILLED_BY_FRAMEWORK' },
    { type: 'killTask', frameworkId: fw.id, taskId: 't2', killGraceMs: 500, reason: 'KILLED_BY_FRAMEWORK' },
  ]);
  t.equal(fw.task('t1')?.state, 'STAGING', 'the state changes only when the agent reports it');
  t.strictSame(fw.channel.updates(), []);
});

t.test('kill of a task the master does not know answers LOST / TASK_UNKNOWN', async (t) => {
  const { core, clock, agent, fw } = await withOffer(t);
  core.kill(fw.record(), 'ghost');
  t.strictSame(fw.channel.updates(), [{
    taskId: 'ghost', frameworkId: fw.id, agentId: '', state: 'LOST', source: 'MASTER', reason: 'TASK_UNKNOWN',
    message: 'kill of a task this master does not know', timestamp: clock.now(),
  }]);
  t.strictSame(agent.channel.types(), ['registered']);
});

t.test('kill of a finished task repeats its terminal state', async (t) => {
  const { core, agent, fw, offer } = await withOffer(t);
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id)));
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'FINISHED', uuid: 'u1' }));
  fw.channel.fresh();
  core.kill(fw.record(), 't1');
  t.strictSame(fw.channel.updates().map((s) => [s.state, s.reason]), [['FINISHED', 'RECONCILIATION']]);
  t.strictSame(agent.channel.types(), ['registered', 'runTask']);
});

t.test('acknowledge relays the ack to the agent of the task', async (t) => {
  const { core, agent, fw, offer } = await withOffer(t);
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id)));
  core.acknowledge(fw.record(), agent.id, 't1', 'u1');
  core.acknowledge(fw.record(), '', 't1', 'u2');
  t.strictSame(agent.channel.sent.slice(2), [
    { type: 'ack', frameworkId: fw.id, taskId: 't1', uuid: 'u1' },
    { type: 'ack', frameworkId: fw.id, taskId: 't1', uuid: 'u2' },
  ]);
});

t.test('status updates for a removed or unknown framework are acknowledged by the master', async (t) => {
  const { core, agent, fw, offer } = await withOffer(t, undefined, { failoverTimeoutMs: 0 });
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id)));
  core.frameworkDisconnected(fw.id, fw.streamId);
  await settle();
  const before = agent.channel.sent.length;
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'KILLED', uuid: 'u9' }));
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: 'fw-never', taskId: 'x', state: 'RUNNING', uuid: 'u10' }));
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: 'fw-never', taskId: 'y', state: 'RUNNING' }));
  t.strictSame(agent.channel.sent.slice(before), [
    { type: 'ack', frameworkId: fw.id, taskId: 't1', uuid: 'u9' },
    { type: 'ack', frameworkId: 'fw-never', taskId: 'x', uuid: 'u10' },
  ], 'one ack per update with a uuid');
});

t.test('requireFramework refuses an unknown framework and a stale stream', async (t) => {
  const { core, addFramework } = setup(t);
  const fw = await addFramework({ failoverTimeoutMs: 10_000 });
  t.equal(core.requireFramework(fw.id, fw.streamId), fw.record());
  t.throws(() => core.requireFramework('fw-nope', fw.streamId), new NotFoundError('framework', 'fw-nope'));
  t.throws(() => core.requireFramework('fw-nope', fw.streamId), { name: 'NotFoundError', kind: 'framework', id: 'fw-nope', message: "unknown framework 'fw-nope'" });
  t.throws(() => core.requireFramework(fw.id, 'stream-old'), FailedPreconditionError);
  t.throws(() => core.requireFramework(fw.id, 'stream-old'), {
    name: 'FailedPreconditionError',
    message: `stream 'stream-old' is not the current subscription of framework '${fw.id}'; re-subscribe`,
  });
  core.frameworkDisconnected(fw.id, fw.streamId);
  await settle();
  t.throws(() => core.requireFramework(fw.id, fw.streamId), FailedPreconditionError, 'a disconnected framework has no current stream');
});

t.test('stop cancels the timers: no allocation afterwards', async (t) => {
  const { core, clock, addAgent, addFramework } = setup(t);
  await addAgent();
  const fw = await addFramework();
  core.stop();
  clock.advance(10_000);
  t.strictSame(fw.channel.offers(), []);
});

// ---- the books balance: a model test ----------------------------------------------------------

type Step =
  | { kind: 'accept'; fw: number; pick: number; tasks: { cpus: number; mem: number; ports: number; reserved: boolean }[]; refuse: number }
  | { kind: 'decline'; fw: number; pick: number; refuse: number }
  | { kind: 'status'; pick: number; state: TaskState }
  | { kind: 'kill'; pick: number }
  | { kind: 'revive'; fw: number }
  | { kind: 'advance'; ms: number };

const arbStep: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('accept' as const),
    fw: fc.nat({ max: 1 }),
    pick: fc.nat(),
    tasks: fc.array(
      fc.record({ cpus: fc.integer({ min: 0, max: 3000 }), mem: fc.integer({ min: 0, max: 1500 }), ports: fc.nat({ max: 3 }), reserved: fc.boolean() }),
      { minLength: 1, maxLength: 3 },
    ),
    refuse: fc.nat({ max: 10 }),
  }),
  fc.record({ kind: fc.constant('decline' as const), fw: fc.nat({ max: 1 }), pick: fc.nat(), refuse: fc.nat({ max: 10 }) }),
  fc.record({ kind: fc.constant('status' as const), pick: fc.nat(), state: fc.constantFrom<TaskState>('STARTING', 'RUNNING', 'FINISHED', 'FAILED', 'KILLED', 'LOST') }),
  fc.record({ kind: fc.constant('kill' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('revive' as const), fw: fc.nat({ max: 1 }) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 3000 }) }),
);

/** Throws unless, on every agent, active tasks then outstanding offers can be taken from the total one by one. */
function checkBooks(core: MasterCore): void {
  const view = core.view;
  let offersSeen = 0;
  for (const agent of view.agents()) {
    const id = agent.info.id;
    let left = agent.info.resources;
    let used: Resources = [];
    for (const task of view.tasksOnAgent(id)) {
      if (!contains(left, task.spec.resources)) throw new Error(`task ${task.spec.taskId} overlaps on ${id}`);
      left = subtract(left, task.spec.resources);
      used = add(used, task.spec.resources);
    }
    let offered: Resources = [];
    for (const offerId of view.offerIdsOn(id)) {
      const record = view.offer(offerId);
      if (!record) throw new Error(`agent ${id} lists a missing offer ${offerId}`);
      if (!contains(left, record.offer.resources)) throw new Error(`offer ${offerId} overlaps on ${id}`);
      left = subtract(left, record.offer.resources);
      offered = add(offered, record.offer.resources);
      offersSeen++;
    }
    if (fmt(view.usedOn(id)) !== fmt(used)) throw new Error(`used ${fmt(view.usedOn(id))} != tasks ${fmt(used)}`);
    if (fmt(view.offeredOn(id)) !== fmt(offered)) throw new Error(`offered ${fmt(view.offeredOn(id))} != offers ${fmt(offered)}`);
    if (!contains(agent.info.resources, add(view.usedOn(id), view.offeredOn(id)))) throw new Error('offered + used > total');
  }
  if (offersSeen !== view.offerCount()) throw new Error(`${view.offerCount()} offers, ${offersSeen} on agents`);
  for (const f of view.frameworks()) {
    const used = [...view.tasksOf(f.info.id)].reduce<Resources>((sum, task) => add(sum, task.spec.resources), []);
    if (fmt(view.usedBy(f.info.id)) !== fmt(used)) throw new Error(`framework used ${fmt(view.usedBy(f.info.id))} != tasks ${fmt(used)}`);
  }
}

t.test('property: offered + used ≤ total on every agent after any sequence of operations', async (t) => {
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(arbStep, { maxLength: 40 }), async (steps) => {
      runs++;
      const clock = new ManualClock(START);
      const core = new MasterCore({ masterId: 'm', epoch: 1, clock, allocationIntervalMs: 1000 });
      try {
        const agentChannels = [new FakeAgentChannel(), new FakeAgentChannel()];
        await core.registerAgent(agentChannels[0]!, agentInfo('cpus:4;mem:2048;ports:[31000-31004]'));
        await core.registerAgent(agentChannels[1]!, agentInfo('cpus:2;cpus(a):2;mem:1024;mem(a):512;disk:100;ports(a):[32000-32002]'));
        const fws: FrameworkRecord[] = [];
        for (const info of [{ roles: ['*'] }, { roles: ['a'] }]) {
          const { frameworkId } = await core.subscribe(frameworkInfo(info), new FakeFrameworkChannel());
          fws.push(core.view.framework(frameworkId)!);
        }
        clock.advance(0);
        checkBooks(core);
        let next = 0;
        const activeTasks = () => fws.flatMap((f) => [...core.view.tasksOf(f.info.id)]);
        const offersOf = (i: number) => core.view.offerIdsOf(fws[i]!.info.id).map((id) => core.view.offer(id)!.offer);

        for (const step of steps) {
          switch (step.kind) {
            case 'accept': {
              const offers = offersOf(step.fw);
              const offer = offers[step.pick % Math.max(1, offers.length)];
              if (!offer) break;
              const tasks = step.tasks.map((s) => {
                const role = s.reserved && offer.role !== '*' ? `(${offer.role})` : '';
                const ports = takePorts(offer.resources, s.ports, offer.role) ?? [];
                const portRes = pickRanges(offer.resources, 'ports', ports, offer.role) ?? [];
                const resources = add(res(`cpus${role}:${s.cpus / 1000};mem${role}:${s.mem}`), portRes);
                return { ...task(`t${next++}`, ''), resources };
              });
              await core.accept(fws[step.fw]!, [offer.id], launch(...tasks), step.refuse);
              break;
            }
            case 'decline': {
              const offers = offersOf(step.fw);
              const offer = offers[step.pick % Math.max(1, offers.length)];
              if (offer) core.decline(fws[step.fw]!, [offer.id], step.refuse);
              break;
            }
            case 'status': {
              const tasks = activeTasks();
              const target = tasks[step.pick % Math.max(1, tasks.length)];
              if (target) {
                core.agentStatusUpdate(target.agentId, agentStatus({ frameworkId: target.frameworkId, taskId: target.spec.taskId, state: step.state, uuid: `u${next++}` }));
              }
              break;
            }
            case 'kill': {
              const tasks = activeTasks();
              const target = tasks[step.pick % Math.max(1, tasks.length)];
              if (target) core.kill(core.view.framework(target.frameworkId)!, target.spec.taskId);
              break;
            }
            case 'revive':
              core.revive(fws[step.fw]!, []);
              break;
            case 'advance':
              clock.advance(step.ms);
              break;
          }
          checkBooks(core);
        }
        return true;
      } finally {
        core.stop();
      }
    }),
    { numRuns: 200 },
  );
  t.equal(runs >= 200, true, 'at least 200 random sequences');
});

t.test('reconcile and kill of a reused task id report its newest run', async (t) => {
  const { core, clock, agent, fw, offer } = await withOffer(t);
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id)), 0);
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'FAILED', uuid: 'u1' }));
  clock.advance(1000);
  await core.accept(fw.record(), [fw.channel.offers()[0]!.id], launch(task('t1', agent.id)), 0);
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'FINISHED', uuid: 'u2' }));
  fw.channel.fresh();
  core.reconcile(fw.record(), [{ taskId: 't1', agentId: agent.id }]);
  core.kill(fw.record(), 't1');
  t.strictSame(fw.channel.updates().map((s) => s.state), ['FINISHED', 'FINISHED']);
});

t.test('a status from an agent that does not run the task does not move it', async (t) => {
  const { core, clock, addAgent, addFramework } = setup(t);
  const a1 = await addAgent('cpus:4;mem:4096');
  const a2 = await addAgent('cpus:4;mem:4096');
  const fw = await addFramework();
  clock.advance(0);
  const offer = fw.channel.offers().find((o) => o.agentId === a1.id)!;
  await core.accept(fw.record(), [offer.id], launch(task('t1', a1.id, 'cpus:4;mem:4096')), 0);
  // A late retry of an old run of t1 on a2 (its ack was lost) arrives after t1 was relaunched on a1.
  core.agentStatusUpdate(a2.id, agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'FAILED', uuid: 'old' }));
  t.equal(fw.task('t1')?.state, 'STAGING', 'the task on a1 is still active');
  t.equal(fmt(a1.used()), 'cpus:4;mem:4096', "a1's resources stay used");
});

t.test('a late status from an earlier container of the same id on the same agent does not move it', async (t) => {
  const { core, agent, fw, offer } = await withOffer(t);
  await core.accept(fw.record(), [offer.id], launch(task('t1', agent.id)), 0);
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'RUNNING', uuid: 'u1', containerId: 'ctr-new' }));
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'FAILED', uuid: 'u0', containerId: 'ctr-old' }));
  t.equal(fw.task('t1')?.state, 'RUNNING');
});
