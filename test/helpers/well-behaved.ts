/**
 * The check that ends a hostile-input test: after whatever the test threw at the master, a fresh,
 * well-behaved framework still gets an offer from a named agent and runs a task there to the end.
 */
import { buildTask, SchedulerClient, type TaskStatus } from '../../src/framework-sdk/index.js';
import { OfferPool, updatesUntil, type TestLike } from './cluster.js';

/** Subscribes a new framework to `master`, launches one short simulated task on `hostname`; resolves with the task's updates up to FINISHED. */
export async function launchOneTask(t: TestLike, master: string, hostname: string): Promise<TaskStatus[]> {
  const fw = new SchedulerClient({ master, framework: { name: 'well-behaved', failoverTimeoutMs: 60_000 }, reconnectBaseMs: 50, reconnectMaxMs: 500 });
  t.teardown(() => fw.close());
  const pool = new OfferPool(fw);
  await fw.start();
  const offer = await pool.take((o) => o.hostname === hostname, 15_000);
  const task = buildTask({ offer, resources: 'cpus:0.1;mem:32', simulated: { durationMs: 50 } });
  const [updates] = await Promise.all([updatesUntil(fw, task.taskId, 'FINISHED', 15_000), fw.launch(offer, [task])]);
  return updates;
}
