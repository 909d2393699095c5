/**
 * The durability contract (decide → persist → apply → send): with a registry whose writes fail,
 * every registry-backed call answers an error naming the write, the master is told to stop, and
 * nothing reached memory or the wire first.
 */
import t from 'tap';
import { RegistryWriteError } from '../../src/master/effects.js';
import type { MasterPersistence } from '../../src/master/ports.js';
import { agentInfo, agentStatus, frameworkInfo, res } from '../helpers/builders.js';
import { FakeAgentChannel, FakeFrameworkChannel, fmt, launch, settle, setup, task } from '../helpers/core-harness.js';

/** A registry that works until `failing` is set, then rejects every write (a full disk, say). */
function breakableRegistry() {
  const state = { failing: false, writes: [] as string[] };
  const write = (what: string) => (): Promise<void> => {
    if (state.failing) return Promise.reject(new Error('ENOSPC: no space left on device'));
    state.writes.push(what);
    return Promise.resolve();
  };
  const persistence: MasterPersistence = {
    setWeights: write('weights'),
    setQuota: write('quota'),
    admitAgent: write('admit'),
    setAgentStatus: write('agent status'),
    setAgentDraining: write('drain'),
    saveFramework: write('framework'),
    retireFramework: write('retire'),
    saveReservations: write('reservations'),
  };
  return { state, persistence };
}

/** A cluster on a breakable registry: one agent, one framework with a task on it, its offer of the rest outstanding. */
async function cluster(t: Parameters<typeof setup>[0]) {
  const registry = breakableRegistry();
  const fatal: RegistryWriteError[] = [];
  const s = setup(t, { persistence: registry.persistence, onFatal: (err) => fatal.push(err) });
  const agent = await s.addAgent('cpus:4;mem:4096');
  const fw = await s.addFramework({ roles: ['analytics'], failoverTimeoutMs: 60_000 });
  s.clock.advance(0);
  await s.core.accept(fw.record(), [fw.channel.offers()[0]!.id], launch(task('t1', agent.id, 'cpus:1;mem:128')), 0);
  s.clock.advance(1000);
  const offer = fw.channel.offers().at(-1)!;
  fw.channel.fresh();
  agent.channel.sent.length = 0;
  return { ...s, registry, fatal, agent, fw, offer };
}

/** Everything the master's books and the wire could show: taken before and after a refused call. */
function snapshot(c: Awaited<ReturnType<typeof cluster>>, extra: FakeAgentChannel[] = [], frameworks: FakeFrameworkChannel[] = []) {
  const view = c.core.view;
  return JSON.stringify({
    agents: [...view.agents()].map((a) => ({ ...a, used: fmt(view.usedOn(a.info.id)), offered: fmt(view.offeredOn(a.info.id)) })),
    frameworks: [...view.frameworks()].map((f) => ({ ...f, tasks: [...view.tasksOf(f.info.id)], suppressed: view.suppressedRoles(f.info.id) })),
    removed: view.removedFrameworks().map((f) => f.info.id),
    roles: view.roleSummaries().map((r) => ({ role: r.role, weight: r.weight, quota: r.quota })),
    offers: view.offerCount(),
    sentToAgents: [c.agent.channel, ...extra].map((ch) => ch.sent),
    sentToFrameworks: [c.fw.channel, ...frameworks].map((ch) => ch.events),
  });
}

