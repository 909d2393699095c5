/**
 * A master restart (embedded log registry) does not change what a user sees about a running task:
 * the agent re-registers with the task's start time, latest status, health and recent statuses,
 * and the new master shows them as the old one did. A framework that reconciles before the agent
 * is back gets the real state once it is, not LOST. An agent reporting nonsense about its tasks'
 * times and history is repaired, not refused, and the master runs on. (Issue 15, item 4.)
 * A task that ends while no master leads shows among the new master's completed tasks, and an
 * update the agent resent before its framework came back reaches the framework as it re-subscribes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { clusterStateToJson } from '../../src/cli/state-json.js';
import { findTask, formatTask } from '../../src/cli/tasks-command.js';
import { agentInfoToProto, frameworkInfoToProto, statusToProto, taskToProto } from '../../src/common/codec.js';
import { orbitV1 } from '../../src/common/proto.js';
import { parseResources } from '../../src/common/resources.js';
import type { ClusterStateView, TaskView } from '../../src/common/state-view.js';
import { buildTask, SchedulerClient } from '../../src/framework-sdk/index.js';
import type { ClusterState__Output } from '../../src/gen/orbit/v1/ClusterState.js';
import type { AgentOptions } from '../../src/agent/agent.js';
import type { RunningMaster } from '../../src/master/master.js';
import { pendingUpdates, restartableAgent, UpdateLog, type RestartableAgent } from '../helpers/agent-restart.js';
import { agentStatus, frameworkInfo } from '../helpers/builders.js';
import { freePorts } from '../helpers/cli.js';
import { eventually, nextEvent, OfferPool, sleep, startMasterForTest, tempDir, type TestLike } from '../helpers/cluster.js';
import { testFetch } from '../helpers/http-client.js';
import { parseMetrics, sample } from '../helpers/metrics-text.js';
import { OPERATOR, testChannel } from '../helpers/pki.js';
import { rawAgentSession } from '../helpers/raw-grpc.js';

async function stateOf(master: RunningMaster): Promise<ClusterStateView> {
  return (await (await testFetch(`http://127.0.0.1:${master.httpPort}/state`)).json()) as ClusterStateView;
}

async function taskViewOf(master: RunningMaster, taskId: string): Promise<TaskView | undefined> {
  return (await stateOf(master)).frameworks.flatMap((f) => f.tasks).find((x) => x.id === taskId);
}

/** What `orbit task TASK_ID` prints (it reads Operator.GetState), as of `now`. */
async function orbitTask(t: TestLike, master: RunningMaster, taskId: string, now: number): Promise<string> {
  const client = new (orbitV1().Operator)(master.address, testChannel(OPERATOR));
  t.teardown(() => client.close());
  const state = await new Promise<ClusterState__Output>((resolve, reject) =>
    (client as unknown as { GetState(r: object, cb: (err: Error | null, res: ClusterState__Output) => void): void }).GetState({}, (err, res) => (err ? reject(err) : resolve(res))),
  );
  return formatTask(findTask(clusterStateToJson(state), taskId), now);
}

/** A master on a fixed port and work dir (so agents and frameworks find it again), a framework, and a restartable agent (with `agentOptions`). */
async function cluster(t: TestLike, agentOptions: Partial<AgentOptions> = {}) {
  const [port] = await freePorts(1);
  const masterDir = tempDir(t);
  const first = await startMasterForTest(t, masterDir, port!);
  const fw = new SchedulerClient({ master: first.address, security: OPERATOR, framework: { name: 'patient', failoverTimeoutMs: 60_000 }, reconnectBaseMs: 50, reconnectMaxMs: 300 });
  t.teardown(() => fw.close());
  const pool = new OfferPool(fw);
  await fw.start();
  const agent = restartableAgent(t, first.address);
  await agent.start(agentOptions);
  const agentId = await agent.current().registered(10_000);
  const restart = async (before: () => Promise<void> = async () => {}) => {
    await first.stop();
    await before();
    return startMasterForTest(t, masterDir, port!);
  };
  return { first, fw, pool, agent, agentId, restart };
}

