/**
 * Masters in HA on a real etcd, in this process: one leads, the others refuse with NOT_LEADER
 * and a hint (gRPC) or redirect (HTTP); agents and frameworks given the list follow the leader,
 * and when it goes, the next one takes over with every task untouched.
 */
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { notLeaderHint, parseMasterList, statusReason } from '../../src/common/connection.js';
import { agentSecurity } from '../../src/agent/enrollment.js';
import { silentLogger } from '../../src/common/logging.js';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import { testCa } from '../helpers/pki.js';
import { orbitV1 } from '../../src/common/proto.js';
import type { ClusterStateView } from '../../src/common/state-view.js';
import { SchedulerClient } from '../../src/framework-sdk/index.js';
import { eventually, startAgentForTest, tempDir } from '../helpers/cluster.js';
import { frameworkWithRunningTask, leaderOf, startHaMasters } from '../helpers/ha.js';
import { startEtcd } from '../helpers/etcd.js';
import { testFetch } from '../helpers/http-client.js';
import { OPERATOR, testChannel, testSecurity } from '../helpers/pki.js';

/** GetState on one master, as a raw client: the status and the NOT_LEADER hint. */
function getState(address: string): Promise<{ code: grpc.status; hint: { leader?: string } | undefined; reason: string | undefined }> {
  const client = new (orbitV1().Operator)(address, testChannel(OPERATOR));
  return new Promise((resolve) => {
    client.GetState({}, { deadline: Date.now() + 5_000 }, (err) => {
      client.close();
      resolve({ code: err ? err.code : grpc.status.OK, hint: err ? notLeaderHint(err) : undefined, reason: err ? statusReason(err) : undefined });
    });
  });
}

t.test('one master leads; standbys refuse with NOT_LEADER naming it, redirect HTTP to it, and say so on /health', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const masters = await startHaMasters(t, etcd, 3);
  const leader = await leaderOf(masters);
  const standbys = masters.filter((m) => m !== leader);
  await eventually('the standbys know the leader', () => standbys.every((m) => m.health().leader?.masterId === leader.masterId));

  t.equal((await getState(leader.address)).code, grpc.status.OK, 'the leader answers');
  for (const standby of standbys) {
    const refused = await getState(standby.address);
    t.equal(refused.code, grpc.status.UNAVAILABLE, 'a standby refuses with UNAVAILABLE');
    t.equal(refused.reason, 'NOT_LEADER');
    t.same(refused.hint, { leader: leader.address }, 'and names the leader');

    const health = (await (await testFetch(`http://127.0.0.1:${standby.httpPort}/health`)).json()) as { role: string; leader: { address: string } };
    t.equal(health.role, 'standby');
    t.equal(health.leader.address, leader.address);
    const redirect = await testFetch(`http://127.0.0.1:${standby.httpPort}/state?x=1`, { redirect: 'manual' });
    t.equal(redirect.status, 307, 'HTTP is redirected');
    t.equal(redirect.headers.get('location'), `https://127.0.0.1:${leader.httpPort}/state?x=1`);
    const metrics = await testFetch(`http://127.0.0.1:${standby.httpPort}/metrics`, { redirect: 'manual' });
    t.equal(metrics.status, 200, 'a standby serves its own /metrics, not the leader’s');
    t.match(await metrics.text(), /^orbit_master_leader 0$/m);
  }
  const masterViews = await eventually('the leader sees every master healthy', async () => {
    const state = (await (await testFetch(`http://127.0.0.1:${leader.httpPort}/state`)).json()) as ClusterStateView;
    return state.masters?.length === 3 && state.masters.every((m) => m.healthy) ? state.masters : undefined;
  });
  t.equal(masterViews[0]!.masterId, leader.masterId, '/state lists the leader first');
  t.same(masterViews.map((m) => m.role), ['leader', 'standby', 'standby'], 'and each master with its role');
  t.same(new Set(masterViews.map((m) => m.masterId)), new Set(masters.map((m) => m.masterId)));
  await standbys[0]!.stop();
  await eventually('a stopped standby leaves the list (its member key is revoked)', async () => {
    const state = (await (await testFetch(`http://127.0.0.1:${leader.httpPort}/state`)).json()) as ClusterStateView;
    return state.masters?.length === 2;
  });
  t.match(await (await testFetch(`http://127.0.0.1:${leader.httpPort}/metrics`)).text(), /^orbit_master_leader 1$/m, 'the leader says it leads');
  const health = (await (await testFetch(`http://127.0.0.1:${leader.httpPort}/health`)).json()) as { role: string; epoch: number };
  t.equal(health.role, 'leader');
  t.equal(health.epoch, leader.core.epoch);
});

