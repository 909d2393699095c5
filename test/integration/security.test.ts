/**
 * The attacks that worked before security landed, each tried again from outside with an
 * independent gRPC client: every one is refused with UNAUTHENTICATED or PERMISSION_DENIED and
 * changes nothing, while the legitimate framework, agent and operator carry on.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentInfoToProto, statusToProto } from '../../src/common/codec.js';
import type { ClientSecurity } from '../../src/common/credentials.js';
import { createCa, issueCertificate, type Identity } from '../../src/common/pki.js';
import { operatorClients, parseMasterList } from '../../src/common/connection.js';
import { orbitV1 } from '../../src/common/proto.js';
import { parseResources } from '../../src/common/resources.js';
import { buildTask, OrbitCallError, takeResources } from '../../src/framework-sdk/index.js';
import { agentStatus } from '../helpers/builders.js';
import { eventually, OfferPool, sleep, startCluster, updatesUntil } from '../helpers/cluster.js';
import { testCa, TEST_CLUSTER, testCredentials, testSecurity } from '../helpers/pki.js';
import { rawAgentSession, rawOperator, rawScheduler } from '../helpers/raw-grpc.js';
import { testFetch } from '../helpers/http-client.js';
import { Agent, fetch as undiciFetch } from 'undici';

const DAY_MS = 86_400_000;

/**
 * Security that trusts the test CA and expects a master of the test cluster, but presents a
 * certificate signed by `ca` for `identity`.
 */
async function presenting(ca: { certPem: string; keyPem: string }, identity: Identity, now = new Date(), validDays = 1): Promise<ClientSecurity> {
  const issued = await issueCertificate(ca, { identity, now, validDays });
  return { mode: 'tls', credentials: { identity: { ...identity, cluster: TEST_CLUSTER }, caPem: testCa.certPem, ...issued } };
}