t.test('every registry-backed call, when its write fails, answers RegistryWriteError and changes nothing', async (t) => {
  type Call = [string, (c: Awaited<ReturnType<typeof cluster>>, agents: FakeAgentChannel[], frameworks: FakeFrameworkChannel[]) => Promise<unknown>];
  const calls: Call[] = [
    ['set a weight', (c) => c.core.setWeights([{ role: 'analytics', weight: 2 }])],
    ['set a quota', (c) => c.core.setQuota('analytics', res('cpus:1'), res('cpus:2'), true)],
    ['register an agent', (c, agents) => c.core.registerAgent(agents[0]!, agentInfo('cpus:2;mem:1024', { hostname: 'new' }))],
    ['re-register an agent this master does not know', (c, agents) => c.core.reregisterAgent(agents[0]!, agentInfo('cpus:2;mem:1024', { id: 'agent-old', hostname: 'old' }), [], [])],
    ['subscribe a framework', (c, _a, frameworks) => c.core.subscribe(frameworkInfo({ name: 'new' }), frameworks[0]!)],
    ['re-subscribe a framework', (c, _a, frameworks) => c.core.subscribe(frameworkInfo({ id: c.fw.id, failoverTimeoutMs: 60_000, roles: ['analytics'] }), frameworks[0]!)],
    ['accept with a RESERVE and a LAUNCH that uses it', (c) => c.core.accept(c.fw.record(), [c.offer.id], [
      { type: 'RESERVE', resources: res('mem(analytics):256') },
      { type: 'LAUNCH', tasks: [task('t2', c.agent.id, 'cpus:1;mem(analytics):256')] },
    ], 0)],
    ['tear a framework down (the framework)', (c) => c.core.teardown(c.fw.record())],
    ['tear a framework down (an operator)', (c) => c.core.teardownFramework(c.fw.id)],
    ['mark an agent gone', (c) => c.core.markAgentGone(c.agent.id)],
    ['drain an agent', (c) => c.core.drainAgent(c.agent.id)],
  ];
  for (const [what, call] of calls) {
    const c = await cluster(t);
    const agents = [new FakeAgentChannel()];
    const frameworks = [new FakeFrameworkChannel()];
    const before = snapshot(c, agents, frameworks);
    c.registry.state.failing = true;
    const err = await call(c, agents, frameworks).then(() => undefined, (e: unknown) => e);
    t.ok(err instanceof RegistryWriteError, `${what}: refused with RegistryWriteError`);
    t.match((err as Error | undefined)?.message, /the registry write '.+' failed \(ENOSPC/, `${what}: naming the write`);
    t.equal((err as RegistryWriteError | undefined)?.reason, 'REGISTRY_UNAVAILABLE', `${what}: with a typed reason`);
    await settle();
    t.equal(snapshot(c, agents, frameworks), before, `${what}: nothing reached memory or the wire`);
    t.equal(c.fatal.length, 1, `${what}: the master is told to stop, once`);
    t.ok(c.core.failed, `${what}: and says it has failed`);
  }
});

t.test('after a failed write every later registry-backed call is refused at once, even if the registry answers again', async (t) => {
  const c = await cluster(t);
  c.registry.state.failing = true;
  await t.rejects(c.core.setWeights([{ role: 'a', weight: 2 }]), RegistryWriteError);
  c.registry.state.failing = false;
  const writes = c.registry.state.writes.length;
  await t.rejects(c.core.setWeights([{ role: 'b', weight: 3 }]), /registry write 'set weight' failed/);
  t.equal(c.registry.state.writes.length, writes, 'nothing more is written');
  t.equal(c.fatal.length, 1);
});

t.test('changes the registry does not hold go on after a failed write: status updates still reach their framework', async (t) => {
  const c = await cluster(t);
  c.registry.state.failing = true;
  await t.rejects(c.core.setWeights([{ role: 'a', weight: 2 }]));
  c.core.agentStatusUpdate(c.agent.id, agentStatus({ frameworkId: c.fw.id, taskId: 't1', state: 'RUNNING', uuid: 'u1' }));
  t.match(c.fw.channel.updates(), [{ taskId: 't1', state: 'RUNNING' }], 'until the master stops, what the agents say is relayed');
});

t.test('a framework whose stream ends while its deadline cannot be written is not given a failover timer; the master stops', async (t) => {
  const c = await cluster(t);
  c.registry.state.failing = true;
  c.core.frameworkDisconnected(c.fw.id, c.fw.streamId);
  await settle();
  t.equal(c.fatal.length, 1);
  t.match(c.fatal[0]?.message, /save failover deadline/);
  c.clock.advance(120_000);
  await settle();
  t.ok(c.core.view.framework(c.fw.id), 'not removed by a timer the registry never heard of');
});
