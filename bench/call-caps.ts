/**
 * What one call at each per-call cap (src/common/call-limits.ts) costs the master's event loop, against
 * the same call with one item, in the same run (issue 11: no call holds the loop over 100 ms). The
 * master runs in this process and its loop is watched with monitorEventLoopDelay (1 ms
 * resolution): a call's cost is the longest stall seen from sending it to its answer. The framework
 * sending the calls runs in a worker thread (its own encoding is not counted); the agent is an
 * `orbit agent` process with the simulated containerizer. Each figure is the median of --reps.
 *
 *   node dist/bench/call-caps.js [--reps 5]
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { taskToProto } from '../src/common/codec.js';
import { createLogger } from '../src/common/logging.js';
import { orbitV1 } from '../src/common/proto.js';
import { buildTask } from '../src/framework-sdk/index.js';
import type { Event__Output } from '../src/gen/orbit/v1/Event.js';
import { CALL_CAPS, callLimits } from '../src/common/call-limits.js';
import { startMaster } from '../src/master/master.js';
import { freePorts, machineLine, sleep, spawnOrbitProcess } from './lib/cluster.js';
import { channelCredentials, CHANNEL_OPTIONS } from '../src/common/connection.js';
import { readCredentials } from '../src/common/credentials.js';

/** What the worker is asked to send: a call of `n` items of one kind. */
interface Job {
  kind: 'tasks' | 'heavy-tasks' | 'operations' | 'decline' | 'reconcile-known' | 'reconcile-unknown' | 'acks' | 'revive' | 'weights' | 'quota';
  n: number;
}
interface Answer {
  code: number;
  details: string;
  /** For launches: when every task was RUNNING, as the framework saw it. */
  running?: boolean;
}

const ROLES = Array.from({ length: 100 }, (_, i) => `role-${i}`);
/** Tasks in each LAUNCH of the operations row: its cap of operations then launches as many tasks as the tasks cap allows. */
const TASKS_PER_OPERATION = Math.floor(callLimits().tasksPerAccept / callLimits().operationsPerAccept);

// ---- the framework, in a worker thread --------------------------------------------------------

