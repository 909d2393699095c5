import t from 'tap';
import { createServer } from 'node:net';
import { buildTask, SchedulerClient, SubscriptionError } from '../../src/framework-sdk/index.js';
import { eventually, nextEvent, sleep, startAgentForTest, startCluster, startMasterForTest, tempDir, updatesUntil } from '../helpers/cluster.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

t.test('when the master restarts, agents re-register with their ids and keep their tasks', async (t) => {
  const port = await freePort();
  const masterDir = tempDir(t);
  const first = await startMasterForTest(t, masterDir, port);
  const agent = await startAgentForTest(t, first.address, { hostname: 'survivor' });
  const agentId = await agent.registered(10_000);

  const fw = new SchedulerClient({
    master: first.address,
    framework: { name: 'patient', failoverTimeoutMs: 60_000 },
    reconnectBaseMs: 50,
    reconnectMaxMs: 300,
  });
  t.teardown(() => fw.close());
  const subscribed = await fw.start();
  const [[offer]] = await nextEvent(fw, 'offers');
  const task = buildTask({ offer: offer!, resources: 'cpus:0.2;mem:64', command: 'sleep 60' });
  const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
  await fw.launch(offer!, [task]);
  await running;

  const resubscription = nextEvent(fw, 'subscribed', () => true, 15_000);
  await first.stop();
  const disconnected = await eventually('the agent notices', () => !agent.link.isConnected);
  t.ok(disconnected, 'the agent lost the master');

  const second = await startMasterForTest(t, masterDir, port);
  t.equal(second.core.epoch, first.core.epoch + 1, 'the new master takes the next epoch');
  await eventually('the agent re-registers', () => second.core.view.agent(agentId)?.state === 'active');
  t.equal(agent.agentId(), agentId, 'with the same agent id');
  const adopted = second.core.view.task(subscribed.frameworkId, task.taskId);
  t.equal(adopted?.state, 'RUNNING', 'the new master learned the running task from the agent');
  t.ok(await eventually('the agent follows the new epoch', () => agent.link.epoch === second.core.epoch), 'the agent follows the new epoch');

  const resubscribed = await resubscription;
  t.equal(resubscribed[0].frameworkId, subscribed.frameworkId, 'the framework re-subscribed with its id');
  t.ok(resubscribed[0].resubscribed);

  const answer = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.reason === 'RECONCILIATION');
  await fw.reconcile();
  t.equal((await answer)[0].state, 'RUNNING', 'reconciliation reports the task running');

  const killed = updatesUntil(fw, task.taskId, 'KILLED');
  await fw.kill(task.taskId);
  await killed;
  t.pass('the task is still under the framework’s control');
});

t.test('status updates are retried until acknowledged, then stop', async (t) => {
  const cluster = await startCluster(t, [{}]);
  const fw = await cluster.framework({ name: 'forgetful', autoAcknowledge: false });
  const [[offer]] = await nextEvent(fw, 'offers');
  const task = buildTask({ offer: offer!, resources: 'cpus:0.1;mem:32', command: 'true' });
  const seen: string[] = [];
  fw.on('update', (s) => {
    if (s.taskId === task.taskId) seen.push(`${s.state}:${s.uuid}`);
  });
  await fw.launch(offer!, [task]);
  // Only the head of the queue (STARTING) is in flight; unacknowledged, it is resent (retry 300 ms).
  await eventually('a resend of STARTING', () => seen.length >= 2, 5_000);
  t.equal(seen[0], seen[1], 'the same update, same uuid, again');
  t.match(seen[0], /^STARTING:/);
  t.notOk(seen.some((s) => s.startsWith('RUNNING')), 'RUNNING waits behind the unacknowledged STARTING');

  const ack = async (state: string) => {
    const entry = seen.find((s) => s.startsWith(`${state}:`))!;
    await fw.acknowledge({ agentId: offer!.agentId, taskId: task.taskId, uuid: entry.split(':')[1]! });
  };
  await ack('STARTING');
  await eventually('RUNNING arrives', () => seen.some((s) => s.startsWith('RUNNING')), 5_000);
  await ack('RUNNING');
  await eventually('FINISHED arrives', () => seen.some((s) => s.startsWith('FINISHED')), 5_000);
  await ack('FINISHED');
  const count = seen.length;
  await sleep(1_000);
  t.equal(seen.length, count, 'nothing is resent once everything is acknowledged');
  const stale = seen[0]!.split(':')[1]!;
  await fw.acknowledge({ agentId: offer!.agentId, taskId: task.taskId, uuid: stale });
  t.pass('a stale acknowledgement is harmless');
});

t.test('a framework that re-subscribes within its failover timeout keeps its tasks', async (t) => {
  const cluster = await startCluster(t, [{}]);
  const fw = await cluster.framework({ name: 'flaky', failoverTimeoutMs: 30_000 });
  const frameworkId = fw.frameworkId!;
  const [[offer]] = await nextEvent(fw, 'offers');
  const task = buildTask({ offer: offer!, resources: 'cpus:0.1;mem:32', command: 'sleep 60' });
  const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
  await fw.launch(offer!, [task]);
  await running;
  fw.close();
  await eventually('the master sees it disconnected', async () => (await cluster.state()).frameworks.find((f) => f.id === frameworkId)?.active === false);

  const again = await cluster.framework({ name: 'flaky', id: frameworkId, failoverTimeoutMs: 30_000 });
  t.equal(again.frameworkId, frameworkId);
  const state = await cluster.state();
  const view = state.frameworks.find((f) => f.id === frameworkId)!;
  t.equal(view.active, true);
  t.same(view.tasks.map((x) => [x.id, x.state]), [[task.taskId, 'RUNNING']]);
  const killed = updatesUntil(again, task.taskId, 'KILLED');
  await again.kill(task.taskId);
  await killed;
});

t.test('a torn-down framework loses its tasks and cannot come back under its id', async (t) => {
  const cluster = await startCluster(t, [{}]);
  const fw = await cluster.framework({ name: 'done' });
  const frameworkId = fw.frameworkId!;
  const [[offer]] = await nextEvent(fw, 'offers');
  const task = buildTask({ offer: offer!, resources: 'cpus:0.1;mem:32', command: 'sleep 60' });
  const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
  await fw.launch(offer!, [task]);
  await running;
  await fw.teardown();
  const agent = cluster.agents[0]!;
  await eventually('the agent killed the task', () => agent.runner.find(task.taskId)?.state === 'KILLED', 10_000);
  const state = await cluster.state();
  t.notOk(state.frameworks.some((f) => f.id === frameworkId), 'gone from frameworks');
  const gone = state.completedFrameworks.find((f) => f.id === frameworkId)!;
  t.equal(gone.completedTasks[0]?.state, 'KILLED');
  t.equal(state.agents[0]!.used, '', 'its resources are free');

  const late = new SchedulerClient({ master: cluster.master.address, framework: { name: 'done', id: frameworkId }, reconnectBaseMs: 50 });
  t.teardown(() => late.close());
  const refused = await late.start().then(() => 'subscribed', (err: unknown) => err);
  t.type(refused, SubscriptionError);
  t.match(refused, { reason: 'FRAMEWORK_REMOVED', code: 'FAILED_PRECONDITION', message: /torn down/ }, 'refused for good, with the reason a program acts on');
});
