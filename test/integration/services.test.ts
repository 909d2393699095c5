// The services framework against a real master and three process agents in this process: deploy,
// placement under constraints, replacement with backoff, health-check kills, rolling restarts
// within the upgrade strategy, offer suppression, and surviving its own restart.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppDetails } from '../../src/frameworks/services/app-view.js';
import { eventually, startCluster, type TestCluster } from '../helpers/cluster.js';
import { freePortResource, startServices, tcpOpen, TCP_SERVER_COMMAND, type ServicesUnderTest } from '../helpers/frameworks.js';

const AGENTS = [
  { hostname: 'h1', attributes: 'rack:r1;zone:z1' },
  { hostname: 'h2', attributes: 'rack:r1;zone:z2' },
  { hostname: 'h3', attributes: 'rack:r2;zone:z1' },
];
/** Health checks that answer within a second; failures while the server starts do not count. */
const FAST_TCP_CHECK = { type: 'tcp', delaySeconds: 0.1, intervalSeconds: 0.2, timeoutSeconds: 1, maxConsecutiveFailures: 2, gracePeriodSeconds: 10 };

const hostsOf = (d: AppDetails) => d.instanceList.map((i) => i.hostname).sort();
const healthyCount = (d: AppDetails) => d.instanceList.filter((i) => i.state === 'RUNNING' && !i.killReason && (i.health === 'healthy' || i.health === 'running')).length;

async function settled(s: ServicesUnderTest, id: string, timeoutMs = 20_000): Promise<AppDetails> {
  return eventually(`${id} to be running with every instance healthy`, () => {
    const d = s.fw.show(id);
    return d.status === 'running' ? d : undefined;
  }, timeoutMs, 50);
}

