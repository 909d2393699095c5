import t from 'tap';
import { buildTask, formatResources, type Offer } from '../../src/framework-sdk/index.js';
import { nextEvent, OfferPool, sleep, startCluster, updatesUntil } from '../helpers/cluster.js';

t.test('offer lifecycle over real gRPC', async (t) => {
  const cluster = await startCluster(t, [{ hostname: 'alpha', attributes: 'rack:r1;zone:a' }]);
  const fw = await cluster.framework({ name: 'offers' });
  const pool = new OfferPool(fw);
  const agentId = cluster.agents[0]!.agentId();

  await t.test('offers carry the agent hostname and attributes', async (t) => {
    const [[offer]] = await nextEvent(fw, 'offers');
    t.equal(offer!.hostname, 'alpha');
    t.same(offer!.attributes, [{ name: 'rack', value: 'r1' }, { name: 'zone', value: 'a' }]);
    t.equal(offer!.role, '*');
    await fw.decline([offer!.id], { refuseSeconds: 0 });
  });

  await t.test('a declined offer returns after its filter and not before', async (t) => {
    const [[offer]] = await nextEvent(fw, 'offers');
    const declinedAt = Date.now();
    await fw.decline([offer!.id], { refuseSeconds: 1 });
    const [[again]] = await nextEvent(fw, 'offers', () => true, 5_000);
    const waited = Date.now() - declinedAt;
    t.ok(waited >= 1000, `the same resources came back after the 1 s filter (${waited} ms)`);
    t.equal(formatResources(again!.resources), formatResources(offer!.resources));
    t.not(again!.id, offer!.id, 'as a new offer');
    await fw.decline([again!.id], { refuseSeconds: 30 });
  });

  await t.test('revive clears the filter at once', async (t) => {
    let early = false;
    const spy = () => {
      early = true;
    };
    fw.on('offers', spy);
    await sleep(300);
    fw.off('offers', spy);
    t.notOk(early, 'no offer while the 30 s filter holds');
    const back = nextEvent(fw, 'offers', () => true, 2_000);
    await fw.revive();
    const [[offer]] = await back;
    t.equal(offer!.agentId, agentId);
    await fw.decline([offer!.id], { refuseSeconds: 0 });
  });

  await t.test('suppress stops offers until revive', async (t) => {
    await nextEvent(fw, 'offers').then(([offers]) => fw.decline(offers.map((o) => o.id), { refuseSeconds: 0 }));
    await fw.suppress();
    // An offer already in flight may land just after suppress; wait past it.
    await sleep(200);
    let offered = 0;
    const count = (offers: Offer[]) => {
      offered += offers.length;
      for (const o of offers) void fw.decline([o.id], { refuseSeconds: 0 });
    };
    fw.on('offers', count);
    await sleep(600);
    fw.off('offers', count);
    t.equal(offered, 0, 'no offers while suppressed (allocation runs every 100 ms)');
    const suppressed = async () => (await cluster.state()).frameworks.find((f) => f.id === fw.frameworkId)!.suppressedRoles;
    t.same(await suppressed(), ['*'], '/state shows the suppressed role');
    const back = nextEvent(fw, 'offers', () => true, 2_000);
    await fw.revive();
    const [[offer]] = await back;
    await fw.decline([offer!.id], { refuseSeconds: 0 });
    t.same(await suppressed(), [], 'and no longer after the revive');
  });

  await t.test("an agent's outstanding offers are rescinded when it disconnects", async (t) => {
    const extra = await cluster.addAgent({ hostname: 'beta' });
    const betaOffer = await pool.take((o) => o.hostname === 'beta');
    const rescinded = nextEvent(fw, 'rescind', (id) => id === betaOffer.id);
    await extra.stop();
    const [id] = await rescinded;
    t.equal(id, betaOffer.id);
    const state = await cluster.state();
    const beta = state.agents.find((a) => a.hostname === 'beta')!;
    t.equal(beta.active, false, 'the agent is shown inactive');
    t.equal(beta.offered, '', 'and nothing of it is offered');
  });

  await t.test('reconciliation answers with the latest state, explicit and implicit', async (t) => {
    const offer = await pool.take((o) => o.agentId === agentId);
    const task = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'sleep 30' });
    const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
    await fw.launch(offer, [task], { refuseSeconds: 0 });
    await running;

    const explicit = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.reason === 'RECONCILIATION');
    const unknown = nextEvent(fw, 'update', (s) => s.taskId === 'never-launched');
    await fw.reconcile([{ taskId: task.taskId, agentId }, { taskId: 'never-launched' }]);
    const [[known], [lost]] = await Promise.all([explicit, unknown]);
    t.equal(known.state, 'RUNNING');
    t.equal(known.source, 'MASTER');
    t.equal(known.uuid, undefined, 'master-made answers need no acknowledgement');
    t.equal(lost.state, 'LOST');
    t.equal(lost.reason, 'TASK_UNKNOWN');

    const implicit = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.reason === 'RECONCILIATION');
    await fw.reconcile();
    t.equal((await implicit)[0].state, 'RUNNING');

    const killed = updatesUntil(fw, task.taskId, 'KILLED');
    await fw.kill(task.taskId);
    await killed;
  });
});