t.test('secure by default: identities bound to certificates, deny by default', async (t) => {
  const cluster = await startCluster(t, [{ hostname: 'alpha' }], undefined);
  const alice = await testSecurity('framework', 'alice');
  const mallory = await testSecurity('framework', 'mallory');
  const victim = await cluster.framework({ name: 'victim', roles: ['alice'], security: alice });
  const pool = new OfferPool(victim);
  const offer = await pool.take(() => true);
  const task = buildTask({ offer, resources: takeResources(offer, 'cpus:0.1;mem:32')!, command: 'sleep 60' });
  const running = updatesUntil(victim, task.taskId, 'RUNNING');
  await victim.launch(offer, [task]);
  await running;
  const { frameworkId, streamId } = await victim.start();
  const realAgent = cluster.agents[0]!;
  const agentId = realAgent.agentId()!;
  const before = await cluster.state();
  const auditLog = join(cluster.master.security.pki!.adminCredentialsPath, '..', '..', 'audit.log');

  await t.test('a plaintext client is refused at the handshake', async (t) => {
    const client = new (orbitV1().Operator)(cluster.master.address, grpc.credentials.createInsecure());
    t.teardown(() => client.close());
    const err = await new Promise<grpc.ServiceError | null>((resolve) => client.GetState({}, { deadline: Date.now() + 3_000 }, (e) => resolve(e)));
    t.equal(err?.code, grpc.status.UNAVAILABLE, 'no answer over plaintext');
  });

  await t.test('a certificate from another CA, an expired one and one of another cluster are UNAUTHENTICATED', async (t) => {
    const otherCa = await createCa(TEST_CLUSTER, new Date(), 1);
    const cases: [string, ClientSecurity, RegExp][] = [
      ['another CA', await presenting(otherCa, { cluster: TEST_CLUSTER, kind: 'operator', name: 'admin' }), /no client certificate signed by this cluster's CA/],
      ['an expired certificate', { mode: 'tls', credentials: await testCredentials('operator', 'old', 1, new Date(Date.now() - 3 * DAY_MS)) }, /no client certificate signed by this cluster's CA/],
      ['another cluster', await presenting(testCa, { cluster: 'elsewhere', kind: 'operator', name: 'admin' }), /names no identity of cluster 'orbit'/],
    ];
    for (const [what, security, message] of cases) {
      for (const method of ['GetState', 'TeardownFramework']) {
        const r = await rawOperator(t, cluster.master.address, security).call(method, { frameworkId });
        t.equal(r.code, grpc.status.UNAUTHENTICATED, `${what}: ${method} is UNAUTHENTICATED`);
        t.match(r.details, message, `${what}: says why`);
      }
      const s = await rawScheduler(t, cluster.master.address, security).subscribe({ name: 'x', roles: ['*'] });
      t.equal(s.ok ? 'subscribed' : s.code, grpc.status.UNAUTHENTICATED, `${what}: Subscribe is UNAUTHENTICATED`);
    }
    // A fake agent without a certificate of this cluster registers nothing, so is sent no task.
    const fake = rawAgentSession(t, cluster.master.address, await presenting(otherCa, { cluster: TEST_CLUSTER, kind: 'agent', name: 'fake' }));
    fake.send({ register: { info: agentInfoToProto({ id: '', hostname: 'fake', resources: parseResources('cpus:64;mem:65536'), attributes: [], httpPort: 0, containerizers: ['process'] }) } });
    t.equal((await fake.ended).status, grpc.status.UNAUTHENTICATED, "an agent with another CA's certificate cannot open AgentLink");
    t.notOk((await cluster.state()).agents.some((a) => a.hostname === 'fake'), 'and is not admitted');
  });

  await t.test("a framework principal cannot pull the operator's levers", async (t) => {
    const op = rawOperator(t, cluster.master.address, mallory);
    const levers: [string, Record<string, unknown>][] = [
      ['TeardownFramework', { frameworkId }],
      ['MarkAgentGone', { agentId }],
      ['DrainAgent', { agentId }],
      ['SetQuota', { role: 'alice', guarantee: [{ name: 'cpus', type: 'SCALAR', scalar: 1 }] }],
      ['UpdateWeights', { weights: [{ role: 'alice', weight: 5 }] }],
    ];
    for (const [method, request] of levers) {
      const r = await op.call(method, request);
      t.equal(r.code, grpc.status.PERMISSION_DENIED, `${method} is PERMISSION_DENIED`);
      t.match(r.details, /^framework:mallory may not .*: default policy/, `${method}: names the principal and the rule`);
    }
    const after = await cluster.state();
    t.same(after.agents.map((a) => [a.id, a.status]), before.agents.map((a) => [a.id, a.status]), 'the agent is as it was (not gone, not draining)');
    const levels = (roles: typeof before.roles) => roles.map((r) => [r.role, r.weight, r.quota ?? null]);
    t.same(levels(after.roles), levels(before.roles), 'weights and quotas unchanged');
    t.ok(after.frameworks.find((f) => f.id === frameworkId)?.active, 'the victim framework is still subscribed');
  });

  await t.test("a framework principal sees only its own frameworks", async (t) => {
    const clients = operatorClients(parseMasterList(cluster.master.address), mallory);
    t.teardown(() => clients.close());
    const r = await new Promise<{ frameworks: { id: string }[] }>((resolve, reject) => clients.current.GetState({}, (err, res) => (err || !res ? reject(err) : resolve(res))));
    t.same(r.frameworks.map((f) => f.id), [], "mallory sees none of alice's frameworks");
  });

  await t.test("subscribing to another principal's framework is PERMISSION_DENIED and the owner keeps it", async (t) => {
    const thief = await rawScheduler(t, cluster.master.address, mallory).subscribe({ id: frameworkId, name: 'victim', roles: ['alice'] });
    t.equal(thief.ok ? 'subscribed' : thief.code, grpc.status.PERMISSION_DENIED);
    t.match(thief.ok ? '' : thief.details, /belongs to 'framework:alice', not framework:mallory/);
    const kill = await rawScheduler(t, cluster.master.address, mallory).call('Kill', { header: { frameworkId, streamId }, taskId: task.taskId });
    t.equal(kill.code, grpc.status.PERMISSION_DENIED, "a call with the victim's header is refused too");
    await sleep(300);
    const state = await cluster.state();
    const f = state.frameworks.find((x) => x.id === frameworkId)!;
    t.ok(f.active, 'the victim is still subscribed');
    t.equal(f.principal, 'framework:alice', 'bound to the principal that made it');
    t.equal(f.tasks.find((x) => x.id === task.taskId)?.state, 'RUNNING', "the victim's task still runs");
  });

  await t.test('a framework may not subscribe under a role that is not its own, nor run a task as root', async (t) => {
    const wrongRole = await rawScheduler(t, cluster.master.address, mallory).subscribe({ name: 'greedy', roles: ['alice'] });
    t.equal(wrongRole.ok ? 'subscribed' : wrongRole.code, grpc.status.PERMISSION_DENIED, "mallory may not take alice's role");
    t.match(wrongRole.ok ? '' : wrongRole.details, /may not register a framework under role 'alice'/);
    const offer2 = await pool.take((o) => o.agentId === agentId);
    const root = buildTask({ offer: offer2, resources: takeResources(offer2, 'cpus:0.1;mem:32')!, command: 'id -u > /tmp/owned', user: 'root' });
    const err = await victim.launch(offer2, [root]).then(() => undefined, (e: unknown) => e);
    t.ok(err instanceof OrbitCallError && err.reason === 'PERMISSION_DENIED', 'a launch as root is PERMISSION_DENIED');
    t.match((err as Error).message, /framework:alice may not run task .* as user 'root'/);
    const state = await cluster.state();
    t.notOk(state.frameworks.flatMap((f) => [...f.tasks, ...f.completedTasks]).some((x) => x.id === root.taskId), 'nothing was launched');
    await victim.decline([offer2.id]).catch(() => undefined);
  });

  await t.test('AgentLink takes agents only, bound to the id they registered', async (t) => {
    const asFramework = rawAgentSession(t, cluster.master.address, mallory);
    asFramework.send({ register: { info: agentInfoToProto({ id: '', hostname: 'fake', resources: parseResources('cpus:64;mem:65536'), attributes: [], httpPort: 0, containerizers: ['process'] }) } });
    t.equal((await asFramework.ended).status, grpc.status.PERMISSION_DENIED, 'a framework certificate cannot open AgentLink');

    const evil = await testSecurity('agent', 'evil');
    const hijack = rawAgentSession(t, cluster.master.address, evil);
    hijack.send({ reregister: { info: agentInfoToProto({ id: agentId, hostname: 'alpha', resources: parseResources('cpus:64;mem:65536'), attributes: [], httpPort: 0, containerizers: ['process'] }), tasks: [], frameworks: [] } });
    const ended = await hijack.ended;
    t.match(ended.refused, /is bound to agent:test-agent; agent:evil may not re-register it/, 're-registering under another agent id is refused');
    const state = await cluster.state();
    const real = state.agents.find((a) => a.id === agentId)!;
    t.equal(real.status, 'active', 'the real agent is still connected');
    t.equal(real.resources, before.agents.find((a) => a.id === agentId)!.resources, 'no phantom resources');

    // A fresh agent of its own may register, but may not speak for another agent's task.
    const own = rawAgentSession(t, cluster.master.address, evil);
    own.send({ register: { info: agentInfoToProto({ id: '', hostname: 'evil', resources: parseResources('cpus:1;mem:64'), attributes: [], httpPort: 0, containerizers: ['process'] }) } });
    await eventually('the evil agent registered', async () => ((await cluster.state()).agents.some((a) => a.hostname === 'evil') ? true : undefined));
    const seen: string[] = [];
    victim.on('update', (s) => {
      if (s.taskId === task.taskId) seen.push(s.state);
    });
    own.send({ statusUpdate: { status: statusToProto(agentStatus({ frameworkId, taskId: task.taskId, state: 'FAILED', timestamp: Date.now(), uuid: 'forged-1' })) } });
    await sleep(500);
    t.same(seen, [], "the forged update never reached the task's framework");
    const after = await cluster.state();
    t.equal(after.frameworks.find((f) => f.id === frameworkId)!.tasks.find((x) => x.id === task.taskId)?.state, 'RUNNING', 'the task is still RUNNING at the master');
    own.close();
  });

  await t.test("the HTTP ports need a certificate (or an operator's API token); /health does not", async (t) => {
    const anonymous = new Agent({ connect: { ca: testCa.certPem, checkServerIdentity: () => undefined } });
    t.teardown(() => anonymous.close());
    const get = (url: string, headers: Record<string, string> = {}) => undiciFetch(url, { dispatcher: anonymous, headers, redirect: 'manual' });
    const master = `https://127.0.0.1:${cluster.master.httpPort}`;
    const agent = `https://127.0.0.1:${realAgent.httpPort}`;
    t.equal((await get(`${master}/health`)).status, 200, "the master's /health is open");
    t.equal((await get(`${agent}/health`)).status, 200, "an agent's /health is open");
    for (const url of [`${master}/state`, `${master}/metrics`, `${master}/`, `${agent}/state`, `${agent}/tasks/${task.taskId}/stdout?framework=${frameworkId}`]) {
      const res = await get(url);
      t.equal(res.status, 401, `${url.replace(/^https:\/\/[^/]+/, '')} without a certificate is 401`);
      t.match(((await res.json()) as { error: string }).error, /needs a client certificate/);
    }
    t.equal((await testFetch(`${master}/state`, undefined, mallory)).status, 401, "a framework's certificate does not open the master's HTTP port");
    t.equal((await testFetch(`${agent}/state`)).status, 200, "an operator's certificate opens an agent's");
    const plaintext = await undiciFetch(`http://127.0.0.1:${cluster.master.httpPort}/health`).then((r) => r.status, () => 'refused');
    t.equal(plaintext, 'refused', 'plain HTTP to the TLS port gets no answer');

    const tokens = cluster.master.security.tokens!;
    const { token, info } = await tokens.create({ ttlMs: 60_000, description: 'grafana', nowMs: Date.now(), pin: cluster.master.security.pki!.pin, api: { principal: 'operator:grafana' } });
    t.equal((await get(`${master}/state`, { authorization: `Bearer ${token}` })).status, 200, 'an API token opens /state');
    t.equal((await get(`${master}/state`, { authorization: 'Bearer oat1.aaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' })).status, 401, 'a made-up token does not');
    t.equal((await get(`${agent}/state`, { authorization: `Bearer ${token}` })).status, 401, "agents take no bearer tokens");
    const login = await get(`${master}/login?token=${token}`);
    t.equal(login.status, 303, '/login with a live token redirects to the dashboard');
    t.match(login.headers.get('set-cookie') ?? '', /^orbit_token=oat1\.[a-z0-9.]+; HttpOnly; Secure; SameSite=Strict; Path=\/$/);
    t.equal((await get(`${master}/state`, { cookie: `orbit_token=${token}` })).status, 200, 'the cookie opens the rest');
    t.equal((await get(`${master}/login?token=nope`)).status, 401, '/login with a bad token is 401');
    await tokens.revoke(info.id);
    t.equal((await get(`${master}/state`, { authorization: `Bearer ${token}` })).status, 401, 'a revoked token no longer opens anything');
  });

  await t.test('the legitimate parties still work, and every refusal is in the audit log', async (t) => {
    const next = await pool.take((o) => o.agentId === agentId);
    const ok = buildTask({ offer: next, resources: takeResources(next, 'cpus:0.1;mem:32')!, command: 'true' });
    const done = updatesUntil(victim, ok.taskId, 'FINISHED');
    await victim.launch(next, [ok]);
    t.equal((await done).at(-1)?.state, 'FINISHED', 'alice still launches tasks');
    const admin = await rawOperator(t, cluster.master.address).call('UpdateWeights', { weights: [{ role: 'alice', weight: 2 }] });
    t.equal(admin.code, grpc.status.OK, 'the operator still pulls levers');
    // The audit log is appended through a stream: wait for the last call's line to be written.
    const read = () => readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { principal: string; action: string; result: string });
    await eventually('the operator\'s lever in the audit log', () => read().some((l) => l.principal === 'operator:admin' && l.action === 'update_weights'));
    const lines = read();
    for (const action of ['teardown_framework', 'mark_agent_gone', 'drain_agent', 'update_quota', 'update_weights', 'subscribe', 'accept']) {
      t.ok(lines.some((l) => l.principal.startsWith('framework:') && l.action === action && l.result === 'denied'), `a denied ${action} is audited`);
    }
    t.ok(lines.some((l) => l.principal === 'operator:admin' && l.action === 'update_weights' && l.result === 'allowed'), 'an allowed lever is audited');
  });
});
