import t from 'tap';
import { NotFoundError } from '../../src/common/errors.js';
import { agentInfo, agentStatus, frameworkInfo } from '../helpers/builders.js';
import { FakeAgentChannel, FakeFrameworkChannel, launch, settle, setup, task } from '../helpers/core-harness.js';
import { parseRemovalRate, RemovalLimiter, silentAgents } from '../../src/master/agent-health.js';
import type { MasterPersistence, RestoredState } from '../../src/master/core.js';

/** A registry with nothing in it. */
const NOTHING: RestoredState = { weights: new Map(), quotas: new Map(), agents: [], frameworks: [] };

/** Records every durable write, in order. */
function recordingPersistence(): MasterPersistence & { writes: string[] } {
  const writes: string[] = [];
  const note = (w: string) => {
    writes.push(w);
    return Promise.resolve();
  };
  return {
    writes,
    setWeights: (weights) => note(`weights ${weights.map((w) => `${w.role}=${w.weight}`).join(',')}`),
    setQuota: (role) => note(`quota ${role}`),
    admitAgent: (id) => note(`admit ${id}`),
    setAgentStatus: (id, _hostname, status) => note(`${status} ${id}`),
    setAgentDraining: (id, _hostname, draining) => note(`${draining ? 'draining' : 'reactivated'} ${id}`),
    saveFramework: (info, deadline) => note(`framework ${info.id}${deadline !== undefined ? ` until ${deadline}` : ''}`),
    retireFramework: (info) => note(`retire ${info.id}`),
    saveReservations: (id, _hostname, text) => note(`reservations ${id} ${text}`),
  };
}

t.test('removal rates parse in the Mesos form and name the flag when they do not', async (t) => {
  t.same(parseRemovalRate('1/20mins'), { count: 1, perMs: 20 * 60_000 });
  t.same(parseRemovalRate('5/30s'), { count: 5, perMs: 30_000 });
  t.same(parseRemovalRate('2/h'), { count: 2, perMs: 3_600_000 });
  for (const bad of ['', 'fast', '0/1m', '1/20years', '-1/1m']) t.throws(() => parseRemovalRate(bad), /--agent-removal-rate/, bad);
});

t.test('the removal limiter lets a burst through, then refills over time', async (t) => {
  const limiter = new RemovalLimiter({ count: 2, perMs: 1000 });
  t.same([limiter.take(0), limiter.take(0), limiter.take(0)], [true, true, false]);
  t.equal(limiter.take(499), false, 'half a token is not enough');
  t.equal(limiter.take(500), true, 'one token after half the period');
  t.equal(new RemovalLimiter(undefined).take(0), true, 'no rate: no limit');
});

t.test('silent agents are those quiet for longer than timeout × misses, oldest first', async (t) => {
  const agents = [
    { id: 'quiet', lastHeartbeatAt: 0, reachable: true },
    { id: 'fresh', lastHeartbeatAt: 9_000, reachable: true },
    { id: 'older', lastHeartbeatAt: -5, reachable: true },
    { id: 'known', lastHeartbeatAt: 0, reachable: false },
  ];
  t.same(silentAgents(agents, 10_001, 2_000, 5), ['older', 'quiet']);
});

