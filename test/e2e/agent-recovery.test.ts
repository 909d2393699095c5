// Agent recovery with real processes: `orbit master` and `orbit agent` spawned from the compiled
// CLI (`npx tsc -p .`), tasks in the real Docker engine and as processes, and the agent killed
// with SIGKILL. A restarted agent keeps its id and its running containers, reports a task that
// ended while it was down exactly once, resends what was not acknowledged, and refuses (or, with
// --no-strict, works around) a corrupt checkpoint file.
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildTask, SchedulerClient, takeResources, type Offer, type TaskSpec } from '../../src/framework-sdk/index.js';
import { cliBuildProblem, staleSources } from '../helpers/cli.js';
import { eventually, nextEvent, OfferPool, updatesUntil } from '../helpers/cluster.js';
import { prepareDocker, removeAgentContainers, TEST_IMAGE } from '../helpers/docker.js';
import { agentProcesses, containerStatus, spawnMaster, type AgentProcesses, type MasterProcess } from '../helpers/agent-cli.js';
import { invariantProblems, UpdateLog } from '../helpers/agent-restart.js';
import { EXIT_STATUS_FILE } from '../../src/agent/containerizer/process-wrapper.js';

const HOSTNAME = 'orbit-recovery-e2e';
const RESOURCES = 'cpus:2;mem:1024;disk:1024;ports:[31800-31809]';

/** The task's updates until `state`; the waits are generous: a restart and a docker start are in them. */
const until = (fw: SchedulerClient, taskId: string, state: Parameters<typeof updatesUntil>[2]) => updatesUntil(fw, taskId, state, 30_000);

