import t from 'tap';
import { launchAndDecline } from '../../src/frameworks/common/subscription.js';
import { buildTask, MAX_TASKS_PER_ACCEPT, silentLogger, type Offer, type SchedulerClient, type TaskSpec } from '../../src/framework-sdk/index.js';
import { res } from '../helpers/builders.js';

const offer = (id: string): Offer => ({ id, frameworkId: 'fw-1', agentId: 'a1', hostname: 'h', role: '*', resources: res('cpus:100;mem:100000'), attributes: [] });
const tasks = (n: number): TaskSpec[] => Array.from({ length: n }, (_, i) => buildTask({ taskId: `t-${i}`, agentId: 'a1', resources: 'cpus:0.01;mem:1', command: 'true' }));

/** A scheduler client that records the calls the helper makes; launches settle as `launch` says. */
function recorder(launch: () => Promise<void> = () => Promise.resolve()) {
  const calls: { launched: string[][]; reconciled: string[][]; declined: string[][] } = { launched: [], reconciled: [], declined: [] };
  const client = {
    launch: (_o: Offer, list: TaskSpec[]) => (calls.launched.push(list.map((x) => x.taskId)), launch()),
    reconcile: (list: { taskId: string }[]) => (calls.reconciled.push(list.map((x) => x.taskId)), Promise.resolve()),
    decline: (ids: string[]) => (calls.declined.push(ids), Promise.resolve()),
  } as unknown as SchedulerClient;
  return { client, calls };
}
const flush = () => new Promise((resolve) => setImmediate(resolve));

t.test('launchAndDecline', async (t) => {
  const cases: [string, number, () => Promise<void>, { launched: number; reconciled: number[] }][] = [
    ['launches all of a few tasks and reconciles none', 3, () => Promise.resolve(), { launched: 3, reconciled: [] }],
    ['launches exactly the cap', MAX_TASKS_PER_ACCEPT, () => Promise.resolve(), { launched: MAX_TASKS_PER_ACCEPT, reconciled: [] }],
    ['launches the cap and reconciles the rest, which come back LOST to be placed again', MAX_TASKS_PER_ACCEPT + 100, () => Promise.resolve(), { launched: MAX_TASKS_PER_ACCEPT, reconciled: [100] }],
    ['reconciles every task placed when the launch fails', MAX_TASKS_PER_ACCEPT + 1, () => Promise.reject(new Error('UNAVAILABLE')), { launched: MAX_TASKS_PER_ACCEPT, reconciled: [MAX_TASKS_PER_ACCEPT + 1] }],
  ];
  for (const [behaviour, n, launch, want] of cases) {
    const { client, calls } = recorder(launch);
    launchAndDecline(client, [offer('o1'), offer('o2')], new Map([['o1', tasks(n)]]), 5, silentLogger);
    await flush();
    t.same(calls.launched.map((l) => l.length), [want.launched], `${behaviour}: launched`);
    t.same(calls.reconciled.map((r) => r.length), want.reconciled, `${behaviour}: reconciled`);
    t.same(calls.declined, [['o2']], `${behaviour}: the offer without tasks is declined`);
  }
});
