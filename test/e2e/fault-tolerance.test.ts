/**
 * Faults with real processes: a framework process killed -9 and started again, an agent process
 * frozen with SIGSTOP, a master killed -9 and restarted, and a proxy between agent and master that
 * drops and duplicates status updates and acknowledgements. After each, the invariants: every
 * launched task reached at most one terminal state as the framework saw it (exactly one once it
 * ended), and no agent has more allocated than it has.
 */
import t from 'tap';
import { chmodSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { orbitV1 } from '../../src/common/proto.js';
import type { AgentMessage__Output } from '../../src/gen/orbit/v1/AgentMessage.js';
import type { MasterMessage__Output } from '../../src/gen/orbit/v1/MasterMessage.js';
import type { ClusterStateView } from '../../src/common/state-view.js';
import { cliBuildProblem, freePorts, spawnOrbit } from '../helpers/cli.js';
import { eventually, startAgentForTest, startMasterForTest, tempDir } from '../helpers/cluster.js';
import { checkInvariants, latestState, updatesByTask } from '../helpers/invariants.js';
import { spawnFramework, type NodeProcess } from '../helpers/processes.js';
import { testChannel, testServerCredentials, AGENT } from '../helpers/pki.js';
import { testFetch } from '../helpers/http-client.js';

// The framework fixture and the CLI run from dist/ (npm test builds it first).
const problem = cliBuildProblem();
if (problem) t.fail(problem);

async function state(httpPort: number): Promise<ClusterStateView> {
  return (await (await testFetch(`http://127.0.0.1:${httpPort}/state`)).json()) as ClusterStateView;
}

const frameworkId = (fw: NodeProcess): string | undefined => fw.events().find((e) => e['event'] === 'subscribed')?.['frameworkId'] as string | undefined;
const latest = latestState;

t.test('a framework process killed -9 and restarted within its failover timeout gets its tasks and missed updates', async (t) => {
  const master = await startMasterForTest(t);
  await startAgentForTest(t, master.address).then((a) => a.registered());
  const first = spawnFramework(t, master.address, { launch: 2, command: 'sleep 3', failoverMs: 60_000 });
  const id = await eventually('the framework subscribes', () => frameworkId(first), 15_000);
  await eventually('both tasks run', () => {
    const running = [...updatesByTask(first).values()].filter((u) => u.some((x) => x.state === 'RUNNING'));
    return running.length === 2;
  }, 15_000);
  const taskIds = [...updatesByTask(first).keys()];
  first.kill('SIGKILL');
  await first.exited;
  // The tasks finish while the framework is away; their FINISHED updates wait, unacknowledged.
  await eventually('the tasks end on the agent', async () => (await state(master.httpPort)).frameworks.find((f) => f.id === id)?.completedTasks.length === 2, 15_000);

  const second = spawnFramework(t, master.address, { id, failoverMs: 60_000 });
  await eventually('the framework re-subscribes under its id', () => frameworkId(second) === id, 15_000);
  for (const taskId of taskIds) {
    await eventually(`the missed FINISHED of ${taskId} is delivered`, () => latest(second, taskId) === 'FINISHED', 15_000);
  }
  const s = await state(master.httpPort);
  t.equal(s.frameworks.find((f) => f.id === id)?.active, true);
  checkInvariants(t, s, [first, second]);
});

t.test('a framework process that stays away past its failover timeout loses its tasks', async (t) => {
  const master = await startMasterForTest(t);
  const agent = await startAgentForTest(t, master.address);
  await agent.registered();
  const fw = spawnFramework(t, master.address, { launch: 1, command: 'sleep 600', failoverMs: 1_000 });
  const id = await eventually('the framework subscribes', () => frameworkId(fw), 15_000);
  await eventually('its task runs', () => [...updatesByTask(fw).values()].some((u) => u.some((x) => x.state === 'RUNNING')), 15_000);
  fw.kill('SIGKILL');
  await fw.exited;
  await eventually('the task is killed after the failover timeout', () => agent.runner.activeTasks().length === 0, 15_000);
  const s = await state(master.httpPort);
  t.notOk(s.frameworks.some((f) => f.id === id), 'the framework is gone');
  t.equal(s.completedFrameworks.find((f) => f.id === id)?.completedTasks[0]?.state, 'KILLED');
  const late = spawnFramework(t, master.address, { id });
  await eventually('a late re-subscription is refused', () => late.events().some((e) => e['event'] === 'error'), 15_000);
  checkInvariants(t, s, [fw], { frameworkGone: true });
});

t.test('an agent frozen with SIGSTOP goes UNREACHABLE, and RUNNING again after SIGCONT', async (t) => {
  const [port, httpPort, agentHttp] = (await freePorts(3)) as [number, number, number];
  const workDir = tempDir(t);
  // Process tasks run as nobody (the agent's default --task-user), who must pass through this
  // private temp dir to reach its sandbox in the agent's work dir below it.
  chmodSync(workDir, 0o711);
  spawnOrbit(t, ['master', '--port', String(port), '--http-port', String(httpPort), '--work-dir', `${workDir}/master`, '--allocation-interval', '0.1', '--agent-ping-timeout', '0.5', '--max-agent-ping-misses', '3', '--log-level', 'warn']);
  const master = `127.0.0.1:${port}`;
  await eventually('the master listens', () => testFetch(`http://127.0.0.1:${httpPort}/health`).then((r) => r.ok, () => false), 15_000);
  const agent = spawnOrbit(t, ['agent', '--master', master, '--work-dir', `${workDir}/agent`, '--http-port', String(agentHttp), '--containerizers', 'process', '--resources', 'cpus:2;mem:1024', '--kill-tasks-on-exit', '--log-level', 'warn']);
  await eventually('the agent registers', async () => (await state(httpPort)).agents.length === 1, 15_000);
  const fw = spawnFramework(t, master, { launch: 1, command: 'sleep 600' });
  await eventually('its task runs', () => [...updatesByTask(fw).values()].some((u) => u.some((x) => x.state === 'RUNNING')), 15_000);
  const [taskId] = [...updatesByTask(fw).keys()];

  process.kill(agent.pid, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(agent.pid, 'SIGCONT');
    } catch {
      // gone
    }
  });
  await eventually('the task is reported UNREACHABLE', () => fw.events().some((e) => e['event'] === 'update' && e['taskId'] === taskId && e['state'] === 'UNREACHABLE'), 20_000);
  t.equal((await state(httpPort)).agents[0]?.status, 'unreachable');
  process.kill(agent.pid, 'SIGCONT');
  await eventually('the task is RUNNING again', () => latest(fw, taskId!) === 'RUNNING', 30_000);
  const s = await state(httpPort);
  t.equal(s.agents[0]?.status, 'active', 'the agent is back');
  t.equal(s.frameworks[0]?.tasks.find((x) => x.id === taskId)?.state, 'RUNNING', 'nothing was killed');
  checkInvariants(t, s, [fw]);
});

