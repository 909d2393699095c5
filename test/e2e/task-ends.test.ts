/**
 * Every task's end reaches its framework, with real processes killed at the wrong moment: an agent
 * killed while a launch is on its way, an agent whose checkpoint lost a running task, an agent
 * restarted with fewer resources than its tasks use, and a master restarted under `orbit run`.
 */
import t from 'tap';
import { chmodSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterStateView } from '../../src/common/state-view.js';
import { spawnMaster } from '../helpers/agent-cli.js';
import { cliBuildProblem, spawnOrbit, type OrbitProcess } from '../helpers/cli.js';
import { eventually, tempDir, type TestLike } from '../helpers/cluster.js';
import { containersOfTask, prepareDocker, removeAgentContainers, TEST_IMAGE } from '../helpers/docker.js';
import { checkInvariants, latestState, updatesByTask } from '../helpers/invariants.js';
import { spawnFramework, type NodeProcess } from '../helpers/processes.js';

const problem = cliBuildProblem() ?? prepareDocker();
if (problem) t.fail(problem);

interface Cluster {
  master: string;
  httpPort: number;
  workDir: string;
  state(): Promise<ClusterStateView>;
  /** Starts `orbit agent` on its own work dir (the same one every time for the same `name`). */
  agent(name: string, extra?: string[]): OrbitProcess;
}

const AGENT_RESOURCES = 'cpus:2;mem:1024;ports:[31000-31009]';

async function cluster(t: TestLike): Promise<Cluster> {
  const workDir = tempDir(t);
  // Process tasks run as nobody (the agents' default --task-user), who must pass through this
  // private temp dir to reach their sandboxes in the agents' work dirs below it.
  chmodSync(workDir, 0o711);
  const m = await spawnMaster(t, { workDir: join(workDir, 'master') });
  const master = m.address;
  return {
    master,
    httpPort: m.httpPort,
    workDir,
    state: m.state,
    agent: (name, extra = []) =>
      spawnOrbit(t, ['agent', '--master', master, '--work-dir', join(workDir, name), '--http-port', '0', '--hostname', name, '--containerizers', 'docker,process', '--resources', AGENT_RESOURCES, '--kill-tasks-on-exit', '--log-level', 'warn', ...extra]),
  };
}

const frameworkIdOf = (fw: NodeProcess) => fw.events().find((e) => e['event'] === 'subscribed')?.['frameworkId'] as string | undefined;
const launchedTasks = (fw: NodeProcess) => fw.events().filter((e) => e['event'] === 'launching').map((e) => String(e['taskId']));

async function registered(c: Cluster, hostname: string): Promise<void> {
  await eventually(`agent ${hostname} is active`, async () => (await c.state()).agents.some((a) => a.hostname === hostname && a.status === 'active'), 20_000);
}

t.test('an agent killed while a launch is on its way to it: the framework hears TASK_DROPPED', async (t) => {
  const c = await cluster(t);
  const first = c.agent('a1');
  await registered(c, 'a1');
  // Registered and its id checkpointed (a restart before that would register a new agent).
  await eventually('the agent checkpointed its id', () => existsSync(join(c.workDir, 'a1', 'meta', 'agent.json')), 15_000);
  // Frozen, the agent cannot take the launch off its stream; killed, it never will.
  process.kill(first.pid, 'SIGSTOP');
  const fw = spawnFramework(t, c.master, { launch: 1, command: 'sleep 600' });
  const [taskId] = await eventually('the framework launches a task', () => (launchedTasks(fw).length === 1 ? launchedTasks(fw) : undefined), 15_000);
  await eventually('the master staged it', async () => (await c.state()).frameworks.some((f) => f.tasks.some((x) => x.id === taskId && x.state === 'STAGING')), 15_000);
  process.kill(first.pid, 'SIGKILL');
  await first.exited;
  c.agent('a1');
  await eventually('the framework is told the launch was dropped', () => latestState(fw, taskId!) === 'DROPPED', 30_000);
  const dropped = updatesByTask(fw).get(taskId!)?.at(-1);
  t.equal(dropped?.source, 'MASTER');
  const s = await c.state();
  t.equal(s.frameworks[0]?.completedTasks.find((x) => x.id === taskId)?.state, 'DROPPED');
  checkInvariants(t, s, [fw]);
});

