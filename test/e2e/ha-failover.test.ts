/**
 * Three `orbit master --registry etcd://...` processes on a real etcd, an `orbit agent` process
 * given the list, and a framework on the SDK. The leader is killed with SIGKILL, then the next one
 * is paused past its lease and resumed: each time another master takes over, the agent and the
 * framework follow it, the task keeps running and the framework hears nothing but RUNNING, and at
 * no moment do two masters say they lead.
 */
import t from 'tap';
import { buildTask, SchedulerClient, type TaskStatus } from '../../src/framework-sdk/index.js';
import type { ClusterStateView } from '../../src/common/state-view.js';
import { agentProcesses } from '../helpers/agent-cli.js';
import { freePorts, runOrbit, spawnOrbit, type OrbitProcess } from '../helpers/cli.js';
import { eventually, nextEvent, tempDir } from '../helpers/cluster.js';
import { startEtcd } from '../helpers/etcd.js';
import { testFetch } from '../helpers/http-client.js';
import { OPERATOR } from '../helpers/pki.js';

interface MasterProc {
  process: OrbitProcess;
  address: string;
  httpPort: number;
}

interface Health {
  role: string;
  masterId: string;
  epoch: number;
}

async function json<T>(url: string): Promise<T | undefined> {
  try {
    const res = await testFetch(url, { signal: AbortSignal.timeout(1_000) });
    return res.ok ? ((await res.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}

const etcd = await startEtcd();
t.teardown(() => etcd.stop());

const masters: MasterProc[] = [];
for (let i = 0; i < 3; i++) {
  const [port, httpPort] = (await freePorts(2)) as [number, number];
  const process = spawnOrbit(t, [
    'master', '--port', String(port), '--http-port', String(httpPort), '--work-dir', tempDir(t, 'orbit-ha-master-'),
    '--registry', etcd.url, '--allocation-interval', '0.1', '--heartbeat-interval', '1', '--log-level', 'info',
  ]);
  masters.push({ process, address: `127.0.0.1:${port}`, httpPort });
}
const list = masters.map((m) => m.address).join(',');
const alive = new Set(masters);

/** The masters that say they lead now (asserted to be at most one every time it is asked). */
async function leaders(): Promise<MasterProc[]> {
  const roles = await Promise.all([...alive].map(async (m) => ({ m, health: await json<Health>(`http://127.0.0.1:${m.httpPort}/health`) })));
  const leading = roles.filter((r) => r.health?.role === 'leader').map((r) => r.m);
  if (leading.length > 1) t.fail(`${leading.length} masters say they lead`);
  return leading;
}

const leader = async (except?: MasterProc): Promise<MasterProc> =>
  eventually('a leader', async () => (await leaders()).find((m) => m !== except), 20_000, 50);

const first = await leader();

const agent = await agentProcesses(t, list, { hostname: 'ha-agent', resources: 'cpus:2;mem:1024;disk:1024;ports:[31000-31009]', containerizers: 'process' });
agent.start();
await eventually('the agent registers', async () => (await agent.state()).connected, 20_000);

const fw = new SchedulerClient({ master: list, security: OPERATOR, framework: { name: 'ha-e2e', failoverTimeoutMs: 120_000 } });
t.teardown(() => fw.close());
await fw.start();
const [[offer]] = await nextEvent(fw, 'offers', () => true, 20_000);
const task = buildTask({ offer: offer!, resources: 'cpus:0.1;mem:32', command: 'sleep 600' });
const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING', 20_000);
await fw.launch(offer!, [task]);
await running;
const updates: TaskStatus[] = [];
fw.on('update', (s) => updates.push(s));
const sandbox = (await agent.state()).tasks.find((x) => x.id === task.taskId)?.containerId;

/** After a failover to `next`: the agent, the framework and the task are all with it, undisturbed. */
async function undisturbed(t: { equal: (a: unknown, b: unknown, m: string) => void; same: (a: unknown, b: unknown, m: string) => void }, next: MasterProc, what: string): Promise<void> {
  let last: ClusterStateView | undefined;
  const state = await eventually(`${what}: the agent and the framework are back with the new leader`, async () => {
    const s = (last = await json<ClusterStateView>(`http://127.0.0.1:${next.httpPort}/state`));
    return s && s.agents[0]?.status === 'active' && s.frameworks[0]?.active ? s : undefined;
  }, 40_000, 100).catch((err: Error) => {
    throw new Error(`${err.message}; the leader's state: agents ${JSON.stringify(last?.agents.map((a) => a.status))}, frameworks ${JSON.stringify(last?.frameworks.map((f) => f.active))}`);
  });
  const view = state.frameworks[0]!.tasks.find((x) => x.id === task.taskId);
  t.equal(view?.state, 'RUNNING', `${what}: the new leader shows the task RUNNING`);
  const onAgent = (await agent.state()).tasks.find((x) => x.id === task.taskId);
  t.equal(onAgent?.state, 'RUNNING', `${what}: the agent still runs it`);
  t.equal(onAgent?.containerId, sandbox, `${what}: the same container, never restarted`);
  t.same(updates.filter((s) => s.taskId === task.taskId && s.state !== 'RUNNING').map((s) => `${s.state} ${s.reason ?? ''}`), [], `${what}: the framework heard no LOST, UNREACHABLE or KILLED`);
}

t.test('kill -9 of the leader: another takes over and nothing is disturbed', async (t) => {
  process.kill(first.process.pid, 'SIGKILL');
  await first.process.exited;
  alive.delete(first);
  const second = await leader();
  t.not(second, first);
  await undisturbed(t, second, 'after kill -9');
});

t.test('a leader paused past its lease: another takes over; resumed, the old one steps down and acts on nothing', async (t) => {
  const paused = await leader();
  const pausedHealth = (await json<Health>(`http://127.0.0.1:${paused.httpPort}/health`))!;
  process.kill(paused.process.pid, 'SIGSTOP');
  alive.delete(paused);
  const next = await leader();
  const nextHealth = (await json<Health>(`http://127.0.0.1:${next.httpPort}/health`))!;
  t.ok(nextHealth.epoch > pausedHealth.epoch, 'the new leader has a higher epoch');
  await undisturbed(t, next, 'while the old leader is paused');

  process.kill(paused.process.pid, 'SIGCONT');
  alive.add(paused);
  const resumed = await eventually('the resumed master answers', () => json<Health>(`http://127.0.0.1:${paused.httpPort}/health`), 10_000, 50);
  t.not(resumed.role, 'leader', 'the resumed master does not lead');
  t.match(paused.process.stdout() + paused.process.stderr(), /stepped down as leader|no longer leading/, 'it stepped down on its own');
  t.equal((await leaders()).length, 1, 'one leader');
  await undisturbed(t, next, 'after the old leader resumed');
});

t.test('the CLI finds the leader from a list that starts with a standby, or from etcd', async (t) => {
  const current = await leader();
  const standbyFirst = [...[...alive].filter((m) => m !== current), current].map((m) => m.address).join(',');
  for (const master of [standbyFirst, etcd.url]) {
    const res = await runOrbit(t, ['agents', '--master', master]);
    t.equal(res.code, 0, `orbit agents --master ${master}: ${res.stderr}`);
    t.match(res.stdout, /ha-agent/, 'lists the agent the leader knows');
  }
  const bad = await runOrbit(t, ['agents', '--master', 'etcd://no-port']);
  t.not(bad.code, 0);
  t.match(bad.stderr, /--master: 'no-port' is not HOST:PORT/, 'a malformed etcd URL is named');
});
