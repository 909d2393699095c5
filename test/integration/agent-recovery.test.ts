// Agent recovery in process: an agent stopped with its tasks running (as if it had crashed) and
// started again on the same work dir re-registers with its id, takes its running tasks back,
// reports those that ended while it was down exactly once, and resends what was not acknowledged.
import t from 'tap';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointCorruptError } from '../../src/agent/checkpoint.js';
import { EXIT_STATUS_FILE } from '../../src/agent/containerizer/process-wrapper.js';
import { buildTask, type SchedulerClient } from '../../src/framework-sdk/index.js';
import { eventually, nextEvent, OfferPool, startMasterForTest, updatesUntil, type TestLike } from '../helpers/cluster.js';
import { invariantProblems, pendingUpdates, restartableAgent, UpdateLog } from '../helpers/agent-restart.js';
import { SchedulerClient as Client } from '../../src/framework-sdk/index.js';
import { testFetch } from '../helpers/http-client.js';

async function setup(t: TestLike, options: { autoAcknowledge?: boolean; statusRetryBaseMs?: number } = {}) {
  const master = await startMasterForTest(t);
  const fw: SchedulerClient = new Client({
    master: master.address,
    framework: { name: 'recovery', failoverTimeoutMs: 60_000 },
    autoAcknowledge: options.autoAcknowledge ?? true,
    reconnectBaseMs: 50,
    reconnectMaxMs: 500,
  });
  t.teardown(() => fw.close());
  const log = new UpdateLog(fw);
  const pool = new OfferPool(fw);
  await fw.start();
  const agent = restartableAgent(t, master.address);
  await agent.start(options.statusRetryBaseMs ? { statusRetryBaseMs: options.statusRetryBaseMs, statusRetryMaxMs: options.statusRetryBaseMs } : {});
  const agentId = await agent.current().registered(10_000);
  const state = async () => (await (await testFetch(`http://127.0.0.1:${master.httpPort}/state`)).json()) as import('../../src/common/state-view.js').ClusterStateView;
  return { master, fw, log, pool, agent, agentId, state };
}

t.test('a restarted agent re-registers with its id and takes back its running task', async (t) => {
  const { fw, log, pool, agent, agentId, master, state } = await setup(t);
  const offer = await pool.take();
  const task = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'sleep 600', killGraceMs: 500 });
  const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
  await fw.launch(offer, [task], { refuseSeconds: 0 });
  const [status] = await running;
  await eventually('RUNNING to be acknowledged', async () => (await pendingUpdates(agent.current())) === 0);

  await agent.current().stop();
  await eventually('the master to see the agent go', () => master.core.view.agent(agentId)?.state !== 'active');
  const restarted = await agent.start();
  t.equal(await restarted.registered(10_000), agentId, 'the same agent id');
  await eventually('the master to see the agent back', () => master.core.view.agent(agentId)?.state === 'active');
  const adopted = restarted.runner.find(task.taskId);
  t.equal(adopted?.state, 'RUNNING', 'the new agent runs the task');
  t.equal(adopted?.containerId, status.containerId, 'in the same container');
  t.equal(master.core.view.task(fw.frameworkId!, task.taskId)?.state, 'RUNNING', 'the master still has it RUNNING');

  const updates = updatesUntil(fw, task.taskId, 'KILLED');
  await fw.kill(task.taskId, agentId);
  t.strictSame((await updates).map((s) => s.state), ['KILLING', 'KILLED'], 'nothing came between RUNNING and the kill');
  t.strictSame(log.states(task.taskId), ['STARTING', 'RUNNING', 'KILLING', 'KILLED']);
  await eventually('nothing allocated', async () => invariantProblems(await state(), log, [task.taskId]).length === 0);
  t.strictSame(invariantProblems(await state(), log, [task.taskId]), []);
});

t.test('a task that ended while its agent was down gets exactly one terminal update', async (t) => {
  const { fw, log, pool, agent, state } = await setup(t);
  const offer = await pool.take();
  // It exits 3 once told to (a file in its sandbox), so it can end while the agent is down.
  const task = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'while [ ! -e "$ORBIT_SANDBOX/stop" ]; do sleep 0.05; done; exit 3' });
  const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
  await fw.launch(offer, [task], { refuseSeconds: 0 });
  await running;
  const sandbox = agent.current().runner.find(task.taskId)!.sandboxDir;
  await eventually('RUNNING to be acknowledged', async () => (await pendingUpdates(agent.current())) === 0);

  await agent.current().stop();
  writeFileSync(join(sandbox, 'stop'), '');
  await eventually('the task to exit and its wrapper to record it', () => existsSync(join(sandbox, EXIT_STATUS_FILE)));
  const failed = updatesUntil(fw, task.taskId, 'FAILED');
  const restarted = await agent.start();
  const last = (await failed).at(-1)!;
  t.equal(last.exitCode, 3, 'with the exit code');
  t.equal(last.reason, 'COMMAND_EXITED');
  t.match(last.message, /exited with code 3 while the agent was down/);
  await eventually('the terminal update to be acknowledged', async () => (await pendingUpdates(restarted)) === 0);
  t.notOk(existsSync(join(agent.workDir, 'meta', 'frameworks', fw.frameworkId!)), 'the checkpoint forgot the task and its framework');
  t.strictSame(log.states(task.taskId), ['STARTING', 'RUNNING', 'FAILED']);
  t.strictSame(invariantProblems(await state(), log, [task.taskId]), []);
});

