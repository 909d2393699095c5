// What the master accepts, the agent recovers, with real processes: a task with every value at
// the most the master accepts (kill grace of an hour, health check timings of a day, a 60 KB
// environment, 100 labels of 1 KiB) runs on an `orbit agent` process that is killed with SIGKILL
// and started again on its work dir. It comes back with the task, which the master still shows
// RUNNING; before issue 11 an infinite kill grace was checkpointed as null and the agent refused
// to start again.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { taskToProto } from '../../src/common/codec.js';
import { buildTask, SchedulerClient } from '../../src/framework-sdk/index.js';
import { agentProcesses, spawnMaster } from '../helpers/agent-cli.js';
import { UpdateLog } from '../helpers/agent-restart.js';
import { cliBuildProblem, staleSources } from '../helpers/cli.js';
import { eventually, OfferPool, updatesUntil } from '../helpers/cluster.js';
import { rawScheduler } from '../helpers/raw-grpc.js';

const HOSTNAME = 'orbit-extreme-values';
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

const problem = cliBuildProblem();
if (problem !== undefined) {
  t.fail(problem);
} else {
  const stale = staleSources();
  if (stale.length > 0) t.comment(`dist/ is older than ${stale.join(', ')}: this test runs the last build ('npx tsc -p .')`);

  t.test('a task at every bound the master accepts survives kill -9 of its agent and a restart', async (t) => {
    const master = await spawnMaster(t);
    const agent = await agentProcesses(t, master.address, { hostname: HOSTNAME, resources: 'cpus:2;mem:1024;ports:[31900-31909]', containerizers: 'process' });
    agent.start();
    await eventually('the agent to register', async () => (await master.state()).agents.find((a) => a.hostname === HOSTNAME && a.active), 15_000);

    const fw = new SchedulerClient({ master: master.address, framework: { name: 'extremes', failoverTimeoutMs: 365 * DAY_MS }, reconnectBaseMs: 50, reconnectMaxMs: 500 });
    t.teardown(() => fw.close());
    const log = new UpdateLog(fw);
    const pool = new OfferPool(fw);
    await fw.start();
    const offer = await pool.take(() => true, 15_000);
    const task = buildTask({
      offer,
      taskId: `extreme-${'x'.repeat(180)}`,
      name: 'n'.repeat(256),
      resources: 'cpus:0.1;mem:32;ports:[31900-31900,31909-31909]',
      command: 'sleep 600',
      env: { BIG: 'v'.repeat(60_000) },
      killGraceMs: HOUR_MS,
      labels: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`label-${i}`, 'l'.repeat(1_024)])),
      healthCheck: { type: 'command', command: 'true', delayMs: DAY_MS, intervalMs: DAY_MS, timeoutMs: HOUR_MS, consecutiveFailures: 1_000, gracePeriodMs: DAY_MS },
    });
    // The same with an infinite kill grace, sent raw: refused, so never checkpointed as null.
    const { streamId } = await fw.start();
    const infinite = { ...taskToProto(buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'sleep 600' })), killGraceSeconds: Infinity };
    const refused = await rawScheduler(t, master.address).call('Accept', { header: { frameworkId: fw.frameworkId, streamId }, offerIds: [offer.id], operations: [{ launch: { tasks: [infinite] } }] });
    t.equal(grpc.status[refused.code], 'INVALID_ARGUMENT', 'an infinite kill grace is refused');
    await fw.launch(offer, [task], { refuseSeconds: 0 });
    await eventually('the task to run', () => log.states(task.taskId).includes('RUNNING'), 15_000);
    await eventually('its updates to be acknowledged', async () => (await agent.state()).pendingUpdates === 0, 15_000);

    await agent.crash();
    agent.start();
    const after = await eventually('the restarted agent to have the task', async () => (await agent.state()).tasks.find((x) => x.id === task.taskId), 20_000);
    t.equal(after.state, 'RUNNING', 'the restarted agent runs it still');
    t.ok(agent.current().child.exitCode === null, 'the restarted agent did not refuse to start');
    await eventually('the agent to re-register', async () => (await master.state()).agents.find((a) => a.hostname === HOSTNAME && a.active), 15_000);
    const seen = (await master.state()).frameworks.flatMap((f) => f.tasks).find((x) => x.id === task.taskId);
    t.equal(seen?.state, 'RUNNING', 'the master still has it RUNNING');
    t.notOk(log.terminals(task.taskId).length > 0, 'the framework heard of no end');

    // A kill grace of 0 overrides the hour: the task ends now, not in an hour.
    const killed = updatesUntil(fw, task.taskId, 'KILLED', 15_000);
    await fw.kill(task.taskId, '', 0);
    t.ok((await killed).some((s) => s.state === 'KILLED'), 'killed at once with a grace of 0');
  });
}