t.test('a master killed -9 and restarted gets its agents, frameworks and tasks back', async (t) => {
  const [port, httpPort] = (await freePorts(2)) as [number, number];
  const workDir = tempDir(t);
  const masterArgs = ['master', '--port', String(port), '--http-port', String(httpPort), '--work-dir', `${workDir}/master`, '--allocation-interval', '0.1', '--log-level', 'warn'];
  const first = spawnOrbit(t, masterArgs);
  const master = `127.0.0.1:${port}`;
  await eventually('the master listens', () => testFetch(`http://127.0.0.1:${httpPort}/health`).then((r) => r.ok, () => false), 15_000);
  const agent = await startAgentForTest(t, master);
  const agentId = await agent.registered();
  const fw = spawnFramework(t, master, { launch: 2, command: 'sleep 600' });
  const id = await eventually('the framework subscribes', () => frameworkId(fw), 15_000);
  await eventually('both tasks run', () => [...updatesByTask(fw).values()].filter((u) => u.some((x) => x.state === 'RUNNING')).length === 2, 15_000);

  process.kill(first.pid, 'SIGKILL');
  await first.exited;
  spawnOrbit(t, masterArgs);
  await eventually('the agent is back with its id', async () => {
    const s = await state(httpPort).catch(() => undefined);
    return s?.agents.find((a) => a.id === agentId)?.status === 'active';
  }, 30_000);
  await eventually('the framework is back under its id', async () => (await state(httpPort)).frameworks.find((f) => f.id === id)?.active === true, 30_000);
  const s = await state(httpPort);
  t.same(s.frameworks.find((f) => f.id === id)?.tasks.map((x) => x.state), ['RUNNING', 'RUNNING'], 'both tasks intact');
  t.equal(agent.runner.activeTasks().length, 2, 'nothing was killed on the agent');
  checkInvariants(t, s, [fw]);
});

