/**
 * Per-call caps: a call at its cap goes through, one over is INVALID_ARGUMENT naming the cap and
 * its master flag, before any of it is applied. Caps are lowered by the master's options here so
 * that the calls stay small; the defaults are checked against what the SDK sends.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { taskToProto } from '../../src/common/codec.js';
import { callLimitsFromFlags } from '../../src/cli/call-limit-flags.js';
import { MAX_ACKS_PER_CALL, MAX_RECONCILE_TASKS_PER_CALL, MAX_TASKS_PER_ACCEPT, SchedulerClient } from '../../src/framework-sdk/scheduler-client.js';
import { buildTask } from '../../src/framework-sdk/index.js';
import { CALL_CAPS, callLimits, type CallLimits } from '../../src/common/call-limits.js';
import { startMaster } from '../../src/master/master.js';
import { atLeastCpus, FAST_MASTER, nextEvent, OfferPool, startAgentForTest, startCluster, tempDir } from '../helpers/cluster.js';
import { rawOperator, rawScheduler } from '../helpers/raw-grpc.js';
import { testMasterSecurity } from '../helpers/pki.js';

const LOW: CallLimits = { tasksPerAccept: 4, operationsPerAccept: 3, offersPerAccept: 2, offersPerDecline: 2, reconcileTasks: 5, acksPerCall: 3, rolesPerCall: 2, quotaResources: 2 };

t.test('a call over a cap is refused naming the cap and its flag; a call at the cap goes through', async (t) => {
  const master = await startMaster({ security: testMasterSecurity(), ip: '127.0.0.1', port: 0, httpPort: 0, workDir: tempDir(t), ...FAST_MASTER, callLimits: LOW });
  t.teardown(() => master.stop());
  await startAgentForTest(t, master.address, { resources: 'cpus:4;mem:4096' }).then((a) => a.registered());
  const fw = new SchedulerClient({ master: master.address, framework: { name: 'capped', roles: ['a', 'b', 'c'], failoverTimeoutMs: 60_000 }, reconnectBaseMs: 50, reconnectMaxMs: 500 });
  t.teardown(() => fw.close());
  const { streamId, frameworkId } = await fw.start();
  const header = { frameworkId, streamId };
  const sched = rawScheduler(t, master.address);
  const op = rawOperator(t, master.address);
  const pool = new OfferPool(fw);
  const offer = await pool.take(atLeastCpus(1));
  const tasks = (n: number) => Array.from({ length: n }, () => taskToProto(buildTask({ offer, resources: 'cpus:0.01;mem:1', command: 'true' })));
  const ids = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  const scalars = (n: number) => Array.from({ length: n }, (_, i) => ({ name: ['cpus', 'mem', 'disk'][i] ?? `r${i}`, type: 'SCALAR' as const, scalar: 1 }));

  type Case = [string, 'scheduler' | 'operator', string, (n: number) => Record<string, unknown>, keyof CallLimits];
  const cases: Case[] = [
    ['tasks in one Accept', 'scheduler', 'Accept', (n) => ({ header, offerIds: ['offer-gone'], operations: [{ launch: { tasks: tasks(n) } }] }), 'tasksPerAccept'],
    ['tasks over several LAUNCH operations', 'scheduler', 'Accept', (n) => ({ header, offerIds: ['offer-gone'], operations: [{ launch: { tasks: tasks(n - 1) } }, { launch: { tasks: tasks(1) } }] }), 'tasksPerAccept'],
    ['operations in one Accept', 'scheduler', 'Accept', (n) => ({ header, offerIds: ['offer-gone'], operations: Array.from({ length: n }, () => ({ launch: { tasks: [] } })) }), 'operationsPerAccept'],
    ['offer ids in one Accept', 'scheduler', 'Accept', (n) => ({ header, offerIds: ids(n, 'offer-gone'), operations: [] }), 'offersPerAccept'],
    ['offer ids in one Decline', 'scheduler', 'Decline', (n) => ({ header, offerIds: ids(n, 'offer-gone') }), 'offersPerDecline'],
    ['task ids in one Reconcile', 'scheduler', 'Reconcile', (n) => ({ header, tasks: ids(n, 'task').map((taskId) => ({ taskId })) }), 'reconcileTasks'],
    ['acknowledgements in one Acknowledge', 'scheduler', 'Acknowledge', (n) => ({ header, acks: ids(n, 'task').map((taskId) => ({ taskId, uuid: 'u1' })) }), 'acksPerCall'],
    ['roles in one Revive', 'scheduler', 'Revive', (n) => ({ header, roles: ['a', 'b', 'c'].slice(0, n) }), 'rolesPerCall'],
    ['roles in one Suppress', 'scheduler', 'Suppress', (n) => ({ header, roles: ['a', 'b', 'c'].slice(0, n) }), 'rolesPerCall'],
    ['roles in one UpdateWeights', 'operator', 'UpdateWeights', (n) => ({ weights: ['a', 'b', 'c'].slice(0, n).map((role) => ({ role, weight: 2 })) }), 'rolesPerCall'],
    ['entries in a quota guarantee', 'operator', 'SetQuota', (n) => ({ role: 'a', guarantee: scalars(n), force: true }), 'quotaResources'],
    ['entries in a quota limit', 'operator', 'SetQuota', (n) => ({ role: 'a', limit: scalars(n), force: true }), 'quotaResources'],
  ];
  for (const [what, service, method, request, cap] of cases) {
    const call = (n: number) => (service === 'scheduler' ? sched : op).call(method, request(n));
    const at = await call(LOW[cap]);
    t.not(grpc.status[at.code] === 'INVALID_ARGUMENT' && /exceed the cap/.test(at.details), true, `${what}: ${LOW[cap]} (the cap) go through (${grpc.status[at.code]} ${at.details})`);
    const over = await call(LOW[cap] + 1);
    t.equal(grpc.status[over.code], 'INVALID_ARGUMENT', `${what}: ${LOW[cap] + 1} are refused`);
    t.match(over.details, new RegExp(`exceed the cap of ${LOW[cap]} .*\\(master flag ${CALL_CAPS[cap].flag}\\)`), `${what}: names the cap and ${CALL_CAPS[cap].flag}`);
  }

  await t.test('a refused Accept applied nothing: its offer still launches', async (t) => {
    const over = await sched.call('Accept', { header, offerIds: [offer.id], operations: [{ launch: { tasks: tasks(LOW.tasksPerAccept + 1) } }] });
    t.equal(grpc.status[over.code], 'INVALID_ARGUMENT');
    const launched = tasks(LOW.tasksPerAccept);
    const running = nextEvent(fw, 'update', (s) => s.taskId === launched[0]!.taskId && s.state === 'RUNNING');
    t.equal((await sched.call('Accept', { header, offerIds: [offer.id], operations: [{ launch: { tasks: launched } }] })).code, grpc.status.OK);
    await running;
  });
});

t.test('the default caps hold what the SDK sends, and a long reconcile is split to fit', async (t) => {
  const defaults = callLimits();
  t.ok(MAX_ACKS_PER_CALL <= defaults.acksPerCall, `the SDK's ${MAX_ACKS_PER_CALL} acknowledgements per call are within --max-acks-per-call ${defaults.acksPerCall}`);
  t.ok(MAX_RECONCILE_TASKS_PER_CALL <= defaults.reconcileTasks, `the SDK's ${MAX_RECONCILE_TASKS_PER_CALL} reconcile ids per call are within --max-reconcile-tasks ${defaults.reconcileTasks}`);
  t.ok(MAX_TASKS_PER_ACCEPT <= defaults.tasksPerAccept, `the frameworks' ${MAX_TASKS_PER_ACCEPT} tasks per Accept are within --max-tasks-per-accept ${defaults.tasksPerAccept}`);
  const cluster = await startCluster(t, [{ hostname: 'alpha' }]);
  const fw = await cluster.framework({ name: 'reconciler' });
  const many = Array.from({ length: 2_500 }, (_, i) => ({ taskId: `gone-${i}`, agentId: '' }));
  const lost = new Set<string>();
  fw.on('update', (s) => {
    if (s.state === 'LOST') lost.add(s.taskId);
  });
  await fw.reconcile(many);
  await nextEvent(fw, 'update', () => lost.size === many.length, 10_000).catch(() => undefined);
  t.equal(lost.size, many.length, 'every one of 2500 tasks is answered');
  const sched = rawScheduler(t, cluster.master.address);
  const { streamId } = await fw.start();
  const over = await sched.call('Reconcile', { header: { frameworkId: fw.frameworkId, streamId }, tasks: many.slice(0, defaults.reconcileTasks + 1) });
  t.equal(grpc.status[over.code], 'INVALID_ARGUMENT', `one call of ${defaults.reconcileTasks + 1} is refused at the default cap`);
});

t.test('each cap is bounded: the master and its flags refuse a cap out of range', async (t) => {
  for (const [key, cap] of Object.entries(CALL_CAPS) as [keyof CallLimits, (typeof CALL_CAPS)[keyof CallLimits]][]) {
    t.throws(() => callLimits({ [key]: 0 }), new RegExp(`${cap.flag} must be an integer from ${cap.bounds.min} to ${cap.bounds.max}`), `${cap.flag} 0 is refused`);
    t.throws(() => callLimits({ [key]: cap.bounds.max + 1 }), RangeError, `${cap.flag} ${cap.bounds.max + 1} is refused`);
    t.equal(callLimits({ [key]: cap.bounds.max })[key], cap.bounds.max, `${cap.flag} ${cap.bounds.max} is accepted`);
  }
  const flags = Object.fromEntries(Object.values(CALL_CAPS).map((c) => [c.flag.slice(2).replace(/-(\w)/g, (_, x: string) => x.toUpperCase()), c.default]));
  t.same(callLimitsFromFlags(flags), callLimits(), 'the flags\' defaults are the caps\' defaults');
  t.throws(() => callLimitsFromFlags({ ...flags, maxTasksPerAccept: 1.5 }), /--max-tasks-per-accept must be an integer/);
});
