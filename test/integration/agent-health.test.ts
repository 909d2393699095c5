// Health checks and kill grace on a real agent with process tasks: HTTP, TCP and command checks
// report health as RUNNING updates, too many failures kill the task with HEALTH_CHECK_FAILED, and
// the kill grace comes from the task or from the kill.
import t, { type Test } from 'tap';
import { buildTask, takeResources, type HealthCheckOptions, type SchedulerClient } from '../../src/framework-sdk/index.js';
import { nextEvent, OfferPool, startCluster, updatesUntil, type TestCluster } from '../helpers/cluster.js';
import { invariantProblems, UpdateLog } from '../helpers/agent-restart.js';

/** Checks every 100 ms from 100 ms after start; each given 1 s. */
const FAST = { delayMs: 100, intervalMs: 100, timeoutMs: 1000 };

interface Harness {
  cluster: TestCluster;
  fw: SchedulerClient;
  pool: OfferPool;
  log: UpdateLog;
  launched: string[];
}

async function harness(t: Test): Promise<Harness> {
  const cluster = await startCluster(t, []);
  const fw = await cluster.framework({ name: 'health' });
  const log = new UpdateLog(fw);
  const pool = new OfferPool(fw);
  // Ports no other test's tasks bind: these tasks listen on theirs, or check that they are closed.
  await cluster.addAgent({ resources: 'cpus:2;mem:1024;disk:1024;ports:[31600-31619]' });
  return { cluster, fw, pool, log, launched: [] };
}

/** Launches `command` with one port and the health check `check(port)`; returns the task id and port. */
async function launch(h: Harness, command: (port: number) => string, check?: (port: number) => HealthCheckOptions, killGraceMs?: number) {
  const offer = await h.pool.take((o) => takeResources(o, 'cpus:0.1;mem:32;ports:1') !== undefined);
  const resources = takeResources(offer, 'cpus:0.1;mem:32;ports:1')!;
  const port = resources.find((r) => r.name === 'ports')!.ranges![0]!.begin;
  const task = buildTask({ offer, resources, command: command(port), ...(check ? { healthCheck: check(port) } : {}), ...(killGraceMs !== undefined ? { killGraceMs } : {}) });
  h.launched.push(task.taskId);
  await h.fw.launch(offer, [task], { refuseSeconds: 0 });
  return { taskId: task.taskId, port };
}

const serveHttp = (port: number) => `exec ${process.execPath} -e "require('http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')"`;