t.test('after a master restart, a running task shows the same start time, state, health and history', async (t) => {
  const { first, fw, pool, agentId, restart } = await cluster(t);
  const offer = await pool.take();
  const task = buildTask({
    offer,
    resources: 'cpus:0.1;mem:32',
    command: 'sleep 600',
    killGraceMs: 500,
    healthCheck: { type: 'command', command: 'true', delayMs: 100, intervalMs: 200, timeoutMs: 1_000 },
  });
  const healthy = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.healthy === true, 15_000);
  await fw.launch(offer, [task], { refuseSeconds: 0 });
  await healthy;
  const before = await eventually('the master to show the task healthy', async () => {
    const view = await taskViewOf(first, task.taskId);
    return view?.healthy === true ? view : undefined;
  });
  const shownAt = Date.now() + 60_000;
  const orbitTaskBefore = await orbitTask(t, first, task.taskId, shownAt);
  t.ok(before.statuses.length >= 3, 'STARTING, RUNNING, RUNNING (healthy) at least');
  // Time passes between the launch and the restart: a new master must not show the restart time.
  await sleep(300);

  const second = await restart();
  await eventually('the agent to re-register', () => second.core.view.agent(agentId)?.state === 'active', 15_000);
  await eventually('the framework to re-subscribe', () => second.core.view.framework(fw.frameworkId!)?.state === 'subscribed', 15_000);
  const after = await taskViewOf(second, task.taskId);
  t.ok(after, 'the new master has the task');
  t.equal(after?.createdAt, before.createdAt, 'the same start time (when the old master accepted the launch)');
  t.equal(after?.state, 'RUNNING', 'the same state');
  t.equal(after?.healthy, true, 'the same health');
  t.strictSame(after?.statuses, before.statuses, 'the same status history, entry for entry');
  t.strictSame(after, before, 'the whole task view is unchanged');

  t.equal(await orbitTask(t, second, task.taskId, shownAt), orbitTaskBefore, '`orbit task` (the Operator service) prints the same');
  t.notMatch(orbitTaskBefore, /no status yet/);
});

t.test('a reconcile sent before the agent re-registers gets the real RUNNING answer once it does, not LOST', async (t) => {
  const { fw, pool, agent, agentId, restart } = await cluster(t);
  const offer = await pool.take();
  const task = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'sleep 600', killGraceMs: 500 });
  const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
  await fw.launch(offer, [task], { refuseSeconds: 0 });
  await running;

  // The agent goes down with the master (its task runs on), and comes back only after the
  // framework has asked.
  const resubscribed = nextEvent(fw, 'subscribed', () => true, 15_000);
  const second = await restart(() => agent.current().stop());
  await resubscribed;
  const answers: { state: string; reason: string }[] = [];
  fw.on('update', (s) => {
    if (s.taskId === task.taskId && s.reason === 'RECONCILIATION') answers.push({ state: s.state, reason: s.reason });
  });
  await fw.reconcile([{ taskId: task.taskId, agentId }]);
  await sleep(500);
  t.strictSame(answers, [], 'no answer while the agent may still come back with the task');

  await agent.start();
  await eventually('the reconciliation answer', () => answers.length > 0, 15_000);
  t.strictSame(answers[0], { state: 'RUNNING', reason: 'RECONCILIATION' }, 'RUNNING, as the agent reports it');
  t.notOk(answers.some((a) => a.state === 'LOST'), 'never LOST');
  t.equal(second.core.view.task(fw.frameworkId!, task.taskId)?.state, 'RUNNING');
});