const problem = cliBuildProblem() ?? prepareDocker();
if (problem !== undefined) {
  t.fail(problem);
} else {
  const stale = staleSources();
  if (stale.length > 0) t.comment(`dist/ is older than ${stale.join(', ')}: these tests run the last build ('npx tsc -p .')`);

  t.test('an agent killed with SIGKILL recovers when it restarts', async (t) => {
    const master: MasterProcess = await spawnMaster(t);
    const agent: AgentProcesses = await agentProcesses(t, master.address, { hostname: HOSTNAME, resources: RESOURCES });
    agent.start();
    const agentId = (await eventually('the agent to register', async () => {
      const a = (await master.state()).agents.find((x) => x.hostname === HOSTNAME && x.active);
      return a?.id;
    }, 15_000))!;
    t.teardown(() => removeAgentContainers(agentId));

    const fw = new SchedulerClient({ master: master.address, framework: { name: 'recovery-e2e', failoverTimeoutMs: 300_000 }, reconnectBaseMs: 50, reconnectMaxMs: 500 });
    t.teardown(() => fw.close());
    const log = new UpdateLog(fw);
    const pool = new OfferPool(fw);
    await fw.start();
    const launched: string[] = [];

    /** Launches tasks built from one offer (each takes its resources from what is left). */
    const launch = async (...builds: Array<(offer: Offer, left: Offer) => TaskSpec>) => {
      const offer = await pool.take((o) => takeResources(o, 'cpus:0.5;mem:200') !== undefined, 15_000);
      const tasks = builds.map((b) => b(offer, offer));
      launched.push(...tasks.map((x) => x.taskId));
      await fw.launch(offer, tasks, { refuseSeconds: 0 });
      return tasks.map((x) => x.taskId);
    };
    const docker = (command: string, mem = 32) => (offer: Offer) => buildTask({ offer, resources: `cpus:0.1;mem:${mem}`, image: TEST_IMAGE, command, killGraceMs: 1000 });
    const proc = (command: string) => (offer: Offer) => buildTask({ offer, resources: 'cpus:0.1;mem:32', command, killGraceMs: 1000 });
    /** Waits until the framework saw RUNNING for each task and the agent has nothing unacknowledged. */
    const runningAndAcked = async (...taskIds: string[]) => {
      await eventually('the tasks to be RUNNING', () => taskIds.every((id) => log.states(id).includes('RUNNING')), 30_000);
      await eventually('every update to be acknowledged', async () => (await agent.state()).pendingUpdates === 0);
    };
    /** Restarts the agent and waits until the master has it back, active, under its id. */
    const restart = async (extra: string[] = []) => {
      agent.start(extra);
      await eventually('the agent to re-register', async () => (await master.state()).agents.find((a) => a.id === agentId)?.active, 30_000);
    };
    const crash = async () => {
      await agent.crash();
      await eventually('the master to notice the agent is gone', async () => !(await master.state()).agents.find((a) => a.id === agentId)?.active, 30_000);
    };

    await t.test('running containers and processes are RUNNING again under the same agent id and container ids', async (t) => {
      // The container prints again a while after the crash: its output must go on, once, in the sandbox.
      const [dockerTask, processTask] = await launch(docker('echo one; sleep 3; echo two; sleep 600'), proc('sleep 600'));
      await runningAndAcked(dockerTask!, processTask!);
      const before = await agent.state();
      const containerOf = (s: typeof before, id: string) => s.tasks.find((x) => x.id === id)?.containerId;

      await crash();
      t.equal(containerStatus(containerOf(before, dockerTask!)!), 'running', 'the container runs on without its agent');
      await restart();
      const after = await agent.state();
      t.equal(after.id, agentId, 'the same agent id');
      for (const id of [dockerTask!, processTask!]) {
        t.equal(after.tasks.find((x) => x.id === id)?.state, 'RUNNING', `${id} is RUNNING on the agent`);
        t.equal(containerOf(after, id), containerOf(before, id), `${id} in the same container`);
      }
      const stdout = join(after.tasks.find((x) => x.id === dockerTask)!.sandbox, 'stdout');
      await eventually('the container output after the crash to reach the sandbox', () => readFileSync(stdout, 'utf8').includes('two'), 15_000);
      t.equal(readFileSync(stdout, 'utf8'), 'one\ntwo\n', 'the output goes on where it was, nothing lost or repeated');
      const fwView = (await master.state()).frameworks.find((f) => f.id === fw.frameworkId);
      t.strictSame(fwView?.tasks.filter((x) => launched.includes(x.id)).map((x) => [x.id, x.state, x.agentId]).sort(), [[dockerTask, 'RUNNING', agentId], [processTask, 'RUNNING', agentId]].sort(), 'the master has both RUNNING on the agent');

      // They are still under control: a kill works as it always does.
      const killed = [until(fw, dockerTask!, 'KILLED'), until(fw, processTask!, 'KILLED')];
      await fw.kill(dockerTask!, agentId);
      await fw.kill(processTask!, agentId);
      for (const updates of await Promise.all(killed)) t.strictSame(updates.map((s) => s.state), ['KILLING', 'KILLED']);
      for (const id of [dockerTask!, processTask!]) t.strictSame(log.states(id), ['STARTING', 'RUNNING', 'KILLING', 'KILLED'], `${id}: no spurious update`);
      await eventually('the container to be removed', () => containerStatus(containerOf(before, dockerTask!)!) === undefined);
    });

    await t.test('tasks that end while the agent is down get exactly one terminal update each after the restart', async (t) => {
      const [exits3, oom, finishes] = await launch(
        docker('sleep 2; exit 3'),
        // dd allocates its 100 MiB block at once, past the 32 MiB limit.
        docker('sleep 2; dd if=/dev/zero of=/dev/null bs=100M count=1'),
        proc('while [ ! -e "$ORBIT_SANDBOX/stop" ]; do sleep 0.05; done; exit 0'),
      );
      await runningAndAcked(exits3!, oom!, finishes!);
      const before = await agent.state();
      const view = (id: string) => before.tasks.find((x) => x.id === id)!;

      await crash();
      writeFileSync(join(view(finishes!).sandbox, 'stop'), '');
      await eventually('both containers to exit', () => [exits3!, oom!].every((id) => containerStatus(view(id).containerId) === 'exited'), 30_000);
      await eventually('the process to exit', () => existsSync(join(view(finishes!).sandbox, EXIT_STATUS_FILE)));

      const ended = [until(fw, exits3!, 'FAILED'), until(fw, oom!, 'FAILED'), until(fw, finishes!, 'FINISHED')];
      await restart();
      const [failed, oomKilled, finished] = (await Promise.all(ended)).map((u) => u.at(-1));
      t.equal(failed!.exitCode, 3, 'the container exit code');
      t.equal(failed!.reason, 'COMMAND_EXITED');
      t.equal(oomKilled!.reason, 'CONTAINER_LIMITATION_MEMORY', 'an OOM kill is named as such');
      t.equal(finished!.exitCode, 0, 'the process exit code');
      await eventually('every update to be acknowledged', async () => (await agent.state()).pendingUpdates === 0);
      for (const id of [exits3!, oom!, finishes!]) t.equal(log.terminals(id).length, 1, `${id}: exactly one terminal update`);
      await eventually('the exited containers to be removed', () => [exits3!, oom!].every((id) => containerStatus(view(id).containerId) === undefined));
    });

    await t.test('an update the framework did not acknowledge is resent after the restart, with the same uuid', async (t) => {
      // The first framework holds every offer it gets: it steps aside while this one launches.
      await fw.suppress();
      await pool.release();
      t.teardown(() => fw.revive());
      const quiet = new SchedulerClient({ master: master.address, framework: { name: 'no-acks', failoverTimeoutMs: 300_000 }, autoAcknowledge: false, reconnectBaseMs: 50, reconnectMaxMs: 500 });
      t.teardown(() => quiet.close());
      const quietLog = new UpdateLog(quiet);
      const quietPool = new OfferPool(quiet);
      await quiet.start();
      const offer = await quietPool.take((o) => takeResources(o, 'cpus:0.1;mem:32') !== undefined, 15_000);
      await quietPool.release();
      await quiet.suppress();
      const task = buildTask({ offer, resources: 'cpus:0.1;mem:32', image: TEST_IMAGE, command: 'sleep 600', killGraceMs: 500 });
      const starting = nextEvent(quiet, 'update', (s) => s.taskId === task.taskId && s.state === 'STARTING', 15_000);
      await quiet.launch(offer, [task], { refuseSeconds: 0 });
      const running = nextEvent(quiet, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING', 30_000);
      await quiet.acknowledge((await starting)[0]);
      const [first] = await running;

      await crash();
      const resent = nextEvent(quiet, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING' && quietLog.of(task.taskId).length > 2, 30_000);
      await restart();
      const [again] = await resent;
      t.equal(again.uuid, first.uuid, 'RUNNING again, with the same uuid');
      t.equal(again.containerId, first.containerId);
      await quiet.acknowledge(again);
      await eventually('the agent to have nothing unacknowledged', async () => (await agent.state()).pendingUpdates === 0);

      const killing = nextEvent(quiet, 'update', (s) => s.taskId === task.taskId && s.state === 'KILLING', 15_000);
      await quiet.kill(task.taskId, agentId);
      await quiet.acknowledge((await killing)[0]);
      const [killed] = await nextEvent(quiet, 'update', (s) => s.taskId === task.taskId && s.state === 'KILLED', 15_000);
      await quiet.acknowledge(killed);
      t.strictSame(invariantProblems(await master.state(), quietLog, [task.taskId]), []);
    });

    await t.test('a corrupt checkpoint file stops the agent naming the file; with --no-strict it starts around it', async (t) => {
      const [taskId] = await launch(docker('sleep 600'));
      await runningAndAcked(taskId!);
      await crash();
      const stateFile = join(agent.workDir, 'meta', 'frameworks', fw.frameworkId!, 'tasks', taskId!, 'state.json');
      writeFileSync(stateFile, '{"version":1,"containerId":"ctr-');

      const refused = agent.start();
      const { code } = await refused.exited;
      t.equal(code, 1, 'the agent exits 1');
      t.match(refused.stderr(), `corrupt checkpoint file ${stateFile}`, 'naming the file');
      t.match(refused.stderr(), /--no-strict/, 'and saying how to go on');

      await restart(['--no-strict']);
      t.match(agent.current().stderr(), stateFile, 'a warning names the skipped file');
      // The container is found again by its labels: the task is RUNNING, the lost state notwithstanding.
      await eventually('the task to run on the agent', async () => (await agent.state()).tasks.find((x) => x.id === taskId)?.state === 'RUNNING');
      const killed = until(fw, taskId!, 'KILLED');
      await fw.kill(taskId!, agentId);
      await killed;
    });

    await eventually('nothing to be allocated', async () => (await master.state()).agents.every((a) => a.used === ''), 15_000);
    t.strictSame(invariantProblems(await master.state(), log, launched), [], 'every task ended exactly once, as the framework saw; nothing left allocated');
  });
}
