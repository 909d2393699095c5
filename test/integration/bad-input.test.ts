import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { orbitV1 } from '../../src/common/proto.js';
import { buildTask, OrbitCallError, type Offer, type TaskSpec } from '../../src/framework-sdk/index.js';
import { nextEvent, OfferPool, startCluster, updatesUntil, atLeastCpus } from '../helpers/cluster.js';
import { testChannel } from '../helpers/pki.js';

t.test('bad calls are refused clearly and the cluster keeps working', async (t) => {
  const cluster = await startCluster(t, [{ hostname: 'alpha' }]);
  const fw = await cluster.framework({ name: 'careless' });
  const agentId = cluster.agents[0]!.agentId();
  const pool = new OfferPool(fw);
  const freshOffer = (cpus = 2): Promise<Offer> => pool.take(atLeastCpus(cpus));
  const small = (offer: Offer, extra: Partial<Parameters<typeof buildTask>[0]> = {}): TaskSpec =>
    buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'true', ...extra });

  let offer = await freshOffer();

  await t.test('accepting an unknown offer drops every task with INVALID_OFFER', async (t) => {
    const task = small(offer);
    const dropped = nextEvent(fw, 'update', (s) => s.taskId === task.taskId);
    await fw.launch({ ...offer, id: 'offer-nonexistent' }, [task], { refuseSeconds: 0 });
    const [status] = await dropped;
    t.equal(status.state, 'DROPPED');
    t.equal(status.reason, 'INVALID_OFFER');
    t.equal(status.source, 'MASTER');
    t.match(status.message, /offer-nonexistent/);
  });

  await t.test('accepting an offer a second time drops the second launch and never double-allocates', async (t) => {
    const first = small(offer);
    const second = small(offer);
    const finished = updatesUntil(fw, first.taskId, 'FINISHED');
    await fw.launch(offer, [first], { refuseSeconds: 0 });
    const dropped = nextEvent(fw, 'update', (s) => s.taskId === second.taskId);
    await fw.launch(offer, [second]);
    const [status] = await dropped;
    t.equal(status.state, 'DROPPED');
    t.equal(status.reason, 'INVALID_OFFER');
    await finished;
    t.notOk(cluster.agents[0]!.runner.find(second.taskId), 'the second task never reached the agent');
  });

  await t.test('a task asking for more than the offer is refused and nothing is launched', async (t) => {
    offer = await freshOffer();
    const task = buildTask({ offer, resources: 'cpus:64;mem:32', command: 'true' });
    const refused = nextEvent(fw, 'update', (s) => s.taskId === task.taskId);
    await fw.launch(offer, [task], { refuseSeconds: 0 });
    const [status] = await refused;
    t.equal(status.state, 'ERROR');
    t.equal(status.reason, 'TASK_INVALID');
    t.match(status.message, /cpus: requested 64, available 2/);
    t.notOk(cluster.agents[0]!.runner.find(task.taskId), 'the agent never saw it');
  });

  await t.test('a duplicate task id is refused while the first task is active', async (t) => {
    offer = await freshOffer();
    const first = small(offer, { taskId: 'dup-1', command: 'sleep 5' });
    const running = nextEvent(fw, 'update', (s) => s.taskId === 'dup-1' && s.state === 'RUNNING');
    await fw.launch(offer, [first], { refuseSeconds: 0 });
    await running;
    offer = await freshOffer(1);
    const again = small(offer, { taskId: 'dup-1' });
    const refused = nextEvent(fw, 'update', (s) => s.taskId === 'dup-1' && s.state === 'ERROR');
    await fw.launch(offer, [again], { refuseSeconds: 0 });
    const [status] = await refused;
    t.equal(status.reason, 'TASK_INVALID');
    t.match(status.message, /already used/);
    const killed = nextEvent(fw, 'update', (s) => s.taskId === 'dup-1' && s.state === 'KILLED');
    await fw.kill('dup-1');
    await killed;
  });

  await t.test('the same id twice in one accept launches the first and refuses the second', async (t) => {
    offer = await freshOffer();
    const a = small(offer, { taskId: 'twin' });
    const b = small(offer, { taskId: 'twin' });
    const updates = updatesUntil(fw, 'twin', 'FINISHED');
    await fw.launch(offer, [a, b], { refuseSeconds: 0 });
    const states = (await updates).map((s) => s.state);
    t.ok(states.includes('ERROR'), 'one is refused');
    t.equal(states.filter((s) => s === 'FINISHED').length, 1, 'one runs');
  });

  await t.test('a malformed call gets INVALID_ARGUMENT naming the field', async (t) => {
    offer = await freshOffer();
    const bad = { ...small(offer), taskId: '' };
    const err = await fw.launch(offer, [bad]).then(() => undefined, (e: unknown) => e);
    t.ok(err instanceof OrbitCallError, 'an OrbitCallError');
    t.equal((err as OrbitCallError).code, 'INVALID_ARGUMENT');
    t.match((err as OrbitCallError).message, /operations\[0\]\.launch\.tasks\[0\]\.task_id/);
    const err2 = await fw.decline(['']).then(() => undefined, (e: unknown) => e);
    t.match((err2 as OrbitCallError).message, /offer_ids\[0\]/);
    // A refused call leaves the offer outstanding, as Mesos does; hand it back.
    await fw.decline([offer.id], { refuseSeconds: 0 });
  });

  await t.test('a call on a stale stream is refused with FAILED_PRECONDITION', async (t) => {
    const client = new (orbitV1().Scheduler)(cluster.master.address, testChannel());
    t.teardown(() => client.close());
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      client.Revive({ header: { frameworkId: fw.frameworkId!, streamId: 'stream-stale' } }, (e) => resolve(e));
    });
    t.equal(err?.code, grpc.status.FAILED_PRECONDITION);
    t.match(err?.details, /not the current subscription/);
    const unknown = await new Promise<grpc.ServiceError | null>((resolve) => {
      client.Revive({ header: { frameworkId: 'fw-nope', streamId: 'x' } }, (e) => resolve(e));
    });
    t.equal(unknown?.code, grpc.status.NOT_FOUND);
  });

  await t.test('a subscription without a name is refused naming the field', async (t) => {
    const client = new (orbitV1().Scheduler)(cluster.master.address, testChannel());
    t.teardown(() => client.close());
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      const call = client.Subscribe({ framework: { name: '  ', roles: ['ok', 'bad role!'] } });
      call.on('error', resolve);
      call.on('data', () => undefined);
    });
    t.equal(err.code, grpc.status.INVALID_ARGUMENT);
    t.match(err.details, /framework\.name/);
  });

  await t.test('after all of that the cluster still launches tasks', async (t) => {
    offer = await freshOffer();
    t.equal(offer.agentId, agentId);
    const task = small(offer, { command: 'echo still fine' });
    const updates = await Promise.all([updatesUntil(fw, task.taskId, 'FINISHED'), fw.launch(offer, [task])]);
    t.same(updates[0].map((s) => s.state), ['STARTING', 'RUNNING', 'FINISHED']);
    const state = await cluster.state();
    t.equal(state.agents[0]!.used, '', 'nothing is left allocated');
  });
});