t.test("an agent restarted without a running task's checkpoint: the framework hears TASK_LOST and the container is gone", async (t) => {
  const c = await cluster(t);
  const first = c.agent('a1');
  await registered(c, 'a1');
  const fw = spawnFramework(t, c.master, { launch: 1, command: 'sleep 600', image: TEST_IMAGE });
  const taskId = await eventually('its task runs', () => [...updatesByTask(fw)].find(([, u]) => u.some((x) => x.state === 'RUNNING'))?.[0], 60_000);
  // Should the orphan survive (what this test checks), it must not outlive the test.
  const agentId = (await c.state()).agents[0]?.id ?? '';
  t.teardown(() => removeAgentContainers(agentId));
  process.kill(first.pid, 'SIGKILL');
  await first.exited;
  // The checkpoint of that one task is damaged; --no-strict skips it, so the agent knows nothing of it.
  const frameworkId = frameworkIdOf(fw)!;
  const taskDir = join(c.workDir, 'a1', 'meta', 'frameworks', frameworkId, 'tasks', taskId);
  t.ok(readdirSync(taskDir).includes('task.json'), 'the task was checkpointed');
  writeFileSync(join(taskDir, 'task.json'), '{ not json');
  c.agent('a1', ['--no-strict']);
  await eventually('the framework is told the task is lost', () => latestState(fw, taskId) === 'LOST', 30_000);
  const s = await c.state();
  t.equal(s.frameworks[0]?.tasks.length, 0, 'no task is left active at the master');
  t.equal(s.agents[0]?.used, '', "the agent's resources are free again");
  await eventually('its container was removed as an orphan', () => containersOfTask(taskId).length === 0, 30_000);
  checkInvariants(t, s, [fw]);
});

t.test('an agent restarted with fewer resources than its tasks use refuses to start, and comes back with enough', async (t) => {
  const c = await cluster(t);
  const first = c.agent('a1', ['--containerizers', 'process']);
  await registered(c, 'a1');
  const before = (await c.state()).agents[0]?.resources;
  // Long enough for the test; short, should a failure leave them behind an agent killed -9.
  const fw = spawnFramework(t, c.master, { launch: 5, command: 'sleep 120' });
  await eventually('five tasks run', () => [...updatesByTask(fw).values()].filter((u) => u.some((x) => x.state === 'RUNNING')).length === 5, 30_000);
  process.kill(first.pid, 'SIGKILL');
  await first.exited;

  const small = c.agent('a1', ['--containerizers', 'process', '--resources', 'cpus:0.2;mem:64;ports:[31000-31009]']);
  const { code } = await small.exited;
  t.equal(code, 1, 'the smaller agent exits non-zero');
  t.match(small.stderr(), /use 'cpus:0\.5;mem:160', more than its resources 'cpus:0\.2;/, 'naming what the tasks use and what it has');
  t.match(small.stderr(), /--resources that hold them/, 'and the ways out');
  let s = await c.state();
  t.equal(s.agents[0]?.resources, before, 'the master keeps the agent as it was');

  c.agent('a1', ['--containerizers', 'process']);
  await registered(c, 'a1');
  s = await c.state();
  t.same(s.frameworks[0]?.tasks.map((x) => x.state), ['RUNNING', 'RUNNING', 'RUNNING', 'RUNNING', 'RUNNING'], 'its tasks are intact');
  checkInvariants(t, s, [fw]);
});

t.test("a master killed -9 and restarted under orbit run: the task runs on and orbit run exits with its code", async (t) => {
  const workDir = tempDir(t);
  // The task runs as nobody (the agent's default --task-user): it passes through this dir to its
  // sandbox in the agent's work dir below, and writes its marker here (sticky, as /tmp).
  chmodSync(workDir, 0o1777);
  const m = await spawnMaster(t, { workDir: join(workDir, 'master') });
  const [first, master] = [m.process, m.address];
  spawnOrbit(t, ['agent', '--master', master, '--work-dir', join(workDir, 'agent'), '--http-port', '0', '--containerizers', 'process', '--resources', AGENT_RESOURCES, '--log-level', 'warn']);
  const marker = join(workDir, 'ran-to-the-end');
  rmSync(marker, { force: true });
  const run = spawnOrbit(t, ['run', '--master', master, '--process', '--', 'sh', '-c', `sleep 4; touch ${marker}; exit 7`]);
  await eventually('the task runs', () => /RUNNING/.test(run.stderr()), 20_000);
  process.kill(first.pid, 'SIGKILL');
  await first.exited;
  await m.restart();
  const { code } = await run.exited;
  t.equal(code, 7, `orbit run exits with the task's code (stderr: ${run.stderr().slice(-400)})`);
  t.notMatch(run.stderr(), /torn down/, 'its framework was not torn down');
  t.ok(readdirSync(workDir).includes('ran-to-the-end'), 'the task ran to its end');
});