t.test('health checks', async (t) => {
  const h = await harness(t);

  await t.test('an HTTP check against a port the task serves reports the task healthy', async (t) => {
    // A grace period covers node's start: failures before the server listens do not count.
    const healthy = (taskId: string) => nextEvent(h.fw, 'update', (s) => s.taskId === taskId && s.healthy !== undefined, 15_000);
    const offerTaken = launch(h, serveHttp, (port) => ({ type: 'http', port, path: '/health', ...FAST, gracePeriodMs: 10_000 }));
    const { taskId } = await offerTaken;
    const [first] = await healthy(taskId);
    t.equal(first.state, 'RUNNING');
    t.equal(first.healthy, true, 'the first health update says healthy');
    t.match(first.message, /HTTP 200/);
    const state = await h.cluster.state();
    t.equal(state.frameworks[0]?.tasks.find((x) => x.id === taskId)?.healthy, true, 'the master shows it healthy');
    const killed = updatesUntil(h.fw, taskId, 'KILLED');
    await h.fw.kill(taskId);
    t.equal((await killed).at(-1)?.reason, 'KILLED_BY_FRAMEWORK');
  });

  await t.test('a TCP check on a closed port reports unhealthy, then kills the task with HEALTH_CHECK_FAILED', async (t) => {
    const { taskId } = await launch(h, () => 'sleep 600', (port) => ({ type: 'tcp', port, ...FAST, consecutiveFailures: 3 }));
    const updates = await updatesUntil(h.fw, taskId, 'KILLED', 15_000);
    t.strictSame(updates.map((s) => [s.state, s.healthy]), [['STARTING', undefined], ['RUNNING', undefined], ['RUNNING', false], ['KILLING', false], ['KILLED', false]]);
    const [unhealthy, killing, killed] = updates.slice(2);
    t.match(unhealthy!.message, /unhealthy: TCP 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    t.equal(killing!.reason, 'HEALTH_CHECK_FAILED');
    t.match(killing!.message, /3 consecutive health check failures/);
    t.equal(killed!.reason, 'HEALTH_CHECK_FAILED');
  });

  await t.test('a command check that exits 1 kills the task with HEALTH_CHECK_FAILED', async (t) => {
    const { taskId } = await launch(h, () => 'sleep 600', () => ({ type: 'command', command: 'echo nope; exit 1', ...FAST, consecutiveFailures: 2 }));
    const updates = await updatesUntil(h.fw, taskId, 'KILLED', 15_000);
    t.strictSame(updates.map((s) => s.state), ['STARTING', 'RUNNING', 'RUNNING', 'KILLING', 'KILLED']);
    t.match(updates[2]!.message, /unhealthy: command exited 1: nope/);
    t.equal(updates.at(-1)!.reason, 'HEALTH_CHECK_FAILED');
  });

  await t.test('a command check runs in the sandbox with the task environment', async (t) => {
    const check = 'test "$PWD" = "$ORBIT_SANDBOX" && test "$PORT0" = "$EXPECTED_PORT"';
    const offer = await h.pool.take((o) => takeResources(o, 'cpus:0.1;mem:32;ports:1') !== undefined);
    const resources = takeResources(offer, 'cpus:0.1;mem:32;ports:1')!;
    const port = resources.find((r) => r.name === 'ports')!.ranges![0]!.begin;
    const task = buildTask({ offer, resources, command: 'sleep 600', env: { EXPECTED_PORT: String(port) }, healthCheck: { type: 'command', command: check, ...FAST } });
    h.launched.push(task.taskId);
    const healthy = nextEvent(h.fw, 'update', (s) => s.taskId === task.taskId && s.healthy !== undefined, 15_000);
    await h.fw.launch(offer, [task], { refuseSeconds: 0 });
    t.equal((await healthy)[0].healthy, true);
    const killed = updatesUntil(h.fw, task.taskId, 'KILLED');
    await h.fw.kill(task.taskId);
    await killed;
  });

  await t.test('health flips are reported both ways', async (t) => {
    // Healthy while the file exists; the task removes it after a while.
    const command = () => 'touch up; sleep 0.5; rm up; sleep 600';
    const { taskId } = await launch(h, command, () => ({ type: 'command', command: 'test -e up', ...FAST, consecutiveFailures: 3 }));
    const updates = await updatesUntil(h.fw, taskId, 'KILLED', 15_000);
    t.strictSame(updates.filter((s) => s.state === 'RUNNING').map((s) => s.healthy), [undefined, true, false]);
  });

  t.strictSame(invariantProblems(await h.cluster.state(), h.log, h.launched), [], 'every task ended once; nothing left allocated');
});

t.test('kill grace', async (t) => {
  const h = await harness(t);
  // Ignores SIGTERM, so only the SIGKILL at the end of the grace ends it.
  const stubborn = () => "trap '' TERM; echo ready; while :; do sleep 0.05; done";

  const killAfter = async (taskId: string, graceMs?: number) => {
    await nextEvent(h.fw, 'update', (s) => s.taskId === taskId && s.state === 'RUNNING');
    const killed = updatesUntil(h.fw, taskId, 'KILLED', 15_000);
    const started = Date.now();
    await h.fw.kill(taskId, '', graceMs);
    const last = (await killed).at(-1)!;
    return { ms: Date.now() - started, last };
  };

  await t.test("the task's own kill grace is used by default", async (t) => {
    const run = launch(h, stubborn, undefined, 800);
    const { taskId } = await run;
    const { ms, last } = await killAfter(taskId);
    t.ok(ms >= 700 && ms < 4000, `KILLED after its 800 ms grace (${ms} ms)`);
    t.match(last.message, /SIGKILL/);
  });

  await t.test('a kill with a grace period overrides the task’s', async (t) => {
    const { taskId } = await launch(h, stubborn, undefined, 30_000);
    const { ms } = await killAfter(taskId, 200);
    t.ok(ms >= 150 && ms < 3000, `KILLED after the kill's 200 ms grace, not the task's 30 s (${ms} ms)`);
  });

  t.strictSame(invariantProblems(await h.cluster.state(), h.log, h.launched), []);
});
