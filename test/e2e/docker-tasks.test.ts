// Docker tasks end to end: a real master and agent in this process, the real Docker engine (start
// one with scripts/start-dockerd), and a framework that goes offer → launch → status updates.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DockerContainerizer } from '../../src/agent/containerizer/docker.js';
import { ProcessContainerizer } from '../../src/agent/containerizer/process.js';
import type { RunningAgent } from '../../src/agent/agent.js';
import {
  buildTask,
  takeResources,
  type Offer,
  type Resources,
  type SchedulerClient,
  type TaskOptions,
  type TaskState,
  type TaskStatus,
} from '../../src/framework-sdk/index.js';
import { eventually, nextEvent, startCluster, updatesUntil } from '../helpers/cluster.js';
import { containersOfTask, OOM_DELAY_S, prepareDocker, removeAgentContainers, TEST_IMAGE, UNPULLABLE_IMAGE } from '../helpers/docker.js';

const AGENT_RESOURCES = 'cpus:2;mem:2048;ports:[31000-31009]';
/** Launches leave nothing filtered, so what is left of an offer comes back at the next allocation. */
const NO_FILTER = { refuseSeconds: 0 };
/** Slack on top of a kill grace period for the engine to stop and remove the container. */
const KILL_SLACK_MS = 4_000;
const NO_CONTAINER_LEFT = 'no container labelled with the task id remains';

/**
 * Every offer the framework holds, kept from the moment it arrives until it is taken or
 * rescinded, so that no offer sent while a test waits on something else is lost.
 */
class OfferPool {
  private readonly offers = new Map<string, Offer>();

  constructor(client: SchedulerClient) {
    client.on('offers', (offers) => offers.forEach((o) => this.offers.set(o.id, o)));
    client.on('rescind', (id) => this.offers.delete(id));
  }

  /** Waits for an offer that `request` fits, and takes the request out of it. */
  async take(request: string, timeoutMs = 10_000): Promise<{ offer: Offer; resources: Resources }> {
    return eventually(`an offer with ${request}`, () => {
      for (const offer of this.offers.values()) {
        const resources = takeResources(offer, request);
        if (resources) {
          this.offers.delete(offer.id);
          return { offer, resources };
        }
      }
      return undefined;
    }, timeoutMs);
  }
}

interface Launched {
  taskId: string;
  offer: Offer;
  resources: Resources;
  /** The updates up to and including the first with `until`. */
  updates: Promise<TaskStatus[]>;
}

const states = (updates: TaskStatus[]) => updates.map((u) => u.state);
const sandboxFile = (agent: RunningAgent, taskId: string, name: 'stdout' | 'stderr') =>
  readFileSync(join(agent.runner.find(taskId)!.sandboxDir, name), 'utf8');