t.test('an agent that stops heartbeating becomes unreachable; its tasks too, and it comes back RUNNING', async (t) => {
  const persistence = recordingPersistence();
  const { core, clock, addAgent, addFramework } = setup(t, { agentPingTimeoutMs: 1_000, maxAgentPingMisses: 3, persistence });
  const agent = await addAgent();
  const fw = await addFramework();
  clock.advance(0);
  const offer = fw.channel.offers()[0]!;
  const t1 = task('t1', agent.id);
  await core.accept(fw.record(), [offer.id], launch(t1), 0);
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'RUNNING', uuid: 'u1' }));
  fw.channel.fresh();

  clock.advance(2_900);
  t.equal(agent.record().state !== 'unreachable', true, 'not yet: under 3 missed heartbeats');
  core.agentHeartbeat(agent.id);
  clock.advance(2_900);
  t.equal(agent.record().state !== 'unreachable', true, 'a heartbeat resets the count');
  clock.advance(1_000);
  await settle();
  t.equal(agent.record().state !== 'unreachable', false, 'silent for over 3 s: unreachable');
  t.equal(agent.channel.closed, true, 'its stream is closed');
  const update = fw.channel.updates().find((u) => u.taskId === 't1');
  t.match(update, { taskId: 't1', state: 'UNREACHABLE', reason: 'AGENT_UNREACHABLE', source: 'MASTER' });
  t.ok(persistence.writes.includes(`unreachable ${agent.id}`), 'the registry hears of it');
  t.equal(core.view.offerCount(), 0, 'its outstanding offers are rescinded');
  fw.channel.fresh();
  clock.advance(5_000);
  t.equal(fw.channel.offers().length, 0, 'and nothing of it is offered while it is unreachable');

  fw.channel.fresh();
  const back = new FakeAgentChannel();
  await core.reregisterAgent(back, { ...agent.record().info }, [{ spec: { ...t1, agentId: agent.id, allocationRole: '*' }, frameworkId: fw.id, latest: agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'RUNNING', uuid: 'u1' }) }], [fw.record().info]);
  t.equal(agent.record().state !== 'unreachable', true);
  t.match(fw.channel.updates(), [{ taskId: 't1', state: 'RUNNING', reason: 'RECONCILIATION', message: 'the agent is reachable again' }]);
  t.equal(fw.task('t1')!.state, 'RUNNING', 'nothing was killed');
});

t.test('the removal rate limit defers marking agents unreachable', async (t) => {
  const { core, clock, addAgent } = setup(t, { agentPingTimeoutMs: 100, maxAgentPingMisses: 1, agentRemovalRate: { count: 1, perMs: 10_000 } });
  const a = await addAgent();
  const b = await addAgent();
  const unreachable = () => [a, b].filter((x) => x.record().state === 'unreachable').length;
  clock.advance(300);
  await settle();
  t.equal(unreachable(), 1, 'one at once');
  clock.advance(5_000);
  await settle();
  t.equal(unreachable(), 1, 'the second waits for a token');
  clock.advance(5_100);
  await settle();
  t.equal(unreachable(), 2);
  await core.checkAgentHealth();
});

t.test('an operator marks an agent gone: tasks GONE, resources out, and the id cannot come back', async (t) => {
  const persistence = recordingPersistence();
  const { core, clock, addAgent, addFramework } = setup(t, { persistence });
  const agent = await addAgent();
  const fw = await addFramework();
  clock.advance(0);
  await core.accept(fw.record(), [fw.channel.offers()[0]!.id], launch(task('t1', agent.id)), 0);
  fw.channel.fresh();
  t.match(await core.markAgentGone(agent.id), /marked gone/);
  t.match(fw.channel.updates(), [{ taskId: 't1', state: 'GONE', reason: 'AGENT_REMOVED' }]);
  t.notOk(core.view.agent(agent.id));
  t.equal(core.allocator.total()['cpus'] ?? 0, 0, 'its resources left the cluster');
  t.match(agent.channel.sent.at(-1), { type: 'refused' });
  t.ok(persistence.writes.includes(`gone ${agent.id}`));
  t.match(await core.markAgentGone(agent.id), /already gone/, 'idempotent');
  await t.rejects(core.reregisterAgent(new FakeAgentChannel(), agentInfo('cpus:4;mem:4096', { id: agent.id }), [], []), /marked gone/);
  await t.rejects(core.markAgentGone('agent-nope'), NotFoundError);
});

