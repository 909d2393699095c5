import t from 'tap';
import { parseAttributes } from '../../src/common/attributes.js';
import { BatchedBuild } from '../../src/master/http/state-endpoint.js';
import { clusterStateJson, clusterStateView, type Slices } from '../../src/master/state-view.js';
import { agentInfo, agentStatus, frameworkInfo } from '../helpers/builders.js';
import { FakeAgentChannel, FakeFrameworkChannel, launch, settle, setup, task } from '../helpers/core-harness.js';

/** Slices that pause after every check, with the pauses counted and a hook run in each. */
function everyCheck(onPause: () => void = () => undefined): Slices & { pauses: number } {
  const slices = {
    pauses: 0,
    sliceMs: 0,
    now: () => 0,
    next: async () => {
      slices.pauses++;
      onPause();
    },
  };
  return slices;
}

/** A core with two agents, two frameworks, running, finished and healthy tasks, and a removed framework. */
async function populated(t: Parameters<typeof setup>[0], tasksPerAgent = 3) {
  const s = setup(t);
  const a1 = await s.addAgent('cpus:8;mem:8192;ports:[31000-31009]');
  const channel = new FakeAgentChannel();
  const a2 = await s.core.registerAgent(channel, agentInfo('cpus:8;mem:8192', { hostname: 'host-2', attributes: parseAttributes('rack:r1;zone:z2') }));
  const fw = await s.addFramework({ name: 'one' });
  s.clock.advance(0);
  const ids: string[] = [];
  for (const offer of fw.channel.offers()) {
    const specs = Array.from({ length: tasksPerAgent }, (_, i) => task(`t-${offer.agentId}-${i}`, offer.agentId, 'cpus:0.05;mem:16'));
    await s.core.accept(fw.record(), [offer.id], launch(...specs));
    ids.push(...specs.map((x) => x.taskId));
  }
  for (const [i, taskId] of ids.entries()) {
    const agentId = taskId.includes(a1.id) ? a1.id : a2;
    s.core.agentStatusUpdate(agentId, { ...agentStatus({ frameworkId: fw.id, taskId, agentId, state: 'RUNNING', uuid: `u-${i}` }), ...(i % 2 ? { healthy: true } : {}) });
  }
  const first = ids[0]!;
  const firstAgent = first.includes(a1.id) ? a1.id : a2;
  s.core.agentStatusUpdate(firstAgent, { ...agentStatus({ frameworkId: fw.id, taskId: first, agentId: firstAgent, state: 'FINISHED', uuid: 'u-end' }), exitCode: 0 });
  await s.core.teardown((await s.addFramework({ name: 'two' })).record());
  return { ...s, fw, ids, agents: [a1.id, a2], channels: new Map([[a1.id, a1.channel], [a2, channel]]) };
}

t.test('the JSON text is exactly JSON.stringify of the view, slice by slice or all at once', async (t) => {
  const { core } = await populated(t);
  const expected = JSON.stringify(clusterStateView(core.view));
  t.match(expected, /"completedTasks":\[\{/, 'the fixture has completed tasks');
  t.match(expected, /"completedFrameworks":\[\{/, 'and a removed framework');
  t.match(expected, /"attributes":"rack:r1;zone:z2"/, 'and attributes');
  t.equal((await clusterStateJson(core.view)).toString(), expected, 'default slices');
  const slices = everyCheck();
  t.equal((await clusterStateJson(core.view, slices)).toString(), expected, 'a pause after every 64 items');
});

t.test('a large state gives the event loop back between slices', async (t) => {
  const { core } = await populated(t, 100);
  const slices = everyCheck();
  await clusterStateJson(core.view, slices);
  t.ok(slices.pauses >= 3, `paused ${slices.pauses} times over 200 tasks`);
});

t.test('the text shows the books as they were when the build began, whatever changes between slices', async (t) => {
  const { core, fw, ids } = await populated(t, 100);
  const before = JSON.stringify(clusterStateView(core.view));
  const taskId = ids[10]!;
  const agentId = fw.task(taskId)!.agentId;
  let changed = false;
  const slices = everyCheck(() => {
    if (changed) return;
    changed = true;
    core.agentStatusUpdate(agentId, agentStatus({ frameworkId: fw.id, taskId, agentId, state: 'FAILED', uuid: 'u-late' }));
    void core.registerAgent(new FakeAgentChannel(), agentInfo('cpus:1;mem:128', { hostname: 'late' }));
    void core.subscribe(frameworkInfo({ name: 'late' }), new FakeFrameworkChannel());
  });
  const text = (await clusterStateJson(core.view, slices)).toString();
  t.ok(changed, 'the books changed during the build');
  await settle();
  t.equal(text, before);
  t.not(JSON.stringify(clusterStateView(core.view)), before, 'and the next build shows the change');
});

t.test('a batched build is shared by the calls waiting for it, and a call during a build waits for the next one', async (t) => {
  const started: ((v: number) => void)[] = [];
  const build = new BatchedBuild(() => new Promise<number>((resolve) => started.push(resolve)));
  const first = build.get();
  t.equal(started.length, 1, 'the first call starts a build');
  const second = build.get();
  const third = build.get();
  t.equal(second, third, 'calls during a build share one promise');
  t.equal(started.length, 1, 'and do not start one yet');
  started[0]!(1);
  t.equal(await first, 1);
  await new Promise((r) => setImmediate(r));
  t.equal(started.length, 2, 'the next build starts once the first ends');
  const fourth = build.get();
  t.not(fourth, second, 'a call during the second build waits for a third');
  started[1]!(2);
  t.equal(await second, 2);
  t.equal(await third, 2);
  await new Promise((r) => setImmediate(r));
  started[2]!(3);
  t.equal(await fourth, 3);
  const fifth = build.get();
  t.equal(started.length, 4, 'with nothing running, a call starts a build at once');
  started[3]!(4);
  t.equal(await fifth, 4);
});

t.test('a failed build fails its callers and the next call builds again', async (t) => {
  let n = 0;
  const build = new BatchedBuild(async () => {
    n++;
    if (n === 1) throw new Error('boom');
    return n;
  });
  await t.rejects(build.get(), /boom/);
  t.equal(await build.get(), 2);
});

t.test("an agent's remembered text is remade when anything it shows changes", async (t) => {
  const { core, clock, ids, fw, agents, channels } = await populated(t);
  const same = async (what: string) => t.equal((await clusterStateJson(core.view)).toString(), JSON.stringify(clusterStateView(core.view)), what);
  await same('first build');
  const agentId = agents[0]!;
  clock.advance(1000);
  core.agentHeartbeat(agentId);
  await same('after a heartbeat');
  const taskId = ids.find((id) => id.includes(agentId) && fw.task(id))!;
  core.agentStatusUpdate(agentId, agentStatus({ frameworkId: fw.id, taskId, agentId, state: 'KILLED', uuid: 'u-k' }));
  await same('after a task ended (used changed)');
  clock.advance(1000);
  await same('after an allocation (offered changed)');
  core.agentDisconnected(agentId, channels.get(agentId)!);
  await same('after a disconnect (active and status changed)');
  t.match((await clusterStateJson(core.view)).toString(), /"status":"disconnected"/);
});