const dockerProblem = prepareDocker();
if (dockerProblem !== undefined) {
  t.fail(dockerProblem);
} else {
  t.test('docker tasks through a real master and agent', async (t) => {
    // The framework subscribes before the agent registers, so it cannot miss the first offer.
    const cluster = await startCluster(t, []);
    const fw = await cluster.framework({ name: 'docker-e2e' });
    const pool = new OfferPool(fw);
    const agent = await cluster.addAgent({ resources: AGENT_RESOURCES, containerizers: [new DockerContainerizer(), new ProcessContainerizer()] });
    const agentId = agent.agentId();
    t.teardown(() => removeAgentContainers(agentId));

    /** Takes `request` from an offer and launches one task with it; `updates` ends at `until`. */
    const launch = async (request: string, until: TaskState, options: Omit<TaskOptions, 'offer' | 'resources'>): Promise<Launched> => {
      const { offer, resources } = await pool.take(request);
      const task = buildTask({ offer, resources, ...options });
      const updates = updatesUntil(fw, task.taskId, until, 30_000);
      await fw.launch(offer, [task], NO_FILTER);
      return { taskId: task.taskId, offer, resources, updates };
    };

    await t.test('a container that exits 0 is FINISHED with code 0 and its output in the sandbox', async (t) => {
      const run = await launch('cpus:0.1;mem:64', 'FINISHED', { image: TEST_IMAGE, command: 'echo hi' });
      const updates = await run.updates;
      t.same(states(updates), ['STARTING', 'RUNNING', 'FINISHED'], 'STARTING, RUNNING, FINISHED');
      t.ok(updates.every((u) => u.source === 'AGENT' && u.agentId === agentId), 'agent-made updates');
      t.equal(updates.at(-1)!.exitCode, 0, 'exit code 0');
      t.equal(sandboxFile(agent, run.taskId, 'stdout'), 'hi\n', 'the output is in the sandbox stdout');
      t.same(containersOfTask(run.taskId), [], NO_CONTAINER_LEFT);
    });

    await t.test('a container that exits 3 is FAILED with exit code 3 named in the message', async (t) => {
      const run = await launch('cpus:0.1;mem:64', 'FAILED', { image: TEST_IMAGE, command: 'exit 3' });
      const last = (await run.updates).at(-1)!;
      t.equal(last.exitCode, 3, 'exit code 3');
      t.equal(last.reason, 'COMMAND_EXITED', 'reason COMMAND_EXITED');
      t.match(last.message, /code 3\b/, 'the message names code 3');
      t.same(containersOfTask(run.taskId), [], NO_CONTAINER_LEFT);
    });

    await t.test('a container that ignores SIGTERM is SIGKILLed after its grace period and reported KILLED', async (t) => {
      // `sh -c` (or what it execs) is PID 1 in the container, and PID 1 ignores SIGTERM unless it
      // installs a handler: only the SIGKILL after the grace period ends it.
      const graceMs = 1000;
      const taskId = `sleeper-${process.pid}-${Date.now()}`;
      const running = nextEvent(fw, 'update', (s) => s.taskId === taskId && s.state === 'RUNNING', 30_000);
      const run = await launch('cpus:0.1;mem:64', 'KILLED', { taskId, image: TEST_IMAGE, command: 'sleep 600', killGraceMs: graceMs });
      await running;
      const started = Date.now();
      await fw.kill(run.taskId, agentId);
      const updates = await run.updates;
      const took = Date.now() - started;
      t.same(states(updates), ['STARTING', 'RUNNING', 'KILLING', 'KILLED'], 'KILLING, then KILLED');
      t.ok(took >= graceMs - 100, `SIGTERM alone did not end it (KILLED after ${took} ms)`);
      t.ok(took <= graceMs + KILL_SLACK_MS, `KILLED within the grace period plus ${KILL_SLACK_MS} ms (${took} ms)`);
      const last = updates.at(-1)!;
      t.equal(last.reason, 'KILLED_BY_FRAMEWORK', 'reason KILLED_BY_FRAMEWORK');
      t.match(last.message, /SIGKILL/, 'the message says SIGKILL ended it');
      t.same(containersOfTask(run.taskId), [], NO_CONTAINER_LEFT);
    });

    await t.test('a container over its memory limit is FAILED with CONTAINER_LIMITATION_MEMORY', async (t) => {
      // dd allocates its 100 MiB block up front, past the 32 MiB limit (swap is off). It waits first,
      // as a real service's memory grows over time: Docker can miss an OOM kill in a container's first
      // milliseconds, before containerd watches its OOM events.
      const run = await launch('cpus:0.1;mem:32', 'FAILED', { image: TEST_IMAGE, command: `sleep ${OOM_DELAY_S}; dd if=/dev/zero of=/dev/null bs=100M count=1` });
      const last = (await run.updates).at(-1)!;
      t.equal(last.reason, 'CONTAINER_LIMITATION_MEMORY', 'reason CONTAINER_LIMITATION_MEMORY');
      t.match(last.message, /out of memory/, 'the message says out of memory');
      t.same(containersOfTask(run.taskId), [], NO_CONTAINER_LEFT);
    });

    await t.test('PORT0 in the container is the port that was offered and accepted', async (t) => {
      const run = await launch('cpus:0.1;mem:64;ports:1', 'FINISHED', { image: TEST_IMAGE, command: 'echo "$PORT0 $PORTS"' });
      const accepted = run.resources.find((r) => r.name === 'ports')?.ranges ?? [];
      t.equal(accepted.length, 1, 'one port range accepted');
      const port = accepted[0]!.begin;
      t.equal(accepted[0]!.end, port, 'exactly one port');
      const offered = run.offer.resources.find((r) => r.name === 'ports')?.ranges ?? [];
      t.ok(offered.some((r) => r.begin <= port && port <= r.end), `port ${port} was in the offer`);
      await run.updates;
      t.equal(sandboxFile(agent, run.taskId, 'stdout'), `${port} ${port}\n`, 'PORT0 and PORTS are the accepted port');
      t.same(containersOfTask(run.taskId), [], NO_CONTAINER_LEFT);
    });

    await t.test('the task, framework and agent ids and the task env reach the container', async (t) => {
      const run = await launch('cpus:0.1;mem:64', 'FINISHED', {
        image: TEST_IMAGE,
        command: 'echo "$ORBIT_TASK_ID|$ORBIT_FRAMEWORK_ID|$ORBIT_AGENT_ID|$GREETING"',
        env: { GREETING: 'hello there' },
      });
      await run.updates;
      t.equal(sandboxFile(agent, run.taskId, 'stdout'), `${run.taskId}|${fw.frameworkId}|${agentId}|hello there\n`, 'ORBIT_TASK_ID|ORBIT_FRAMEWORK_ID|ORBIT_AGENT_ID|GREETING');
      t.same(containersOfTask(run.taskId), [], NO_CONTAINER_LEFT);
    });

    await t.test('an image that is absent and cannot be pulled is FAILED with IMAGE_PULL_FAILED naming it', async (t) => {
      const run = await launch('cpus:0.1;mem:64', 'FAILED', { image: UNPULLABLE_IMAGE, command: 'true' });
      const updates = await run.updates;
      t.same(states(updates), ['STARTING', 'STARTING', 'FAILED'], 'it never ran');
      t.equal(updates[1]!.message, `pulling image ${UNPULLABLE_IMAGE}`, 'the framework hears that a pull started');
      const last = updates.at(-1)!;
      t.equal(last.reason, 'IMAGE_PULL_FAILED', 'reason IMAGE_PULL_FAILED');
      t.match(last.message, UNPULLABLE_IMAGE, 'the message names the image');
      t.same(containersOfTask(run.taskId), [], NO_CONTAINER_LEFT);

      const next = await launch('cpus:0.1;mem:64', 'FINISHED', { image: TEST_IMAGE, command: 'echo still-working' });
      t.same(states(await next.updates), ['STARTING', 'RUNNING', 'FINISHED'], 'the agent keeps running docker tasks');
      t.equal(sandboxFile(agent, next.taskId, 'stdout'), 'still-working\n', 'its output is in the sandbox');
      t.same(containersOfTask(next.taskId), [], NO_CONTAINER_LEFT);
    });

    await t.test('a process task runs on the same agent as the docker tasks', async (t) => {
      const run = await launch('cpus:0.1;mem:32', 'FINISHED', { process: true, command: 'echo "process $ORBIT_TASK_ID"' });
      t.same(states(await run.updates), ['STARTING', 'RUNNING', 'FINISHED'], 'STARTING, RUNNING, FINISHED');
      t.equal(sandboxFile(agent, run.taskId, 'stdout'), `process ${run.taskId}\n`, 'its output is in the sandbox');
    });

    await t.test("every task's resources are back with the agent", async (t) => {
      await eventually('resources released', async () => (await cluster.state()).agents.find((a) => a.id === agentId)?.used === '');
      t.pass('nothing is in use');
    });
  });
}
