import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { orbitV1 } from '../../src/common/proto.js';
import { resourcesToProto } from '../../src/common/codec.js';
import type { ClusterStateView } from '../../src/common/state-view.js';
import { add, buildTask, formatResources, OrbitCallError, parseResources, type Offer } from '../../src/framework-sdk/index.js';
import { eventually, nextEvent, OfferPool, startCluster, updatesUntil } from '../helpers/cluster.js';
import { testChannel, testMasterSecurity } from '../helpers/pki.js';
import { testFetch } from '../helpers/http-client.js';

/** A raw Operator client for calls the CLI wraps. */
function operator(t: { teardown(fn: () => unknown): void }, address: string) {
  const client = new (orbitV1().Operator)(address, testChannel());
  t.teardown(() => client.close());
  const call = <Req, Res>(fn: (req: Req, cb: (err: grpc.ServiceError | null, res?: Res) => void) => void, req: Req) =>
    new Promise<{ err: grpc.ServiceError | null; res: Res | undefined }>((resolve) => fn.call(client, req, (err, res) => resolve({ err, res })));
  return {
    setQuota: (role: string, guarantee: string, limit = '', force = false) =>
      call(client.SetQuota as never, { role, guarantee: resourcesToProto(parseResources(guarantee)), limit: resourcesToProto(parseResources(limit)), force }),
    setWeight: (role: string, weight: number) => call(client.UpdateWeights as never, { weights: [{ role, weight }] }),
  };
}

t.test('dynamic reservations through RESERVE and UNRESERVE', async (t) => {
  const cluster = await startCluster(t, [{ resources: 'cpus:4;mem:2048' }]);
  const fw = await cluster.framework({ name: 'db', roles: ['db'] });
  const pool = new OfferPool(fw);
  let offer: Offer = await pool.take();
  t.equal(offer.role, 'db');

  await t.test('a RESERVE turns unreserved resources into the role\'s, and a LAUNCH in the same accept uses them', async (t) => {
    const task = buildTask({ offer, resources: 'cpus(db):1;mem(db):256', command: 'sleep 30' });
    const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
    await fw.accept([offer.id], [{ type: 'RESERVE', resources: parseResources('cpus(db):2;mem(db):512') }, { type: 'LAUNCH', tasks: [task] }], { refuseSeconds: 0 });
    await running;
    const state = await cluster.state();
    t.equal(state.agents[0]!.resources, 'cpus:2;cpus(db):2;mem:1536;mem(db):512', 'the agent now shows the reservation');
    offer = await pool.take((o) => formatResources(o.resources).includes('(db)'));
    t.match(formatResources(offer.resources), /cpus\(db\):1/, 'the unused reserved part is offered to the role');

    await t.test('a reservation in use cannot be unreserved', async (t) => {
      const err = await fw.accept([offer.id], [{ type: 'UNRESERVE', resources: parseResources('cpus(db):2') }]).then(() => undefined, (e: unknown) => e);
      t.ok(err instanceof OrbitCallError);
      t.equal((err as OrbitCallError).code, 'INVALID_ARGUMENT');
      t.match((err as OrbitCallError).message, /in use by a task/);
      // A refused call leaves its offer outstanding; hand it back.
      await fw.decline([offer.id], { refuseSeconds: 0 });
    });

    const killed = updatesUntil(fw, task.taskId, 'KILLED');
    await fw.kill(task.taskId);
    await killed;
    await pool.release();
  });

  await t.test('an unused reservation can be unreserved and is unreserved everywhere', async (t) => {
    offer = await pool.take((o) => formatResources(o.resources).includes('cpus(db):2'));
    await fw.accept([offer.id], [{ type: 'UNRESERVE', resources: parseResources('cpus(db):2;mem(db):512') }], { refuseSeconds: 0 });
    const state = await cluster.state();
    t.equal(state.agents[0]!.resources, 'cpus:4;mem:2048');
  });
});

t.test('a static reservation is offered only to its role', async (t) => {
  const cluster = await startCluster(t, [{ resources: 'cpus:2;cpus(analytics):1;mem:1024' }]);
  const analytics = await cluster.framework({ name: 'analytics', roles: ['analytics'] });
  const pool = new OfferPool(analytics);
  const other = await cluster.framework({ name: 'web', roles: ['web'] });
  const seen: Offer[] = [];
  other.on('offers', (offers) => seen.push(...offers));
  const offer = await pool.take((o) => formatResources(o.resources).includes('analytics'));
  t.match(formatResources(offer.resources), /cpus\(analytics\):1/);
  await analytics.suppress();
  await analytics.decline([offer.id], { refuseSeconds: 0 });
  await pool.release();
  await eventually('the other role is offered something', () => seen.length > 0);
  t.notOk(seen.some((o) => formatResources(o.resources).includes('analytics')), 'never to another role');
});