t.test('unacknowledged updates are resent after a restart, with the same uuids', async (t) => {
  // Retries far apart: a resend within the test can only come from the restart.
  const { fw, log, pool, agent, agentId, state } = await setup(t, { autoAcknowledge: false, statusRetryBaseMs: 60_000 });
  const offer = await pool.take();
  const task = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'sleep 600', killGraceMs: 200 });
  const [starting] = await Promise.all([nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'STARTING'), fw.launch(offer, [task], { refuseSeconds: 0 })]);
  const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
  await fw.acknowledge(starting[0]);
  const [first] = await running;

  await agent.current().stop();
  const resent = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING', 15_000);
  const restarted = await agent.start({ statusRetryBaseMs: 60_000, statusRetryMaxMs: 60_000 });
  const [again] = await resent;
  t.equal(again.uuid, first.uuid, 'RUNNING again, with the same uuid');
  await fw.acknowledge(again);
  await eventually('the agent to have nothing pending', () => restarted.runner.find(task.taskId)?.state === 'RUNNING' && !log.all.some((s) => s.state === 'KILLING'));

  const killed = updatesUntil(fw, task.taskId, 'KILLING');
  await fw.kill(task.taskId, agentId);
  const killing = (await killed).at(-1)!;
  await fw.acknowledge(killing);
  const [done] = await nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'KILLED');
  await fw.acknowledge(done);
  t.strictSame(invariantProblems(await state(), log, [task.taskId]), []);
});

t.test('a corrupt checkpoint file stops a strict agent, naming it; a lenient one starts around it', async (t) => {
  const { fw, log, pool, agent, agentId, state } = await setup(t);
  const offer = await pool.take();
  const task = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'sleep 600', killGraceMs: 200 });
  const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
  await fw.launch(offer, [task], { refuseSeconds: 0 });
  await running;
  await eventually('RUNNING to be acknowledged', async () => (await pendingUpdates(agent.current())) === 0);
  await agent.current().stop();

  const stateFile = join(agent.workDir, 'meta', 'frameworks', fw.frameworkId!, 'tasks', task.taskId, 'state.json');
  writeFileSync(stateFile, '{"version":1,"containerId":');
  const err = await agent.start().catch((e: unknown) => e);
  t.type(err, CheckpointCorruptError);
  t.match((err as Error).message, stateFile, 'the error names the file');

  // Without strict: the task's state (its pid among it) is lost, the agent id and the task are not:
  // the process is found again by its sandbox.
  const restarted = await agent.start({ strict: false });
  t.equal(await restarted.registered(10_000), agentId, 'the same agent id');
  t.equal(restarted.runner.find(task.taskId)?.state, 'RUNNING', 'the task runs on');
  const killed = updatesUntil(fw, task.taskId, 'KILLED');
  await fw.kill(task.taskId, agentId);
  await killed;
  t.strictSame(invariantProblems(await state(), log, [task.taskId]), []);
});

t.test('health checks go on after a restart, without repeating the health already reported', async (t) => {
  const { fw, log, pool, agent, state } = await setup(t);
  const offer = await pool.take();
  const check = { type: 'command' as const, command: 'test -e up', delayMs: 100, intervalMs: 100, timeoutMs: 1000, consecutiveFailures: 2 };
  const task = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'touch up; sleep 600', healthCheck: check, killGraceMs: 200 });
  const healthy = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.healthy === true);
  await fw.launch(offer, [task], { refuseSeconds: 0 });
  await healthy;
  await eventually('the health update to be acknowledged', async () => (await pendingUpdates(agent.current())) === 0);
  const sandbox = agent.current().runner.find(task.taskId)!.sandboxDir;
  await agent.current().stop();

  const restarted = await agent.start();
  await restarted.registered(10_000);
  await eventually('the task to be checked again', () => restarted.runner.find(task.taskId)?.health !== undefined);
  const killed = updatesUntil(fw, task.taskId, 'KILLED');
  rmSync(join(sandbox, 'up'));
  const after = await killed;
  t.strictSame(after.map((s) => [s.state, s.healthy]), [['RUNNING', false], ['KILLING', false], ['KILLED', false]], 'only the flip to unhealthy, then the kill');
  t.equal(after.at(-1)!.reason, 'HEALTH_CHECK_FAILED');
  t.strictSame(invariantProblems(await state(), log, [task.taskId]), []);
});