t.test('an agent reporting a future start time and an oversized, partly broken history is repaired, not refused', async (t) => {
  const master = await startMasterForTest(t);
  const session = rawAgentSession(t, master.address);
  const now = Date.now();
  const framework = frameworkInfo({ id: 'fw-hostile', failoverTimeoutMs: 60_000 });
  const spec = { ...buildTask({ agentId: 'agent-hostile', taskId: 'wild', resources: 'cpus:0.1;mem:32', command: 'sleep 600' }), allocationRole: '*' };
  const status = (i: number, extra: Record<string, unknown> = {}) => ({
    ...statusToProto(agentStatus({ frameworkId: framework.id, taskId: spec.taskId, agentId: 'agent-hostile', state: 'RUNNING', uuid: `u-${i}`, timestamp: now - 60_000 + i })),
    ...extra,
  });
  const history = [
    ...Array.from({ length: 5_000 }, (_, i) => status(i)),
    status(5_000, { state: 99 }), // no such state: left out
    status(5_001, { timestamp: NaN }), // not a time: left out
    status(5_002, { timestamp: now / 1000 + 30 * 86_400 }), // a month ahead: taken as now
  ];
  const latest = status(5_003, { healthy: true });
  session.send({
    reregister: {
      info: agentInfoToProto({ id: 'agent-hostile', hostname: 'hostile', resources: parseResources('cpus:1;mem:256'), attributes: [], httpPort: 0, containerizers: ['simulated'] }),
      version: 'x',
      tasks: [{ task: taskToProto(spec), frameworkId: framework.id, latestStatus: latest, acceptedAt: now / 1000 + 86_400, startedAt: NaN, history: [...history, latest] }],
      frameworks: [frameworkInfoToProto(framework)],
    },
  });
  await eventually('the master to take the agent back', () => master.core.view.agent('agent-hostile')?.state === 'active');
  t.notOk(session.received.some((m) => m.message === 'refused'), 'the agent is not refused');
  const view = await eventually('the task in /state', () => taskViewOf(master, 'wild'));
  t.equal(view.state, 'RUNNING');
  t.equal(view.healthy, true);
  t.ok(view.createdAt <= Date.now() && view.createdAt >= now, 'a start time a day ahead is taken as now');
  t.equal(view.statuses.length, 18, 'the newest 20 statuses are kept, less the two that do not decode');
  t.ok(view.statuses.every((s) => s.timestamp <= Date.now()), 'no status time in the future');
  t.equal((await testFetch(`http://127.0.0.1:${master.httpPort}/health`)).status, 200, 'the master runs on');
});

/** A process task that runs until the test lets it finish (a file named `go` in its sandbox). */
const UNTIL_GO = 'while [ ! -e go ]; do sleep 0.05; done';

/** Lets the task finish, and waits until its agent has ended it. */
async function finishOnAgent(agent: RestartableAgent, taskId: string): Promise<void> {
  writeFileSync(join(agent.current().runner.find(taskId)!.sandboxDir, 'go'), '');
  await eventually('the task to finish on the agent', () => agent.current().runner.find(taskId)?.state === 'FINISHED', 10_000);
}