async function frameworkWorker(address: string, credentials: string): Promise<void> {
  const v1 = orbitV1();
  const security = channelCredentials({ mode: 'tls', credentials: readCredentials(credentials) });
  const scheduler = new v1.Scheduler(address, security, CHANNEL_OPTIONS);
  const operator = new v1.Operator(address, security, CHANNEL_OPTIONS);
  const offers: string[] = [];
  const running = new Set<string>();
  /** Tasks that ended instead of running, with why. */
  const ended = new Map<string, string>();
  const launched: string[] = [];
  let wake: (() => void) | undefined;
  // One role, as most frameworks: every run_task carries the framework's info, roles and all.
  const info = { name: 'call-caps', roles: ['*'], user: 'bench', hostname: 'bench', failoverTimeoutSeconds: 600 };
  const stream = scheduler.Subscribe({ framework: { ...info } });
  stream.on('error', (err: grpc.ServiceError) => {
    console.error(`the framework's subscription ended: ${err.details}`);
    process.exit(1);
  });
  let ids: { frameworkId: string; streamId: string } | undefined;
  const header = await new Promise<{ frameworkId: string; streamId: string }>((resolve) => {
    stream.on('data', (e: Event__Output) => {
      for (const event of e.event === 'batch' ? (e.batch?.events ?? []) : [e]) {
        if (event.subscribed) resolve((ids = { frameworkId: event.subscribed.frameworkId, streamId: event.subscribed.streamId }));
        for (const o of event.offers?.offers ?? []) offers.push(o.id);
        if (event.rescind) offers.splice(offers.indexOf(event.rescind.offerId) >>> 0, 1);
        const s = event.update?.status;
        if (s?.state === 'TASK_RUNNING') running.add(s.taskId);
        else if (s && s.state !== 'TASK_STARTING') ended.set(s.taskId, `${String(s.state)}: ${s.message}`);
        if (s?.uuid && ids) scheduler.Acknowledge({ header: ids, agentId: s.agentId, taskId: s.taskId, uuid: s.uuid }, () => undefined);
        wake?.();
      }
    });
  });
  // A second framework with a hundred roles, for Revive at its cap (roles it does not have cost less).
  const many = scheduler.Subscribe({ framework: { ...info, name: 'call-caps-roles', roles: ['*', ...ROLES.slice(0, 99)] } });
  many.on('error', () => undefined);
  let manyIds: { frameworkId: string; streamId: string } | undefined;
  const manyHeader = await new Promise<{ frameworkId: string; streamId: string }>((resolve) => {
    many.on('data', (e: Event__Output) => {
      for (const event of e.event === 'batch' ? (e.batch?.events ?? []) : [e]) {
        if (event.subscribed) resolve((manyIds = { frameworkId: event.subscribed.frameworkId, streamId: event.subscribed.streamId }));
        // It wants nothing: its offers go straight back, for an hour, to the launching framework.
        const declined = (event.offers?.offers ?? []).map((o) => o.id);
        if (declined.length > 0 && manyIds) scheduler.Decline({ header: manyIds, offerIds: declined, filters: { refuseSeconds: 3_600 } }, () => undefined);
      }
    });
  });
  const until = async (done: () => boolean, ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (!done() && Date.now() < deadline) await new Promise<void>((r) => (wake = r, setTimeout(r, 50)));
    return done();
  };
  let seq = 0;
  const task = (heavy: boolean) => ({ ...taskToProto(buildTask({
    taskId: `cap-${++seq}`,
    agentId: 'placed-by-the-offer',
    resources: 'cpus:0.001;mem:1',
    simulated: {},
    ...(heavy ? { env: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`VAR_${i}`, 'v'.repeat(100)])), labels: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`label-${i}`, 'l'.repeat(100)])) } : {}),
  })), agentId: '' });
  const unary = (client: object, method: string, request: object): Promise<Answer> => new Promise((resolve) => {
    (client as Record<string, (r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void>)[method]!.call(client, request, { deadline: Date.now() + 60_000 }, (e) => resolve({ code: e?.code ?? 0, details: e?.details ?? '' }));
  });

  /** The call built for the last job, sent on 'go'. */
  let armed: (() => Promise<Answer>) | undefined;
  /** For a launch: waits until all its tasks are RUNNING, on 'running?'. */
  let awaitRunning: (() => Promise<boolean>) | undefined;
  parentPort!.on('message', async (job: Job | 'ready?' | 'go' | 'running?') => {
    if (job === 'running?') {
      const ok = await (awaitRunning?.() ?? Promise.resolve(true));
      parentPort!.postMessage({ code: 0, details: ok ? '' : [...ended.values()].slice(-3).join('; '), running: ok });
      awaitRunning = undefined;
      return;
    }
    if (job === 'ready?') {
      await until(() => offers.length > 0, 10_000);
      parentPort!.postMessage('ready');
      return;
    }
    if (job === 'go') {
      const call = armed!;
      armed = undefined;
      parentPort!.postMessage(await call());
      return;
    }
    // Everything the call needs is made before the main thread starts watching.
    let send: () => Promise<Answer>;
    const ids = (prefix: string) => Array.from({ length: job.n }, (_, i) => `${prefix}-${i}`);
    switch (job.kind) {
      case 'tasks':
      case 'heavy-tasks':
      case 'operations': {
        await until(() => offers.length > 0, 10_000);
        const offer = offers.splice(0).slice(-1);
        const tasks = Array.from({ length: job.kind === 'operations' ? job.n * TASKS_PER_OPERATION : job.n }, () => task(job.kind === 'heavy-tasks'));
        const operations = job.kind === 'operations' ? Array.from({ length: job.n }, (_, i) => ({ launch: { tasks: tasks.slice(i * TASKS_PER_OPERATION, (i + 1) * TASKS_PER_OPERATION) } })) : [{ launch: { tasks } }];
        launched.push(...tasks.map((x) => x.taskId!));
        send = () => unary(scheduler, 'Accept', { header, offerIds: offer, operations, filters: { refuseSeconds: 0 } });
        // What the launch costs later (the agent's updates of them all, relayed) is its own row.
        awaitRunning = () => until(() => tasks.every((x) => running.has(x.taskId!)), 30_000);
        break;
      }
      case 'decline':
        send = () => unary(scheduler, 'Decline', { header, offerIds: ids('offer-gone'), filters: { refuseSeconds: 0 } });
        break;
      case 'reconcile-known':
        send = () => unary(scheduler, 'Reconcile', { header, tasks: launched.slice(0, job.n).map((taskId) => ({ taskId })) });
        break;
      case 'reconcile-unknown':
        send = () => unary(scheduler, 'Reconcile', { header, tasks: ids('gone').map((taskId) => ({ taskId })) });
        break;
      case 'acks':
        send = () => unary(scheduler, 'Acknowledge', { header, acks: launched.slice(0, job.n).map((taskId) => ({ taskId, uuid: 'already-acknowledged' })) });
        break;
      case 'revive':
        send = () => unary(scheduler, 'Revive', { header: manyHeader, roles: ['*', ...ROLES].slice(0, job.n) });
        break;
      case 'weights':
        send = () => unary(operator, 'UpdateWeights', { weights: ROLES.slice(0, job.n).map((role) => ({ role, weight: 2 })) });
        break;
      case 'quota':
        send = () => unary(operator, 'SetQuota', { role: 'role-0', guarantee: Array.from({ length: job.n }, (_, i) => ({ name: `r${i}`, type: 'SCALAR', scalar: 0 })), force: true });
        break;
    }
    armed = send;
    parentPort!.postMessage('armed');
  });
  parentPort!.postMessage('subscribed');
}