/**
 * An AgentLink proxy between an agent and the master that drops and duplicates status updates
 * (agent → master) and acknowledgements (master → agent), with a seeded generator.
 */
async function lossyProxy(t: { teardown(fn: () => unknown): void }, upstream: string, seed: number, dropRate: number, duplicateRate: number) {
  let x = seed >>> 0;
  const random = () => {
    // xorshift32: repeatable.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  const counts = { dropped: 0, duplicated: 0 };
  const v1 = orbitV1();
  const client = new v1.AgentLink(upstream, testChannel(AGENT));
  const server = new grpc.Server();
  server.addService(v1.AgentLink.service, {
    Connect(down: grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage__Output>) {
      const up = client.Connect();
      const pass = <T>(kind: boolean, send: (m: T) => void, m: T) => {
        if (kind && random() < dropRate) return void counts.dropped++;
        send(m);
        if (kind && random() < duplicateRate) {
          counts.duplicated++;
          send(m);
        }
      };
      // Batches are taken apart, so each update and acknowledgement in them is dropped or duplicated on its own.
      down.on('data', (m: AgentMessage__Output) => {
        for (const x of m.message === 'batch' ? m.batch!.messages : [m]) pass(x.message === 'statusUpdate', (v) => up.write(v as never), x);
      });
      up.on('data', (m: MasterMessage__Output) => {
        for (const x of m.message === 'batch' ? m.batch!.messages : [m]) pass(x.message === 'ack', (v) => down.write(v as never), x);
      });
      const end = () => {
        up.cancel();
        down.end();
      };
      down.on('end', end);
      down.on('error', end);
      up.on('error', end);
      up.on('end', end);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', testServerCredentials(), (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => {
    server.forceShutdown();
    client.close();
  });
  return { address: `127.0.0.1:${port}`, counts };
}

t.test('status updates and acknowledgements dropped and duplicated on the way: every update still arrives, once acknowledged, in order', async (t) => {
  const master = await startMasterForTest(t);
  const proxy = await lossyProxy(t, master.address, 42, 0.3, 0.3);
  const agent = await startAgentForTest(t, proxy.address, { resources: 'cpus:4;mem:2048' });
  await agent.registered();
  const fw = spawnFramework(t, master.address, { launch: 10, command: 'sleep 0.2' });
  await eventually('all ten tasks finished as the framework saw them', () => {
    const done = [...updatesByTask(fw).values()].filter((u) => u.some((x) => x.state === 'FINISHED'));
    return done.length === 10;
  }, 60_000);
  await eventually('the agent has nothing left to resend', () => testFetch(`http://127.0.0.1:${agent.httpPort}/state`).then((r) => r.json() as Promise<{ pendingUpdates: number }>).then((s) => s.pendingUpdates === 0), 60_000);
  t.ok(proxy.counts.dropped > 0 && proxy.counts.duplicated > 0, `the proxy really dropped (${proxy.counts.dropped}) and duplicated (${proxy.counts.duplicated})`);
  for (const [taskId, updates] of updatesByTask(fw)) {
    t.same(updates.map((u) => u.state), ['STARTING', 'RUNNING', 'FINISHED'], `task ${taskId}: every update, once, in order`);
  }
  checkInvariants(t, await state(master.httpPort), [fw]);
});
