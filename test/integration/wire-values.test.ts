/**
 * Enums and numbers from outside, through raw gRPC clients: an unknown enum value or a number out
 * of its range is INVALID_ARGUMENT naming the field (never INTERNAL, never a fallback), where 0 is
 * meaningful it means 0, and a task's own faults refuse that task alone (TASK_ERROR).
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { agentInfoToProto, statusToProto, taskToProto } from '../../src/common/codec.js';
import { parseResources } from '../../src/common/resources.js';
import { buildTask, type Offer, type TaskSpec } from '../../src/framework-sdk/index.js';
import type { TaskInfo } from '../../src/gen/orbit/v1/TaskInfo.js';
import { agentStatus } from '../helpers/builders.js';
import { atLeastCpus, nextEvent, OfferPool, startCluster, updatesUntil } from '../helpers/cluster.js';
import { rawAgentSession, rawAs, rawOperator } from '../helpers/raw-grpc.js';

t.test('unknown enums and numbers out of range are INVALID_ARGUMENT naming the field', async (t) => {
  const cluster = await startCluster(t, [{ hostname: 'alpha', resources: 'cpus:4;mem:2048;ports:[31000-31009]' }]);
  const fw = await cluster.framework({ name: 'numbers' });
  const { sched, header } = await rawAs(t, cluster.master.address, fw);
  const pool = new OfferPool(fw);
  let offer: Offer = await pool.take(atLeastCpus(1));
  const good = (extra: Partial<TaskInfo> = {}): TaskInfo => ({ ...taskToProto(buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'true' })), ...extra });
  const accept = (task: TaskInfo) => ({ header, offerIds: [offer.id], operations: [{ launch: { tasks: [task] } }] });
  const health = { type: 'HEALTH_TCP' as const, port: 31000 };

  await t.test('scheduler calls', async (t) => {
    const cases: [string, string, Record<string, unknown>, RegExp][] = [
      ['an unknown container type', 'Accept', accept(good({ container: { type: 42 as never } })), /tasks\[0\]\.container\.type: unknown container type 42/],
      ['no container type', 'Accept', accept(good({ container: { type: 'CONTAINER_TYPE_UNKNOWN' } })), /tasks\[0\]\.container\.type: a task needs a container type: DOCKER, PROCESS or SIMULATED/],
      ['an unknown health check type', 'Accept', accept(good({ healthCheck: { ...health, type: 17 as never } })), /tasks\[0\]\.health_check\.type: unknown health check type 17/],
      ['an unknown resource type', 'Accept', accept(good({ resources: [{ name: 'cpus', type: 5 as never, scalar: 0.1 }] })), /tasks\[0\]\.resources\[0\]\.type: /],
      ['a kill grace of 1e300 s', 'Accept', accept(good({ killGraceSeconds: 1e300 })), /tasks\[0\]\.kill_grace_seconds: must be 0 to 3600 seconds/],
      ['an infinite kill grace', 'Accept', accept(good({ killGraceSeconds: Infinity })), /tasks\[0\]\.kill_grace_seconds: /],
      ['a negative health check delay', 'Accept', accept(good({ healthCheck: { ...health, delaySeconds: -1 } })), /health_check\.delay_seconds: /],
      ['a 1 ms health check interval', 'Accept', accept(good({ healthCheck: { ...health, intervalSeconds: 0.001 } })), /health_check\.interval_seconds: must be 0\.1 to 86400 seconds/],
      ['a negative health check timeout', 'Accept', accept(good({ healthCheck: { ...health, timeoutSeconds: -20 } })), /health_check\.timeout_seconds: /],
      ['a million consecutive failures', 'Accept', accept(good({ healthCheck: { ...health, consecutiveFailures: 1_000_000 } })), /health_check\.consecutive_failures: /],
      ['mem: 1e308', 'Accept', accept(good({ resources: [{ name: 'mem', type: 'SCALAR', scalar: 1e308 }] })), /tasks\[0\]\.resources\[0\]\.scalar: mem must be a number from 0 to 1000000000/],
      ['cpus: NaN', 'Accept', accept(good({ resources: [{ name: 'cpus', type: 'SCALAR', scalar: NaN }] })), /resources\[0\]\.scalar: /],
      ['a port range past 65535', 'Accept', accept(good({ resources: [{ name: 'ports', type: 'RANGES', ranges: [{ begin: 31000, end: 99999 }] }] })), /resources\[0\]\.ranges: /],
      ['an infinite refuse_seconds', 'Decline', { header, offerIds: ['offer-x'], filters: { refuseSeconds: Infinity } }, /^filters\.refuse_seconds: /],
      ['refuse_seconds past a year', 'Decline', { header, offerIds: ['offer-x'], filters: { refuseSeconds: 400 * 86_400 } }, /^filters\.refuse_seconds: /],
      ['a negative refuse_seconds', 'Decline', { header, offerIds: ['offer-x'], filters: { refuseSeconds: -1 } }, /^filters\.refuse_seconds: /],
      ['a kill with an infinite grace', 'Kill', { header, taskId: 't1', killGraceSeconds: Infinity }, /^kill_grace_seconds: /],
      ['a kill with a NaN grace', 'Kill', { header, taskId: 't1', killGraceSeconds: NaN }, /^kill_grace_seconds: /],
    ];
    for (const [what, method, request, details] of cases) {
      const r = await sched.call(method, request);
      t.equal(grpc.status[r.code], 'INVALID_ARGUMENT', `${what}: INVALID_ARGUMENT`);
      t.match(r.details, details, `${what}: names the field`);
    }
    // A refused Accept leaves its offer outstanding; hand it back.
    await fw.decline([offer.id], { refuseSeconds: 0 });
  });

  await t.test('Subscribe', async (t) => {
    const info = { name: 'fw', roles: ['*'], user: 'tester', hostname: 'h' };
    const cases: [string, number, RegExp][] = [
      ['an infinite failover timeout', Infinity, /^framework\.failover_timeout_seconds: /],
      ['a failover timeout of 1e300 s', 1e300, /^framework\.failover_timeout_seconds: /],
      ['a negative failover timeout', -5, /^framework\.failover_timeout_seconds: /],
    ];
    for (const [what, failoverTimeoutSeconds, details] of cases) {
      const r = await sched.subscribe({ ...info, failoverTimeoutSeconds });
      t.notOk(r.ok, `${what}: refused`);
      if (!r.ok) {
        t.equal(grpc.status[r.code], 'INVALID_ARGUMENT', `${what}: INVALID_ARGUMENT`);
        t.match(r.details, details, `${what}: names the field`);
      }
    }
  });

  await t.test('operator calls', async (t) => {
    const op = rawOperator(t, cluster.master.address);
    const cases: [string, string, Record<string, unknown>, RegExp][] = [
      ['an unknown task state filter', 'GetTasks', { state: 99 }, /^state: unknown task state 99/],
      ['an infinite weight', 'UpdateWeights', { weights: [{ role: 'web', weight: Infinity }] }, /^weights\[0\]\.weight: /],
      ['a weight of 1e-300', 'UpdateWeights', { weights: [{ role: 'web', weight: 1e-300 }] }, /^weights\[0\]\.weight: /],
      ['a weight of 1e300', 'UpdateWeights', { weights: [{ role: 'web', weight: 1e300 }] }, /^weights\[0\]\.weight: /],
      ['a quota of mem 1e308', 'SetQuota', { role: 'web', guarantee: [{ name: 'mem', type: 'SCALAR', scalar: 1e308 }] }, /^guarantee\[0\]\.scalar: /],
      ['a quota with an unknown resource type', 'SetQuota', { role: 'web', guarantee: [{ name: 'mem', type: 9, scalar: 1 }] }, /^guarantee\[0\]\.type: /],
    ];
    for (const [what, method, request, details] of cases) {
      const r = await op.call(method, request);
      t.equal(grpc.status[r.code], 'INVALID_ARGUMENT', `${what}: INVALID_ARGUMENT`);
      t.match(r.details, details, `${what}: names the field`);
    }
    const all = await op.call('GetTasks', { state: 'TASK_STATE_UNKNOWN' });
    t.equal(all.code, grpc.status.OK, 'no state: every task');
  });

  await t.test('an agent status update with an unknown enum refuses the agent, naming the field', async (t) => {
    const info = agentInfoToProto({ id: '', hostname: 'enums', resources: parseResources('cpus:1;mem:64'), attributes: [], httpPort: 0, containerizers: ['simulated'] });
    const status = statusToProto(agentStatus({ frameworkId: 'fw-x', taskId: 't1', state: 'RUNNING', uuid: 'u1', timestamp: 1_700_000_000_000 }));
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['an unknown state', { ...status, state: 77 }, /status_update\.status\.state: unknown task state 77/],
      ['an unknown reason', { ...status, reason: 4321 }, /status_update\.status\.reason: unknown status reason 4321/],
      ['an infinite timestamp', { ...status, timestamp: Infinity }, /status_update\.status\.timestamp: /],
    ];
    for (const [what, bad, refused] of cases) {
      const session = rawAgentSession(t, cluster.master.address);
      session.send({ register: { info } });
      session.send({ statusUpdate: { status: bad } });
      const end = await session.ended;
      t.match(end.refused, refused, `${what}: refused naming the field`);
      session.close();
    }
  });

  await t.test('a kill grace of 0 means SIGKILL at once, not the 3 s default', async (t) => {
    offer = await pool.take(atLeastCpus(1));
    // The task ignores SIGTERM: only SIGKILL ends it.
    const task: TaskSpec = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: "trap '' TERM; sleep 60", killGraceMs: 0 });
    const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
    await fw.launch(offer, [task], { refuseSeconds: 0 });
    await running;
    const killed = updatesUntil(fw, task.taskId, 'KILLED');
    await fw.kill(task.taskId);
    const updates = await killed;
    t.match(updates.find((s) => s.state === 'KILLING')?.message, /grace 0 ms/, 'the agent kills with a grace of 0, not the default');
  });
});

t.test('a task only it gets wrong is refused alone (TASK_ERROR); the others of the accept launch', async (t) => {
  const cluster = await startCluster(t, [{ hostname: 'alpha', resources: 'cpus:4;mem:2048;ports:[31000-31009]' }]);
  const fw = await cluster.framework({ name: 'refusals' });
  const { sched, header } = await rawAs(t, cluster.master.address, fw);
  const pool = new OfferPool(fw);
  const ports = (...ranges: [number, number][]) => ({ name: 'ports', type: 'RANGES' as const, ranges: ranges.map(([begin, end]) => ({ begin, end })) });

  const cases: [string, (task: TaskInfo) => TaskInfo, RegExp][] = [
    ['overlapping port ranges', (x) => ({ ...x, resources: [...(x.resources ?? []), ports([31000, 31003], [31002, 31004])] }), /tasks\[0\]\.resources\[2\]\.ranges\[1\]: ports 31002-31004 overlaps 31000-31003/],
    ['the same port twice', (x) => ({ ...x, resources: [...(x.resources ?? []), ports([31005, 31005]), ports([31005, 31005])] }), /overlaps 31005-31005/],
    ['NUL in an environment value', (x) => ({ ...x, command: { ...x.command, environment: [{ name: 'A', value: 'x\0y' }] } }), /tasks\[0\]\.command\.environment\[0\]\.value: contains NUL/],
    ['NUL in an argument', (x) => ({ ...x, command: { value: 'echo', shell: false, arguments: ['a\0b'] } }), /tasks\[0\]\.command\.arguments\[0\]: contains NUL/],
    ['an environment over 64 KiB', (x) => ({ ...x, command: { ...x.command, environment: [{ name: 'BIG', value: 'v'.repeat(70_000) }] } }), /tasks\[0\]\.command\.environment: \d+ bytes; at most 65536/],
  ];
  for (const [what, spoil, message] of cases) {
    await t.test(what, async (t) => {
      const offer = await pool.take(atLeastCpus(1));
      const bad = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'true' });
      const fine = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'true' });
      const refused = nextEvent(fw, 'update', (s) => s.taskId === bad.taskId);
      const finished = updatesUntil(fw, fine.taskId, 'FINISHED');
      const r = await sched.call('Accept', { header, offerIds: [offer.id], operations: [{ launch: { tasks: [spoil(taskToProto(bad)), taskToProto(fine)] } }], filters: { refuseSeconds: 0 } });
      t.equal(r.code, grpc.status.OK, 'the call goes through');
      const [status] = await refused;
      t.equal(status.state, 'ERROR');
      t.equal(status.reason, 'TASK_INVALID');
      t.equal(status.source, 'MASTER');
      t.match(status.message, message, 'the message names the field');
      t.same((await finished).map((s) => s.state), ['STARTING', 'RUNNING', 'FINISHED'], 'the other task runs');
      t.notOk(cluster.agents[0]!.runner.find(bad.taskId), 'the refused task never reached the agent');
    });
  }
  const state = await cluster.state();
  t.equal(state.agents[0]!.used, '', 'nothing is left allocated');
});