t.test('agents and frameworks given the list follow the leader; a failover disturbs no task', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const masters = await startHaMasters(t, etcd, 3);
  const first = await leaderOf(masters);
  // The list starts with a standby: the clients must follow the hint.
  const list = [...masters.filter((m) => m !== first), first].map((m) => m.address).join(',');

  const agent = await startAgentForTest(t, list, { hostname: 'ha-agent' });
  const agentId = await agent.registered(10_000);
  const { fw, task, updates } = await frameworkWithRunningTask(t, list, 'ha');
  const before = first.core.view.task(fw.frameworkId!, task.taskId);
  const firstEpoch = first.core.epoch;

  let offersAfter = 0;
  await first.stop();
  fw.on('offers', () => offersAfter++);
  const rest = masters.filter((m) => m !== first);
  const second = await leaderOf(rest);
  t.ok(second.core.epoch > firstEpoch, 'the new leader has a higher epoch');
  await eventually('the agent re-registers with the new leader', () => second.core.view.agent(agentId)?.state === 'active');
  await eventually('the framework re-subscribes', () => second.core.view.framework(fw.frameworkId!)?.state === 'subscribed');
  await eventually('the agent follows the new epoch', () => agent.link.epoch === second.core.epoch);
  const after = second.core.view.task(fw.frameworkId!, task.taskId);
  t.equal(after?.state, 'RUNNING', 'the new leader knows the task as RUNNING');
  t.equal(after?.agentId, before?.agentId);
  // An offer from the new leader: the cluster works again.
  await eventually('an offer from the new leader', () => offersAfter > 0);
  t.same(updates.filter((s) => s.taskId === task.taskId && s.state !== 'RUNNING').map((s) => s.state), [], 'no LOST, UNREACHABLE or KILLED for the task');
});

