import t from 'tap';
import { SimulatedContainerizer } from '../../src/agent/containerizer/simulated.js';
import { taskToProto } from '../../src/common/codec.js';
import { orbitV1 } from '../../src/common/proto.js';
import type { Event__Output } from '../../src/gen/orbit/v1/Event.js';
import { buildTask } from '../../src/framework-sdk/index.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import { testChannel } from '../helpers/pki.js';

t.test("the master sends a turn's events to a framework as one batch, in order", async (t) => {
  const cluster = await startCluster(t, [{ resources: 'cpus:4;mem:1024', containerizers: [new SimulatedContainerizer()] }]);
  const client = new (orbitV1().Scheduler)(cluster.master.address, testChannel());
  const call = client.Subscribe({ framework: { name: 'raw', roles: ['*'] } });
  /** Every stream message as it came, and every event with batches taken apart. */
  const messages: Event__Output[] = [];
  const events: Event__Output[] = [];
  call.on('data', (m: Event__Output) => {
    messages.push(m);
    events.push(...(m.event === 'batch' ? m.batch!.events : [m]));
  });
  call.on('error', () => undefined);
  t.teardown(() => {
    call.cancel();
    client.close();
  });

  const offer = (await eventually('an offer', () => events.find((e) => e.event === 'offers')))!.offers!.offers[0]!;
  t.equal(events[0]?.event, 'subscribed', 'SUBSCRIBED comes first');
  const { frameworkId, streamId } = events[0]!.subscribed!;
  const ids = ['batch-a', 'batch-b', 'batch-c'];
  const tasks = ids.map((taskId) => taskToProto(buildTask({ offer: { ...offer, resources: [] }, taskId, resources: 'cpus:0.5;mem:64', simulated: { durationMs: 60_000 } })));
  await new Promise<void>((resolve, reject) =>
    client.Accept({ header: { frameworkId, streamId }, offerIds: [offer.id], operations: [{ launch: { tasks } }] }, (err) => (err ? reject(err) : resolve())),
  );

  const starting = (e: Event__Output) => e.event === 'update' && e.update?.status?.state === 'TASK_STARTING';
  await eventually('three STARTING updates', () => events.filter(starting).length === 3);
  const batch = messages.find((m) => m.event === 'batch' && m.batch!.events.filter(starting).length > 1);
  t.ok(batch, 'updates of tasks launched together came in one stream message');
  t.ok(batch!.batch!.events.every((e) => e.event !== 'batch'), 'a batch holds no batch');
  t.same(events.filter(starting).map((e) => e.update!.status!.taskId), ids, 'in launch order');
  t.notOk(messages.some((m) => m.event === 'batch' && m.batch!.events.length < 2), 'a lone event is sent as it is, never as a batch of one');
});
