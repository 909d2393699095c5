/**
 * Masters in HA for a test, in this process, on a real etcd (helpers/etcd.ts): the test CA, the
 * fast timings, a short campaign interval; each stopped at teardown. And a framework on the SDK
 * with one long task RUNNING, for tests that check a failover disturbs nothing.
 */
import { buildTask, SchedulerClient, type TaskSpec, type TaskStatus } from '../../src/framework-sdk/index.js';
import { parseEtcdUrl } from '../../src/common/etcd-client.js';
import { startMaster, type MasterOptions, type RunningMaster } from '../../src/master/master.js';
import { FAST_MASTER, nextEvent, tempDir, type TestLike } from './cluster.js';
import type { TestEtcd } from './etcd.js';
import { OPERATOR, testMasterSecurity } from './pki.js';

/** `n` masters on `etcd`, with `extra` options. */
export async function startHaMasters(t: TestLike, etcd: TestEtcd, n: number, extra: Partial<MasterOptions> = {}): Promise<RunningMaster[]> {
  const masters: RunningMaster[] = [];
  for (let i = 0; i < n; i++) {
    const master = await startMaster({
      ip: '127.0.0.1',
      port: 0,
      httpPort: 0,
      workDir: tempDir(t),
      ...FAST_MASTER,
      security: testMasterSecurity(),
      registry: { kind: 'etcd', endpoints: parseEtcdUrl(etcd.url), campaignIntervalMs: 100 },
      ...extra,
    });
    t.teardown(() => master.stop());
    masters.push(master);
  }
  return masters;
}

/** The one master of `masters` that leads, once one does; throws if several say they do. */
export async function leaderOf(masters: readonly RunningMaster[]): Promise<RunningMaster> {
  await Promise.race(masters.map((m) => m.leading()));
  const leading = masters.filter((m) => m.health().role === 'leader');
  if (leading.length !== 1) throw new Error(`${leading.length} masters lead`);
  return leading[0]!;
}

/** A framework on `master` (a list) with a `sleep 600` task RUNNING; `updates` collects every update after that. */
export async function frameworkWithRunningTask(t: TestLike, master: string, name: string): Promise<{ fw: SchedulerClient; task: TaskSpec; updates: TaskStatus[] }> {
  const fw = new SchedulerClient({ master, security: OPERATOR, framework: { name, failoverTimeoutMs: 60_000 }, reconnectBaseMs: 50, reconnectMaxMs: 500 });
  t.teardown(() => fw.close());
  await fw.start();
  const [[offer]] = await nextEvent(fw, 'offers');
  const task = buildTask({ offer: offer!, resources: 'cpus:0.2;mem:64', command: 'sleep 600' });
  const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
  await fw.launch(offer!, [task]);
  await running;
  const updates: TaskStatus[] = [];
  fw.on('update', (s) => updates.push(s));
  return { fw, task, updates };
}