t.test('etcd down under load: masters refuse with NOT_LEADER naming etcd, tasks keep running, and the cluster carries on when etcd is back', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const masters = await startHaMasters(t, etcd, 2);
  await leaderOf(masters);
  const list = masters.map((m) => m.address).join(',');
  const agent = await startAgentForTest(t, list, { hostname: 'etcd-outage' });
  const agentId = await agent.registered(10_000);
  const { fw, task, updates } = await frameworkWithRunningTask(t, list, 'outage');

  // Load: operator calls on every master all through the outage; each must be answered or refused with a reason.
  const outcomes: { code: grpc.status; reason: string | undefined }[] = [];
  let loading = true;
  const load = (async () => {
    while (loading) {
      for (const m of masters) outcomes.push(await getState(m.address));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  await etcd.halt('SIGKILL');
  await eventually('every master stops leading', () => masters.every((m) => m.health().role !== 'leader'), 10_000);
  const refused = await getState(masters[0]!.address);
  t.equal(refused.code, grpc.status.UNAVAILABLE, 'a call is refused with UNAVAILABLE');
  t.equal(refused.reason, 'NOT_LEADER');
  t.match(masters[0]!.health().etcdProblem, /./, '/health says what is wrong with etcd');
  const client = new (orbitV1().Operator)(masters[0]!.address, testChannel(OPERATOR));
  const details = await new Promise<string>((resolve) => client.GetState({}, { deadline: Date.now() + 5_000 }, (err) => resolve(err?.details ?? '')));
  client.close();
  t.match(details, /cannot reach etcd/, 'and the refusal names etcd');
  t.equal(agent.link.isConnected, false, 'the agent has no leader to talk to');

  await etcd.start();
  const leader = await leaderOf(masters);
  await eventually('the agent is back', () => leader.core.view.agent(agentId)?.state === 'active', 15_000);
  await eventually('the framework is back', () => leader.core.view.framework(fw.frameworkId!)?.state === 'subscribed', 15_000);
  t.equal(leader.core.view.task(fw.frameworkId!, task.taskId)?.state, 'RUNNING', 'the task ran on through the outage');
  loading = false;
  await load;
  t.same(outcomes.filter((o) => o.code !== grpc.status.OK && o.reason !== 'NOT_LEADER' && o.reason !== 'REGISTRY_UNAVAILABLE'), [], 'every refusal under load carried NOT_LEADER or REGISTRY_UNAVAILABLE');
  t.ok(outcomes.some((o) => o.code === grpc.status.OK) && outcomes.some((o) => o.reason === 'NOT_LEADER'), 'some calls were answered, some refused');
  t.same(updates.filter((s) => s.taskId === task.taskId && s.state !== 'RUNNING').map((s) => s.state), [], 'the framework heard no LOST or UNREACHABLE');
});

t.test('clients given etcd://... read the masters from etcd and find the leader', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const masters = await startHaMasters(t, etcd, 2);
  const leader = await leaderOf(masters);
  const agent = await startAgentForTest(t, etcd.url, { hostname: 'via-etcd' });
  const agentId = await agent.registered(10_000);
  t.equal(leader.core.view.agent(agentId)?.state, 'active', 'the agent registered with the leader');
  const fw = new SchedulerClient({ master: etcd.url, security: OPERATOR, framework: { name: 'via-etcd' } });
  t.teardown(() => fw.close());
  const subscribed = await fw.start();
  t.equal(leader.core.view.framework(subscribed.frameworkId)?.state, 'subscribed', 'the framework subscribed with the leader');

  const empty = new SchedulerClient({ master: etcd.url, security: await testSecurity('framework', 'elsewhere').then((s) => (s.mode === 'tls' ? { ...s, credentials: { ...s.credentials, identity: { ...s.credentials.identity, cluster: 'nowhere' } } } : s)), framework: { name: 'lost' } });
  t.teardown(() => empty.close());
  await t.rejects(empty.start(), /etcd at 'etcd:\/\/127\.0\.0\.1:\d+' lists no master of cluster 'nowhere'/, 'a cluster with no masters in etcd is named in the error');
  t.throws(() => new SchedulerClient({ master: 'etcd://nope', framework: { name: 'x' } }), /master: 'nope' is not HOST:PORT/, 'a malformed etcd URL is refused at once');
});

t.test('tokens live in the registry: a join or API token made on one leader works with the next', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const masters = await startHaMasters(t, etcd, 2);
  const first = await leaderOf(masters);
  const list = masters.map((m) => m.address).join(',');
  const certs = new (orbitV1().Certificates)(first.address, testChannel(OPERATOR));
  const make = (api: boolean) =>
    new Promise<string>((resolve, reject) => certs.CreateToken({ ttlSeconds: 600, description: 'ha', api }, { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res!.token))));
  const joinToken = await make(false);
  const apiToken = await make(true);
  certs.close();

  await first.stop();
  const second = await leaderOf(masters.filter((m) => m !== first));
  const joined = await agentSecurity({ workDir: tempDir(t), masters: parseMasterList(list), hostname: 'joined-after-failover', join: joinToken, log: silentLogger });
  t.match(joined.mode === 'tls' ? joined.credentials.identity : {}, { kind: 'agent', name: /^joined-after-failover-[0-9a-f]{8}$/ }, 'the new leader knows the join token');
  const agent = await startAgentForTest(t, list, { hostname: 'joined-after-failover', security: joined });
  await agent.registered(10_000);

  // A client with no certificate, only the token, trusting the cluster CA (as a browser or Grafana would).
  const caOnly = new UndiciAgent({ connect: { ca: testCa.certPem, checkServerIdentity: () => undefined } });
  t.teardown(() => caOnly.close());
  const state = await undiciFetch(`https://127.0.0.1:${second.httpPort}/state`, { headers: { authorization: `Bearer ${apiToken}` }, dispatcher: caOnly });
  t.equal(state.status, 200, 'the new leader takes the API token');
});