t.test('after a restart, reconciliation waits for expected agents, then answers UNREACHABLE', async (t) => {
  const { core, clock, addFramework } = setup(t, { agentReregisterTimeoutMs: 10_000 });
  await core.restore({ ...NOTHING, agents: [{ id: 'agent-old', hostname: 'host-a', status: 'admitted', draining: false }] });
  const fw = await addFramework();
  fw.channel.fresh();
  core.reconcile(fw.record(), [{ taskId: 't1', agentId: 'agent-old' }, { taskId: 't2', agentId: 'agent-never' }]);
  t.match(fw.channel.updates(), [{ taskId: 't2', state: 'LOST' }], 'only the task on an unknown agent is answered, and LOST');
  fw.channel.fresh();
  clock.advance(10_000);
  await settle();
  t.match(fw.channel.updates(), [{ taskId: 't1', state: 'UNREACHABLE', reason: 'AGENT_UNREACHABLE' }], 'the held question is answered when the window closes');
  fw.channel.fresh();
  core.reconcile(fw.record(), [{ taskId: 't1', agentId: 'agent-old' }]);
  t.match(fw.channel.updates(), [{ taskId: 't1', state: 'UNREACHABLE', reason: 'AGENT_UNREACHABLE' }], 'and asking again answers at once');
});

t.test('failover deadlines are written down and survive a restart', async (t) => {
  const persistence = recordingPersistence();
  const { core, clock, addFramework } = setup(t, { persistence });
  const fw = await addFramework({ failoverTimeoutMs: 60_000 });
  core.frameworkDisconnected(fw.id, fw.streamId);
  await settle();
  t.ok(persistence.writes.includes(`framework ${fw.id} until ${clock.now() + 60_000}`));

  // A new master restores it with 20 s left: it is removed after 20 s, not 60.
  const restarted = setup(t, { persistence: recordingPersistence() });
  await restarted.core.restore({
    ...NOTHING,
    frameworks: [
      { info: frameworkInfo({ id: 'fw-restored', failoverTimeoutMs: 60_000 }), failoverDeadline: restarted.clock.now() + 20_000, removed: false },
      { info: frameworkInfo({ id: 'fw-retired' }), removed: true },
    ],
  });
  t.ok(restarted.core.view.framework('fw-restored'));
  restarted.clock.advance(19_999);
  await settle();
  t.ok(restarted.core.view.framework('fw-restored'), 'still within its deadline');
  restarted.clock.advance(1);
  await settle();
  t.notOk(restarted.core.view.framework('fw-restored'), 'removed at its deadline');
  await t.rejects(restarted.core.subscribe(frameworkInfo({ id: 'fw-restored' }), new FakeFrameworkChannel()), /torn down or failed over too late/);
  await t.rejects(restarted.core.subscribe(frameworkInfo({ id: 'fw-retired' }), new FakeFrameworkChannel()), /torn down/, 'a retired id stays retired');
});

t.test('draining an agent stops its offers and kills its tasks; it is drained once they end', async (t) => {
  const { core, clock, addAgent, addFramework } = setup(t);
  const agent = await addAgent();
  const fw = await addFramework();
  clock.advance(0);
  await core.accept(fw.record(), [fw.channel.offers()[0]!.id], launch(task('t1', agent.id)), 0);
  clock.advance(1_000);
  t.equal(core.view.offerCount(), 1, 'the remainder is on offer');
  t.match(await core.drainAgent(agent.id), /draining: 1 task/);
  t.equal(core.view.offerCount(), 0, 'its offers are rescinded');
  t.match(agent.channel.sent.at(-1), { type: 'killTask', taskId: 't1', reason: 'AGENT_DRAINING' });
  t.equal(agent.record().drain, 'draining');
  core.agentStatusUpdate(agent.id, agentStatus({ frameworkId: fw.id, taskId: 't1', state: 'KILLED', uuid: 'u9' }));
  t.equal(agent.record().drain, 'drained', 'drained once its last task ended');
  fw.channel.fresh();
  clock.advance(5_000);
  t.equal(fw.channel.offers().length, 0, 'never offered while drained');
  t.match(await core.drainAgent(agent.id), /already drained/);
  t.match(await core.reactivateAgent(agent.id), /reactivated/);
  clock.advance(0);
  t.equal(fw.channel.offers().length, 1, 'offered again after reactivation');
  await t.rejects(core.drainAgent('agent-nope'), NotFoundError);
});