t.test('the services framework on a master and three agents', async (t) => {
  const cluster: TestCluster = await startCluster(t, []);
  for (const a of AGENTS) await cluster.addAgent({ ...a, resources: `cpus:4;mem:4096;${await freePortResource(12)}` });
  let services = await startServices(t, cluster.master.address);
  const frameworkId = services.fw.id!;

  await t.test('deploys an app with hostname:UNIQUE: one instance per host, each serving on its port', async (t) => {
    const outcome = services.fw.deploy({
      id: 'web', instances: 3, command: TCP_SERVER_COMMAND, ports: 1, resources: { cpus: 0.1, mem: 64 },
      healthCheck: FAST_TCP_CHECK, constraints: ['hostname:UNIQUE'], killGraceSeconds: 1,
    });
    t.same(outcome, { id: 'web', version: 1, change: 'created' });
    const d = await settled(services, 'web');
    t.same(hostsOf(d), ['h1', 'h2', 'h3']);
    for (const i of d.instanceList) {
      t.equal(i.health, 'healthy', `${i.taskId} is healthy`);
      t.equal(i.ports.length, 1);
      t.ok(await tcpOpen(i.ports[0]!), `${i.taskId} accepts connections on its port ${i.ports[0]}`);
    }
  });

  await t.test('suppresses offers when no app needs any', async (t) => {
    await eventually('the framework suppressed at the master', () => cluster.master.core.view.suppressedRoles(frameworkId).includes('*'));
    t.pass('suppressed');
  });

  await t.test('show says which constraint no offer met for a pending instance, and scaling back clears it', async (t) => {
    services.fw.scale('web', 4);
    const d = await eventually('reasons for the 4th instance', () => {
      const x = services.fw.show('web');
      return x.pending.count === 1 && x.pending.reasons.length === 3 ? x : undefined;
    }, 10_000);
    t.equal(cluster.master.core.view.suppressedRoles(frameworkId).includes('*'), false, 'revived while an instance waits');
    for (const r of d.pending.reasons) t.match(r.reason, /^constraint hostname:UNIQUE: an instance already runs where hostname is h\d/, `${r.hostname}: ${r.reason}`);
    services.fw.scale('web', 3);
    const after = await settled(services, 'web');
    t.equal(after.pending.count, 0);
    t.same(after.pending.reasons, []);
  });

  await t.test('an instance killed behind its back is replaced', async (t) => {
    const before = services.fw.show('web');
    const victim = before.instanceList[0]!;
    const agent = cluster.agents.find((a) => a.agentId() === victim.agentId)!;
    agent.runner.kill(frameworkId, victim.taskId, 0);
    const d = await eventually('a replacement', () => {
      const x = services.fw.show('web');
      return x.status === 'running' && !x.instanceList.some((i) => i.taskId === victim.taskId) ? x : undefined;
    }, 15_000, 50);
    t.same(hostsOf(d), ['h1', 'h2', 'h3'], 'the replacement went to the host left free');
    const ended = d.ended.find((e) => e.taskId === victim.taskId);
    t.equal(ended?.state, 'KILLED');
    t.equal(ended?.failure, true, 'counted as a failure');
  });

  await t.test('an instance failing its health check is killed by the agent and replaced', async (t) => {
    services.fw.deploy({
      id: 'checked', instances: 1, command: 'sleep 600', resources: { cpus: 0.1, mem: 32 }, backoffSeconds: 0.1,
      healthCheck: { type: 'command', command: 'test ! -f sick', delaySeconds: 0, intervalSeconds: 0.2, timeoutSeconds: 1, maxConsecutiveFailures: 2 },
    });
    const first = (await settled(services, 'checked')).instanceList[0]!;
    const agent = cluster.agents.find((a) => a.agentId() === first.agentId)!;
    writeFileSync(join(agent.runner.find(first.taskId)!.sandboxDir, 'sick'), '');
    const d = await eventually('the sick instance replaced by a healthy one', () => {
      const x = services.fw.show('checked');
      return x.status === 'running' && x.instanceList[0]?.taskId !== first.taskId ? x : undefined;
    }, 15_000, 50);
    const ended = d.ended.find((e) => e.taskId === first.taskId);
    t.equal(ended?.state, 'KILLED');
    t.equal(ended?.reason, 'HEALTH_CHECK_FAILED');
    services.fw.remove('checked');
  });

  await t.test('a crashing app is relaunched with a growing backoff', async (t) => {
    services.fw.deploy({ id: 'crasher', instances: 1, command: 'sleep 0.1; exit 3', resources: { cpus: 0.1, mem: 32 }, backoffSeconds: 0.3, backoffFactor: 2, maxLaunchDelaySeconds: 5 });
    const d = await eventually('three failures', () => {
      const x = services.fw.show('crasher');
      return x.ended.filter((e) => e.failure).length >= 3 ? x : undefined;
    }, 15_000, 50);
    const ends = d.ended.filter((e) => e.failure).map((e) => e.endedAt);
    t.ok(d.pending.failures >= 3, `failures counted: ${d.pending.failures}`);
    const gaps = ends.slice(1).map((at, i) => at - ends[i]!);
    // Each gap is the backoff (0.3 s, then 0.6 s) plus the run time (0.1 s) and the launch.
    t.ok(gaps[0]! >= 300 && gaps[1]! >= 600, `the gaps between failures grow: ${gaps.join(', ')} ms`);
    t.match(d.ended.at(-1), { state: 'FAILED', failure: true });
    services.fw.remove('crasher');
    await eventually('crasher removed', () => !services.fw.list().some((a) => a.id === 'crasher'), 10_000);
  });

  await t.test('every constraint operator places instances where it allows, and says why not elsewhere', async (t) => {
    const app = (id: string, instances: number, constraints: string[]) =>
      services.fw.deploy({ id, instances, command: 'sleep 600', resources: { cpus: 0.01, mem: 8 }, constraints });
    app('cluster', 2, ['rack:CLUSTER:r2']);
    app('like', 2, ['hostname:LIKE:h[12]', 'hostname:UNIQUE']);
    app('unlike', 1, ['rack:UNLIKE:r1']);
    app('groupby', 2, ['rack:GROUP_BY:2']);
    app('maxper', 3, ['zone:MAX_PER:1']);
    const placed = async (id: string, n: number) =>
      eventually(`${id}: ${n} running`, () => {
        const d = services.fw.show(id);
        return d.instanceList.filter((i) => i.state === 'RUNNING').length === n ? d : undefined;
      }, 15_000, 50);
    t.same(hostsOf(await placed('cluster', 2)), ['h3', 'h3'], 'CLUSTER:r2 → only h3');
    t.same(hostsOf(await placed('like', 2)), ['h1', 'h2'], 'LIKE h[12] with UNIQUE → h1 and h2');
    t.same(hostsOf(await placed('unlike', 1)), ['h3'], 'UNLIKE r1 → h3');
    const racks = (await placed('groupby', 2)).instanceList.map((i) => (i.hostname === 'h3' ? 'r2' : 'r1')).sort();
    t.same(racks, ['r1', 'r2'], 'GROUP_BY:2 → one per rack');
    const maxper = await placed('maxper', 2);
    t.same(maxper.instanceList.map((i) => (i.hostname === 'h2' ? 'z2' : 'z1')).sort(), ['z1', 'z2'], 'MAX_PER:1 on zone → one per zone');
    const pending = await eventually('maxper reasons', () => {
      const d = services.fw.show('maxper');
      return d.pending.count === 1 && d.pending.reasons.length === 3 ? d : undefined;
    }, 10_000);
    t.ok(pending.pending.reasons.every((r) => /constraint zone:MAX_PER:1: zone z\d already has 1 of at most 1 instances/.test(r.reason)), 'the third waits, and says MAX_PER is why');
    for (const id of ['cluster', 'like', 'unlike', 'groupby', 'maxper']) services.fw.remove(id);
    await eventually('constraint apps removed', () => services.fw.list().length === 1, 10_000);
  });

  await t.test('a rolling restart keeps at least minHealthy healthy and at most maxTotal instances at every change', async (t) => {
    services.fw.deploy({
      id: 'rolling', instances: 4, command: TCP_SERVER_COMMAND, ports: 1, resources: { cpus: 0.1, mem: 64 }, healthCheck: FAST_TCP_CHECK,
      killGraceSeconds: 1, upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0.25 },
    });
    const v1 = await settled(services, 'rolling');
    // What the strategy promises: it kills a healthy old instance only while more than 2 are
    // healthy. An instance can also fail its check on its own (a loaded machine misses the 1 s
    // timeout); that is not the upgrade's doing. So it is checked at every change where the upgrade
    // killed healthy instances: at least 2 are still healthy after it.
    const totals: number[] = [];
    /** Healthy instances left by each change in which the upgrade killed healthy ones. */
    const leftByKills: number[] = [];
    let killedBefore = new Set<string>();
    const sample = () => {
      const d = services.fw.show('rolling');
      const killedHealthy = d.instanceList.filter((i) => i.killReason === 'upgrade' && !killedBefore.has(i.taskId) && i.health === 'healthy');
      totals.push(d.instanceList.length);
      if (killedHealthy.length > 0) leftByKills.push(healthyCount(d));
      killedBefore = new Set(d.instanceList.filter((i) => i.killReason === 'upgrade').map((i) => i.taskId));
    };
    sample();
    services.fw.on('changed', sample);
    t.teardown(() => void services.fw.off('changed', sample));
    t.same(services.fw.restart('rolling'), { id: 'rolling', version: 2, change: 'upgrading' });
    const v2 = await eventually('version 2 everywhere', () => {
      const d = services.fw.show('rolling');
      return d.status === 'running' && d.instanceList.every((i) => i.version === 2) ? d : undefined;
    }, 30_000, 50);
    services.fw.off('changed', sample);
    t.ok(totals.length > 10, `sampled ${totals.length} changes`);
    t.ok(leftByKills.length > 0, `the upgrade killed healthy instances in ${leftByKills.length} change(s)`);
    t.equal(Math.min(...leftByKills), 2, 'it never killed below ceil(4 × 0.5) = 2 healthy, and it used that room');
    t.ok(Math.max(...totals) <= 5, 'never more than 4 + floor(4 × 0.25) = 5 instances');
    t.equal(v2.instanceList.length, 4);
    t.notOk(v2.instanceList.some((i) => v1.instanceList.some((o) => o.taskId === i.taskId)), 'every instance was replaced');
    services.fw.remove('rolling');
    await eventually('rolling removed', () => !services.fw.list().some((a) => a.id === 'rolling'), 10_000);
  });

  await t.test('a bad spec is refused naming the field, and nothing is deployed', async (t) => {
    const before = services.fw.list();
    const bad: [unknown, RegExp][] = [
      [{ id: 'bad', instances: -1, command: 'x' }, /^instances: must be >= 0/],
      [{ id: 'bad', command: 'x', replicas: 2 }, /^replicas: unknown field/],
      [{ id: 'bad', command: 'x', constraints: ['hostname:CLUSTER:h1', 'hostname:CLUSTER:h2'] }, /^constraints: hostname:CLUSTER:h1 and hostname:CLUSTER:h2 cannot both hold/],
    ];
    for (const [spec, message] of bad) {
      const res = await fetch(`${services.api.url}/v1/apps`, { method: 'POST', body: JSON.stringify(spec) });
      const body = (await res.json()) as { error: string; problems: { field: string }[] };
      t.equal(res.status, 422, `refused: ${body.error}`);
      t.match(body.error, message);
    }
    t.same(services.fw.list(), before, 'no app was added or changed');
    const scale = await fetch(`${services.api.url}/v1/apps/web/scale`, { method: 'POST', body: JSON.stringify({ instances: -3 }) });
    t.equal(scale.status, 422, 'a negative scale is refused');
    t.equal(services.fw.show('web').instances, 3);
    t.equal((await fetch(`${services.api.url}/v1/apps/nope`)).status, 404, 'an unknown app is a 404');
  });

  await t.test('survives its own restart: same framework id, same instances, and what ended meanwhile is replaced', async (t) => {
    const before = services.fw.show('web');
    const stop = services.restart();
    // While no framework runs, one instance dies: its update waits at the agent for the framework.
    const victim = before.instanceList[0]!;
    services = await stop;
    t.equal(services.fw.id, frameworkId, 're-subscribed with its framework id');
    cluster.agents.find((a) => a.agentId() === victim.agentId)!.runner.kill(frameworkId, victim.taskId, 0);
    const d = await eventually('the instance that ended replaced', () => {
      const x = services.fw.show('web');
      return x.status === 'running' && !x.instanceList.some((i) => i.taskId === victim.taskId) ? x : undefined;
    }, 15_000, 50);
    const kept = before.instanceList.slice(1).map((i) => i.taskId).sort();
    t.same(d.instanceList.filter((i) => kept.includes(i.taskId)).map((i) => i.taskId).sort(), kept, 'the other instances are the same tasks');
    t.same(hostsOf(d), ['h1', 'h2', 'h3']);
    const state = await cluster.state();
    t.equal(state.frameworks.filter((f) => f.name === 'orbit-services').length, 1, 'one framework at the master, not two');
  });

  await t.test('remove kills every instance and forgets the app', async (t) => {
    const taskIds = services.fw.show('web').instanceList.map((i) => i.taskId);
    services.fw.remove('web');
    await eventually('web gone', () => services.fw.list().length === 0, 10_000);
    const state = await cluster.state();
    const f = state.frameworks.find((x) => x.id === frameworkId)!;
    t.same(f.tasks.filter((x) => taskIds.includes(x.id)), [], 'no instance left at the master');
    await eventually('suppressed again', () => cluster.master.core.view.suppressedRoles(frameworkId).includes('*'));
  });

  await t.test('an http health check marks instances healthy', async (t) => {
    const server = `exec '${process.execPath}' -e 'require("http").createServer((q, r) => { r.statusCode = q.url === "/health" ? 200 : 404; r.end(); }).listen(Number(process.env.PORT0), "127.0.0.1")'`;
    services.fw.deploy({ id: 'http', instances: 1, command: server, ports: 1, resources: { cpus: 0.1, mem: 64 }, healthCheck: { ...FAST_TCP_CHECK, type: 'http', path: '/health' } });
    const d = await settled(services, 'http');
    t.equal(d.instanceList[0]?.health, 'healthy');
  });

  await t.test('after the master retired its framework id, it subscribes afresh and relaunches its apps', async (t) => {
    const old = services.fw.show('http').instanceList[0]!.taskId;
    services.fw.stop();
    await cluster.master.core.teardownFramework(frameworkId);
    services = await services.restart();
    t.not(services.fw.id, frameworkId, 'a new framework id');
    const d = await settled(services, 'http');
    t.not(d.instanceList[0]!.taskId, old, 'a new instance');
    t.match(d.ended.find((e) => e.taskId === old), { state: 'LOST', reason: 'FRAMEWORK_REMOVED', failure: false });
  });
});
