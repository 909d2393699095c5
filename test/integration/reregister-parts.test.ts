/**
 * An agent whose tasks together encode to more than the master's receive limit (4 MiB) still
 * re-registers after a master restart: its re-registration comes in parts.
 */
import t from 'tap';
import { SimulatedContainerizer } from '../../src/agent/containerizer/simulated.js';
import { buildTask, type Offer } from '../../src/framework-sdk/index.js';
import { atLeastCpus, eventually, OfferPool, startCluster, startMasterForTest, tempDir, updatesUntil } from '../helpers/cluster.js';

t.test('an agent running more than 4 MiB of tasks re-registers with all of them after a master restart', async (t) => {
  const workDir = tempDir(t);
  const first = await startMasterForTest(t, workDir);
  const cluster = await startCluster(t, [], first);
  const agent = await cluster.addAgent({ resources: 'cpus:64;mem:65536', containerizers: [new SimulatedContainerizer()] });
  const fw = await cluster.framework({ name: 'big-tasks' });
  const pool = new OfferPool(fw);
  const TASKS = 80;
  // 60 KiB of environment each: 80 of them are about 5 MiB, more than one message may carry.
  const env = { PAYLOAD: 'x'.repeat(60 * 1024) };
  for (let batch = 0; batch < 4; batch++) {
    const offer: Offer = await pool.take(atLeastCpus(1));
    const tasks = Array.from({ length: TASKS / 4 }, () => buildTask({ offer, resources: 'cpus:0.1;mem:32', simulated: {}, env }));
    const running = updatesUntil(fw, tasks.at(-1)!.taskId, 'RUNNING');
    await fw.launch(offer, tasks, { refuseSeconds: 0 });
    await running;
  }
  t.equal(agent.runner.activeTasks().length, TASKS);

  const port = first.port;
  await first.stop();
  const second = await startMasterForTest(t, workDir, port);
  await eventually('the agent is back with every task', () => second.core.view.tasksOn(agent.agentId()) === TASKS, 20_000);
  t.equal(second.core.view.agent(agent.agentId())?.state, 'active', 'and active');
});