// ---- the master, and the measurement, in the main thread ----------------------------------------

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const reps = flag('--reps', 5);
  const limits = callLimits();
  const workDir = mkdtempSync(join(tmpdir(), 'orbit-call-caps-'));
  const master = await startMaster({ ip: '127.0.0.1', port: 0, httpPort: 0, workDir: join(workDir, 'master'), allocationIntervalMs: 100,
    // The defaults, but for the tasks cap, raised to its bound for the last Accept row.
    callLimits: { tasksPerAccept: CALL_CAPS.tasksPerAccept.bounds.max }, logger: createLogger('master', (process.env['BENCH_LOG'] ?? 'warn') as 'warn') });
  const [agentHttp] = await freePorts(1);
  const agent = spawnOrbitProcess(['agent', '--master', master.address, '--join', master.joinToken!, '--work-dir', join(workDir, 'agent'), '--http-port', String(agentHttp), '--hostname', 'caps',
    '--containerizers', 'simulated', '--resources', 'cpus:1000;mem:10000000', '--log-level', 'warn']);
  try {
    while (![...master.core.view.agents()].some((a) => a.state === 'active')) await sleep(50);
    const worker = new Worker(new URL(import.meta.url), { workerData: { address: master.address, credentials: master.adminCredentialsPath } });
    const next = () => new Promise<unknown>((resolve) => worker.once('message', resolve));
    await next();
    worker.postMessage('ready?');
    await next();
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    /**
     * The longest stall of the master's loop while one call of `job` is in flight, in ms; for a
     * launch also the longest while its tasks' updates come in and go out (till all are RUNNING).
     */
    const stall = async (job: Job): Promise<{ ms: number; afterMs: number; answer: Answer }> => {
      worker.postMessage(job);
      await next(); // armed: the request is built
      loop.reset();
      worker.postMessage('go');
      const answer = (await next()) as Answer;
      const ms = loop.max / 1e6;
      loop.reset();
      worker.postMessage('running?');
      const running = (await next()) as Answer;
      if (running.running === false) throw new Error(`${job.kind}: the tasks were not all RUNNING within 30 s (${running.details})`);
      return { ms, afterMs: loop.max / 1e6, answer };
    };
    const rows: [string, Job['kind'], number, number][] = [
      ['Accept: tasks (cpus, mem)', 'tasks', limits.tasksPerAccept, 1],
      ['Accept: tasks with 10 labels and 10 env vars', 'heavy-tasks', limits.tasksPerAccept, 1],
      ['Accept: tasks, at the flag\'s upper bound', 'tasks', CALL_CAPS.tasksPerAccept.bounds.max, 1],
      [`Accept: LAUNCH operations of ${TASKS_PER_OPERATION} tasks`, 'operations', limits.operationsPerAccept, 1],
      ['Decline: offer ids (unknown ids: a lookup miss each)', 'decline', limits.offersPerDecline, 1],
      ['Reconcile: known task ids', 'reconcile-known', limits.reconcileTasks, 1],
      ['Reconcile: unknown task ids', 'reconcile-unknown', limits.reconcileTasks, 1],
      ['Acknowledge: acknowledgements', 'acks', limits.acksPerCall, 1],
      ['Revive: roles', 'revive', limits.rolesPerCall, 1],
      ['UpdateWeights: roles', 'weights', limits.rolesPerCall, 1],
      ['SetQuota: resource entries', 'quota', limits.quotaResources, 1],
    ];
    console.log(`# per-call caps: the master's longest event-loop stall during one call, median of ${reps}`);
    console.log(`# ${machineLine()}`);
    console.log('call                                            items   stall ms   1 item ms   ratio   then, till all RUNNING: stall ms');
    for (const [what, kind, cap, one] of rows) {
      const atCap: number[] = [];
      const single: number[] = [];
      const after: number[] = [];
      for (let r = 0; r < reps; r++) {
        // Alternate, so drift in the machine hits both.
        const big = await stall({ kind, n: cap });
        const small = await stall({ kind, n: one });
        if (big.answer.code !== 0 || small.answer.code !== 0) throw new Error(`${what}: ${grpc.status[big.answer.code]} ${big.answer.details} / ${grpc.status[small.answer.code]} ${small.answer.details}`);
        atCap.push(big.ms);
        single.push(small.ms);
        after.push(big.afterMs);
      }
      const [m, b] = [median(atCap), median(single)];
      const launch = kind === 'tasks' || kind === 'heavy-tasks' || kind === 'operations';
      // Below the monitor's 1 ms resolution a ratio says nothing.
      const ratio = b >= 1 ? (m / b).toFixed(1) : '-';
      console.log(`${what.padEnd(46)} ${String(cap).padStart(6)} ${m.toFixed(1).padStart(10)} ${b.toFixed(1).padStart(11)} ${ratio.padStart(7)}   ${launch ? median(after).toFixed(1).padStart(8) : ''}`);
    }
    loop.disable();
    await worker.terminate();
  } catch (err) {
    console.error(`the agent said:\n${agent.output().slice(-3000)}`);
    throw err;
  } finally {
    agent.child.kill('SIGKILL');
    await master.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (isMainThread) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  void frameworkWorker((workerData as { address: string }).address, (workerData as { credentials: string }).credentials);
}