t.test('a task that finishes while the master is down shows among the restarted master’s completed tasks with its history, and the framework hears FINISHED once', async (t) => {
  const { first, fw, pool, agent, agentId, restart } = await cluster(t);
  const log = new UpdateLog(fw);
  const offer = await pool.take();
  const task = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: UNTIL_GO, killGraceMs: 500 });
  const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
  await fw.launch(offer, [task], { refuseSeconds: 0 });
  await running;
  const before = await eventually('the master to show the task running', async () => {
    const view = await taskViewOf(first, task.taskId);
    return view?.state === 'RUNNING' ? view : undefined;
  });

  let heardWhileDown: string[] = [];
  const second = await restart(async () => {
    await finishOnAgent(agent, task.taskId);
    heardWhileDown = log.states(task.taskId).filter((s) => s === 'FINISHED');
  });
  t.strictSame(heardWhileDown, [], 'no master heard the end while it happened');

  await eventually('the framework to hear FINISHED', () => log.terminals(task.taskId).length > 0, 15_000);
  const framework = await eventually('the task among the completed ones', async () => {
    const f = (await stateOf(second)).frameworks.find((x) => x.id === fw.frameworkId);
    return f?.completedTasks.some((x) => x.id === task.taskId) ? f : undefined;
  });
  t.notOk(framework.tasks.some((x) => x.id === task.taskId), 'not among the active ones');
  const after = framework.completedTasks.find((x) => x.id === task.taskId)!;
  t.equal(after.state, 'FINISHED');
  t.equal(after.createdAt, before.createdAt, 'the same start time (when the old master accepted the launch)');
  t.strictSame({ ...after, state: before.state, statuses: before.statuses }, before, 'the same name, resources, agent and the rest');
  t.strictSame(after.statuses.slice(0, -1), before.statuses, 'the history the old master showed…');
  t.match(after.statuses.at(-1), { state: 'FINISHED', source: 'AGENT' }, '…and then its end');
  t.match(await orbitTask(t, second, task.taskId, Date.now()), /FINISHED/, '`orbit task` shows it');

  await eventually('the agent to have its update acknowledged', async () => (await pendingUpdates(agent.current())) === 0, 10_000);
  t.equal(log.terminals(task.taskId).length, 1, 'one end, FINISHED');
  t.equal((await stateOf(second)).agents.find((a) => a.id === agentId)?.used, '', 'nothing counted as used on the agent');
});

t.test('after a master restart, a framework that re-subscribes after the agent re-registered gets the agent’s pending update within a second', async (t) => {
  // A minute between the agent's retries: only the master can deliver the update in time.
  const { fw, pool, agent, agentId, restart } = await cluster(t, { statusRetryBaseMs: 60_000, statusRetryMaxMs: 60_000 });
  const offer = await pool.take();
  const task = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: UNTIL_GO, killGraceMs: 500 });
  const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
  await fw.launch(offer, [task], { refuseSeconds: 0 });
  await running;
  await eventually('STARTING and RUNNING to be acknowledged', async () => (await pendingUpdates(agent.current())) === 0);
  const frameworkId = fw.frameworkId!;
  fw.close(); // the framework goes away with the master, and comes back only after the agent

  const second = await restart(() => finishOnAgent(agent, task.taskId));
  await eventually('the agent to re-register', () => second.core.view.agent(agentId)?.state === 'active', 15_000);
  const relayed = async () => sample(parseMetrics(await (await testFetch(`http://127.0.0.1:${second.httpPort}/metrics`)).text()), 'orbit_status_updates_relayed_total', { source: 'AGENT' }) ?? 0;
  await eventually('the agent’s resent FINISHED to reach the master, with no framework to take it', async () => (await relayed()) >= 1, 10_000);
  t.equal(await pendingUpdates(agent.current()), 1, 'unacknowledged at the agent, whose next retry is a minute away');
  const uuid = agent.current().runner.find(task.taskId)?.latest?.uuid;

  const back = new SchedulerClient({ master: second.address, security: OPERATOR, framework: { id: frameworkId, name: 'patient', failoverTimeoutMs: 60_000 } });
  t.teardown(() => back.close());
  let subscribedAt = 0;
  let heardAt = 0;
  back.on('subscribed', () => (subscribedAt = Date.now()));
  back.on('update', (s) => {
    if (s.taskId === task.taskId && s.state === 'FINISHED') heardAt ||= Date.now();
  });
  const finished = nextEvent(back, 'update', (s) => s.taskId === task.taskId && s.state === 'FINISHED', 5_000);
  await back.start();
  const [status] = await finished;
  t.ok(heardAt - subscribedAt < 1_000, `FINISHED ${heardAt - subscribedAt} ms after SUBSCRIBED`);
  t.match(status, { source: 'AGENT', agentId, uuid }, 'the agent’s own update, with its uuid');
  await eventually('the acknowledgement to reach the agent', async () => (await pendingUpdates(agent.current())) === 0, 5_000);
  t.equal(second.core.view.endedOf(frameworkId).find((x) => x.spec.taskId === task.taskId)?.state, 'FINISHED', 'and the task is among the completed ones');
});
