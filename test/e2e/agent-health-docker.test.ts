// Health checks of Docker tasks on a real agent and the real engine: an HTTP check against busybox
// httpd, and command checks that run inside the container (docker exec).
import t from 'tap';
import { DockerContainerizer } from '../../src/agent/containerizer/docker.js';
import { buildTask, takeResources, type HealthCheckOptions } from '../../src/framework-sdk/index.js';
import { nextEvent, OfferPool, startCluster, updatesUntil } from '../helpers/cluster.js';
import { prepareDocker, removeAgentContainers, TEST_IMAGE } from '../helpers/docker.js';
import { invariantProblems, UpdateLog } from '../helpers/agent-restart.js';

const FAST = { delayMs: 200, intervalMs: 200, timeoutMs: 3000 };
const REQUEST = 'cpus:0.1;mem:32;ports:1';

const problem = prepareDocker();
if (problem !== undefined) {
  t.fail(problem);
} else {
  t.test('health checks of docker tasks', async (t) => {
    const cluster = await startCluster(t, []);
    const fw = await cluster.framework({ name: 'docker-health' });
    const log = new UpdateLog(fw);
    const pool = new OfferPool(fw);
    // Ports no other test's tasks bind.
    const agent = await cluster.addAgent({ resources: 'cpus:2;mem:1024;disk:1024;ports:[31700-31709]', containerizers: [new DockerContainerizer()] });
    const agentId = agent.agentId();
    t.teardown(() => removeAgentContainers(agentId));
    const launched: string[] = [];

    const launch = async (command: (port: number) => string, check: (port: number) => HealthCheckOptions) => {
      const offer = await pool.take((o) => takeResources(o, REQUEST) !== undefined, 15_000);
      const resources = takeResources(offer, REQUEST)!;
      const port = resources.find((r) => r.name === 'ports')!.ranges![0]!.begin;
      const task = buildTask({ offer, resources, image: TEST_IMAGE, command: command(port), healthCheck: check(port), killGraceMs: 500 });
      launched.push(task.taskId);
      await fw.launch(offer, [task], { refuseSeconds: 0 });
      return task.taskId;
    };
    const firstHealth = (taskId: string) => nextEvent(fw, 'update', (s) => s.taskId === taskId && s.healthy !== undefined, 30_000).then(([s]) => s);
    const kill = async (taskId: string) => {
      const killed = updatesUntil(fw, taskId, 'KILLED', 30_000);
      await fw.kill(taskId, agentId);
      await killed;
    };

    await t.test('an HTTP check against busybox httpd in the container reports it healthy', async (t) => {
      const serve = (port: number) => `mkdir -p /tmp/www && echo ok > /tmp/www/health && exec httpd -f -p 127.0.0.1:${port} -h /tmp/www`;
      const taskId = await launch(serve, (port) => ({ type: 'http', port, path: '/health', ...FAST, gracePeriodMs: 20_000 }));
      const status = await firstHealth(taskId);
      t.equal(status.healthy, true);
      t.match(status.message, /HTTP 200/);
      await kill(taskId);
    });

    await t.test('a command check runs inside the container', async (t) => {
      // The marker exists only in the container's filesystem, never on the host.
      const marker = `/tmp/orbit-inside-${process.pid}-${Date.now()}`;
      const taskId = await launch(() => `touch ${marker}; sleep 600`, () => ({ type: 'command', command: `test -e ${marker}`, ...FAST, gracePeriodMs: 20_000 }));
      const status = await firstHealth(taskId);
      t.equal(status.healthy, true, 'the marker was found: the check ran in the container');
      await kill(taskId);
    });

    await t.test('a command check that exits 1 kills the container with HEALTH_CHECK_FAILED', async (t) => {
      const taskId = await launch(() => 'sleep 600', () => ({ type: 'command', command: 'exit 1', ...FAST, consecutiveFailures: 2 }));
      const updates = await updatesUntil(fw, taskId, 'KILLED', 30_000);
      t.strictSame(updates.map((s) => [s.state, s.healthy]), [['STARTING', undefined], ['RUNNING', undefined], ['RUNNING', false], ['KILLING', false], ['KILLED', false]]);
      t.equal(updates.at(-1)!.reason, 'HEALTH_CHECK_FAILED');
      t.match(updates[2]!.message, /command exited 1/);
    });

    t.strictSame(invariantProblems(await cluster.state(), log, launched), [], 'every task ended once; nothing left allocated');
  });
}
