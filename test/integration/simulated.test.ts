import t from 'tap';
import { SimulatedContainerizer } from '../../src/agent/containerizer/simulated.js';
import { buildTask } from '../../src/framework-sdk/index.js';
import { OfferPool, startCluster, updatesUntil } from '../helpers/cluster.js';

t.test('simulated tasks run nothing but go through the real protocol', async (t) => {
  const cluster = await startCluster(t, [{ resources: 'cpus:8;mem:8192', containerizers: [new SimulatedContainerizer()] }]);
  const fw = await cluster.framework({ name: 'rehearsal' });
  const pool = new OfferPool(fw);

  await t.test('a task asking for 100 ms is RUNNING at once and FINISHED after it', async (t) => {
    const offer = await pool.take();
    const task = buildTask({ offer, resources: 'cpus:1;mem:128', simulated: { durationMs: 100 } });
    t.equal(task.container.kind, 'simulated');
    const done = updatesUntil(fw, task.taskId, 'FINISHED');
    await fw.launch(offer, [task], { refuseSeconds: 0 });
    t.same((await done).map((s) => s.state), ['STARTING', 'RUNNING', 'FINISHED']);
  });

  await t.test('a task asking for exit code 3 is FAILED with it', async (t) => {
    const offer = await pool.take();
    const task = buildTask({ offer, resources: 'cpus:1;mem:128', simulated: { durationMs: 10, exitCode: 3 } });
    const done = updatesUntil(fw, task.taskId, 'FAILED');
    await fw.launch(offer, [task], { refuseSeconds: 0 });
    t.equal((await done).at(-1)?.exitCode, 3);
  });

  await t.test('a task with no duration runs until killed', async (t) => {
    const offer = await pool.take();
    const task = buildTask({ offer, resources: 'cpus:1;mem:128', simulated: {} });
    const running = updatesUntil(fw, task.taskId, 'RUNNING');
    await fw.launch(offer, [task], { refuseSeconds: 0 });
    await running;
    const killed = updatesUntil(fw, task.taskId, 'KILLED');
    await fw.kill(task.taskId);
    t.same((await killed).map((s) => s.state), ['KILLING', 'KILLED']);
  });

  t.throws(() => buildTask({ agentId: 'a', resources: 'cpus:1', simulated: {}, process: true }), /one of/);
});