t.test('weights and quota through the Operator service, kept in /state with explanations', async (t) => {
  const cluster = await startCluster(t, [{ resources: 'cpus:4;mem:4096' }]);
  const op = operator(t, cluster.master.address);

  await t.test('weights are set and validated', async (t) => {
    t.equal((await op.setWeight('analytics', 2)).err, null);
    const state = await cluster.state();
    t.equal(state.roles.find((r) => r.role === 'analytics')?.weight, 2);
    const bad = await op.setWeight('analytics', -1);
    t.equal(bad.err?.code, grpc.status.INVALID_ARGUMENT);
    t.match(bad.err?.details, /weight: must be a positive number/);
  });

  await t.test('quota is validated: scalars only, limit not below guarantee, not above the cluster unless forced', async (t) => {
    const ports = await op.setQuota('analytics', 'ports:[31000-31001]');
    t.equal(ports.err?.code, grpc.status.INVALID_ARGUMENT);
    const inverted = await op.setQuota('analytics', 'cpus:2', 'cpus:1');
    t.match(inverted.err?.details, /cpus limit 1 is below its guarantee 2/);
    const huge = await op.setQuota('analytics', 'cpus:100');
    t.equal(huge.err?.code, grpc.status.FAILED_PRECONDITION);
    t.match(huge.err?.details, /exceeds the cluster's cpus 4/);
    t.equal((await op.setQuota('analytics', 'cpus:100', '', true)).err, null, 'unless forced');
    t.equal((await op.setQuota('analytics', 'cpus:1;mem:512', 'cpus:2;mem:1024')).err, null);
    const role = (await cluster.state()).roles.find((r) => r.role === 'analytics')!;
    t.same(role.quota, { guarantee: 'cpus:1;mem:512', limit: 'cpus:2;mem:1024' });
  });

  await t.test('a role is never offered beyond its limit, and a limit below its holdings needs force', async (t) => {
    const fw = await cluster.framework({ name: 'capped', roles: ['analytics'] });
    // The guarantee comes first (quota stage), then fair share up to the limit: two offers, one cycle.
    const [offers] = await nextEvent(fw, 'offers');
    const total = offers.reduce((sum, o) => add(sum, o.resources), parseResources(''));
    t.equal(formatResources(total), 'cpus:2;mem:1024', 'chopped at the limit');
    const below = await op.setQuota('analytics', 'cpus:1', 'cpus:1');
    t.equal(below.err?.code, grpc.status.FAILED_PRECONDITION);
    t.match(below.err?.details, /holds cpus 2, above the new limit 1/);
    await fw.suppress();
    await fw.decline(offers.map((o) => o.id), { refuseSeconds: 0 });
  });

  await t.test('a role that gets nothing says why', async (t) => {
    const fw = await cluster.framework({ name: 'declines', roles: ['batch'] });
    const [[offer]] = await nextEvent(fw, 'offers');
    await fw.decline([offer!.id], { refuseSeconds: 60 });
    // A cycle in which the agent's resources are offered to another role's framework says so
    // ("no agent has resources"); the decline shows in the next one where they are free.
    const role = await eventually('an explanation for batch naming the decline', async () => {
      const r = (await cluster.state()).roles.find((x) => x.role === 'batch');
      return r && r.offersLastCycle === 0 && /declined|skipped/.test(r.explanation.join(' ')) ? r : undefined;
    });
    t.match(role.explanation.join(' '), /declined by its frameworks on 1 agent\(s\)|1 agent\(s\) skipped/);
    await fw.suppress();
    const suppressed = await eventually('suppressed explained', async () => {
      const r = (await cluster.state()).roles.find((x) => x.role === 'batch');
      return r?.explanation.some((e) => /suppressed/.test(e)) ? r : undefined;
    });
    t.ok(suppressed);
  });
});

t.test('an offer outstanding past --offer-timeout is rescinded', async (t) => {
  const { startMaster } = await import('../../src/master/master.js');
  const { startAgentForTest, tempDir } = await import('../helpers/cluster.js');
  const { SchedulerClient } = await import('../../src/framework-sdk/index.js');
  const master = await startMaster({ security: testMasterSecurity(), ip: '127.0.0.1', port: 0, httpPort: 0, workDir: tempDir(t), allocationIntervalMs: 100, offerTimeoutMs: 300 });
  t.teardown(() => master.stop());
  await startAgentForTest(t, master.address).then((a) => a.registered());
  const fw = new SchedulerClient({ master: master.address, framework: { name: 'slow' } });
  t.teardown(() => fw.close());
  await fw.start();
  const [[offer]] = await nextEvent(fw, 'offers');
  const [rescinded] = await nextEvent(fw, 'rescind', (id) => id === offer!.id, 5_000);
  t.equal(rescinded, offer!.id);
});

t.test('weights, quota and dynamic reservations survive a master restart', async (t) => {
  const { startMasterForTest, startAgentForTest, tempDir } = await import('../helpers/cluster.js');
  const { SchedulerClient } = await import('../../src/framework-sdk/index.js');
  const { createServer } = await import('node:net');
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
  const dir = tempDir(t);
  const first = await startMasterForTest(t, dir, port);
  const agent = await startAgentForTest(t, first.address, { resources: 'cpus:4;mem:2048' });
  const agentId = await agent.registered();
  const op = operator(t, first.address);
  t.equal((await op.setWeight('db', 3)).err, null);
  t.equal((await op.setQuota('db', 'cpus:1', 'cpus:3')).err, null);
  const fw = new SchedulerClient({ master: first.address, framework: { name: 'db', roles: ['db'] }, reconnectBaseMs: 50 });
  t.teardown(() => fw.close());
  const pool = new OfferPool(fw);
  await fw.start();
  const offer = await pool.take((o) => o.agentId === agentId);
  await fw.accept([offer.id], [{ type: 'RESERVE', resources: parseResources('cpus(db):1;mem(db):256') }], { refuseSeconds: 0 });
  fw.close();
  await first.stop();

  const second = await startMasterForTest(t, dir, port);
  await eventually('the agent re-registers', () => second.core.view.agent(agentId)?.state === 'active');
  const res = await testFetch(`http://127.0.0.1:${second.httpPort}/state`);
  const state = (await res.json()) as ClusterStateView;
  const db = state.roles.find((r) => r.role === 'db');
  t.equal(db?.weight, 3, 'the weight is back');
  t.same(db?.quota, { guarantee: 'cpus:1', limit: 'cpus:3' }, 'the quota is back');
  t.equal(state.agents.find((a) => a.id === agentId)?.resources, 'cpus:3;cpus(db):1;mem:1792;mem(db):256', 'the reservation is re-applied to the agent');
});
