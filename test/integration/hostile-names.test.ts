/**
 * Names that become paths, labels or headers, sent from outside through raw gRPC clients: each is
 * refused where it enters with INVALID_ARGUMENT (or a REFUSED agent stream) naming the field,
 * its value is never echoed whole, no directory is made from it, and the cluster keeps working.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { agentInfoToProto, frameworkInfoToProto, statusToProto, taskToProto } from '../../src/common/codec.js';
import { isValidName } from '../../src/common/names.js';
import { orbitV1 } from '../../src/common/proto.js';
import { parseResources } from '../../src/common/resources.js';
import { buildTask, type Offer } from '../../src/framework-sdk/index.js';
import type { AgentMessage__Output } from '../../src/gen/orbit/v1/AgentMessage.js';
import type { FrameworkInfo } from '../../src/gen/orbit/v1/FrameworkInfo.js';
import type { MasterMessage } from '../../src/gen/orbit/v1/MasterMessage.js';
import type { TaskInfo } from '../../src/gen/orbit/v1/TaskInfo.js';
import { agentStatus, frameworkInfo } from '../helpers/builders.js';
import { atLeastCpus, eventually, OfferPool, sleep, startAgentForTest, startCluster, tempDir, updatesUntil } from '../helpers/cluster.js';
import { rawAgentSession, rawAs, rawOperator, rawScheduler } from '../helpers/raw-grpc.js';
import { testServerCredentials } from '../helpers/pki.js';

const TEN_KB = 'x'.repeat(10 * 1024);
/** No status message may carry more than a quoted 64-character excerpt of what was sent. */
const SHORT = 400;

/** The values every hostile-name case tries, by what they are. */
const HOSTILE_IDS: [string, string][] = [
  ['a path that climbs out', '../../etc'],
  ['NUL', 'fw\0x'],
  ['a control character', 'fw\u001bx'],
  ['10 KB', TEN_KB],
];

t.test('hostile names are refused where they enter, naming the field, never echoed whole', async (t) => {
  const cluster = await startCluster(t, [{ hostname: 'alpha' }]);
  const address = cluster.master.address;
  const sched = rawScheduler(t, address);
  const okFramework: FrameworkInfo = { name: 'raw', roles: ['*'], user: 'tester', hostname: 'h1', failoverTimeoutSeconds: 60 };

  await t.test('Subscribe refuses a hostile framework info', async (t) => {
    const cases: [string, FrameworkInfo, RegExp][] = [
      ...HOSTILE_IDS.map(([what, id]): [string, FrameworkInfo, RegExp] => [`an id that is ${what}`, { ...okFramework, id }, /^framework\.id: /]),
      ['a 10 KB name', { ...okFramework, name: TEN_KB }, /^framework\.name: /],
      ['a name with NUL', { ...okFramework, name: 'a\0b' }, /^framework\.name: /],
      ['a role that is two dots', { ...okFramework, roles: ['..'] }, /^framework\.roles\[0\]: /],
      ['a role with a slash', { ...okFramework, roles: ['a/b'] }, /^framework\.roles\[0\]: /],
      ['a 10 KB role', { ...okFramework, roles: [TEN_KB] }, /^framework\.roles\[0\]: /],
      ['a user that climbs out', { ...okFramework, user: '../root' }, /^framework\.user: /],
      ['a hostname with a newline', { ...okFramework, hostname: 'h\nX-Evil: 1' }, /^framework\.hostname: /],
      ['a label key with NUL', { ...okFramework, labels: [{ key: 'k\0', value: 'v' }] }, /^framework\.labels\[0\]\.key: /],
      ['a 10 KB label value', { ...okFramework, labels: [{ key: 'k', value: TEN_KB }] }, /^framework\.labels\[0\]\.value: /],
    ];
    for (const [what, info, field] of cases) {
      const r = await sched.subscribe(info);
      t.notOk(r.ok, `${what}: not subscribed`);
      if (r.ok) continue;
      t.equal(r.code, grpc.status.INVALID_ARGUMENT, `${what}: INVALID_ARGUMENT`);
      t.match(r.details, field, `${what}: names the field`);
      t.ok(r.details.length <= SHORT, `${what}: a short message (${r.details.length} characters)`);
    }
    const state = await cluster.state();
    t.equal(state.frameworks.length, 0, 'no framework was admitted');
  });

  const fw = await cluster.framework({ name: 'careful' });
  const { header } = await rawAs(t, address, fw);
  const { streamId } = header;
  const pool = new OfferPool(fw);
  const offer: Offer = await pool.take(atLeastCpus(1));
  const good = (): TaskInfo => taskToProto(buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'true' }));

  await t.test('scheduler calls refuse hostile ids, naming the field', async (t) => {
    const cases: [string, string, Record<string, unknown>, RegExp][] = [
      ['a header with a 10 KB framework id', 'Revive', { header: { frameworkId: TEN_KB, streamId } }, /^header\.framework_id: /],
      ['a header with a 10 KB stream id', 'Revive', { header: { ...header, streamId: TEN_KB } }, /^header\.stream_id: /],
      ['a task id that climbs out', 'Accept', { header, offerIds: [offer.id], operations: [{ launch: { tasks: [{ ...good(), taskId: '../../etc' }] } }] }, /^operations\[0\]\.launch\.tasks\[0\]\.task_id: /],
      ['a 10 KB task id', 'Accept', { header, offerIds: [offer.id], operations: [{ launch: { tasks: [{ ...good(), taskId: TEN_KB }] } }] }, /task_id: /],
      ['a task name with an escape', 'Accept', { header, offerIds: [offer.id], operations: [{ launch: { tasks: [{ ...good(), name: '\u001b[2J' }] } }] }, /tasks\[0\]\.name: /],
      ['a label key that climbs out', 'Accept', { header, offerIds: [offer.id], operations: [{ launch: { tasks: [{ ...good(), labels: [{ key: '../k', value: 'v' }] }] } }] }, /tasks\[0\]\.labels\[0\]\.key: /],
      ['a user with NUL', 'Accept', { header, offerIds: [offer.id], operations: [{ launch: { tasks: [{ ...good(), command: { value: 'true', shell: true, user: 'root\0' } }] } }] }, /tasks\[0\]\.command\.user: /],
      ['a resource role that is a dot', 'Accept', { header, offerIds: [offer.id], operations: [{ launch: { tasks: [{ ...good(), resources: [{ name: 'cpus', type: 'SCALAR', scalar: 0.1, role: '.' }] }] } }] }, /tasks\[0\]\.resources\[0\]\.role: /],
      ['a 10 KB offer id', 'Decline', { header, offerIds: [TEN_KB] }, /^offer_ids\[0\]: /],
      ['a role that climbs out', 'Revive', { header, roles: ['../r'] }, /^roles\[0\]: /],
      ['a kill of a task id with NUL', 'Kill', { header, taskId: 't\0' }, /^task_id: /],
      ['an acknowledgement of a 10 KB task id', 'Acknowledge', { header, acks: [{ taskId: TEN_KB, uuid: 'u' }] }, /^acks\[0\]\.task_id: /],
      ['an acknowledgement with a bad uuid', 'Acknowledge', { header, taskId: 't1', uuid: 'u u' }, /^uuid: /],
      ['a reconcile of a task id that climbs out', 'Reconcile', { header, tasks: [{ taskId: '../x' }] }, /^tasks\[0\]\.task_id: /],
      ['a reconcile naming a hostile agent', 'Reconcile', { header, tasks: [{ taskId: 't1', agentId: 'a/b' }] }, /^tasks\[0\]\.agent_id: /],
    ];
    for (const [what, method, request, field] of cases) {
      const r = await sched.call(method, request);
      t.equal(r.code, grpc.status.INVALID_ARGUMENT, `${what}: INVALID_ARGUMENT`);
      t.match(r.details, field, `${what}: names the field`);
      t.ok(r.details.length <= SHORT, `${what}: a short message (${r.details.length} characters)`);
    }
    // A refused Accept leaves its offer outstanding; hand it back.
    await fw.decline([offer.id], { refuseSeconds: 0 });
  });

  await t.test('operator calls refuse hostile ids, naming the field', async (t) => {
    const op = rawOperator(t, address);
    const cases: [string, string, Record<string, unknown>, RegExp][] = [
      ['a drain of an agent id that climbs out', 'DrainAgent', { agentId: '../../etc' }, /^agent_id: /],
      ['a reactivation of a 10 KB agent id', 'ReactivateAgent', { agentId: TEN_KB }, /^agent_id: /],
      ['marking gone an agent id with NUL', 'MarkAgentGone', { agentId: 'a\0' }, /^agent_id: /],
      ['tasks of a 10 KB framework id', 'GetTasks', { frameworkId: TEN_KB }, /^framework_id: /],
      ['a teardown of a framework id that is two dots', 'TeardownFramework', { frameworkId: '..' }, /^framework_id: /],
      ['a weight for a role with a slash', 'UpdateWeights', { weights: [{ role: 'a/b', weight: 1 }] }, /^weights\[0\]\.role: /],
      ['a quota for a 10 KB role', 'SetQuota', { role: TEN_KB, guarantee: [{ name: 'cpus', type: 'SCALAR', scalar: 1 }] }, /^role: /],
    ];
    for (const [what, method, request, field] of cases) {
      const r = await op.call(method, request);
      t.equal(r.code, grpc.status.INVALID_ARGUMENT, `${what}: INVALID_ARGUMENT`);
      t.match(r.details, field, `${what}: names the field`);
      t.ok(r.details.length <= SHORT, `${what}: a short message (${r.details.length} characters)`);
    }
  });

  await t.test('an agent stream with a hostile name is refused, naming the field', async (t) => {
    const info = agentInfoToProto({ id: '', hostname: 'intruder', resources: parseResources('cpus:1;mem:64'), attributes: [], httpPort: 0, containerizers: ['simulated'] });
    const task = taskToProto(buildTask({ agentId: 'agent-x', taskId: 't1', resources: 'cpus:0.1;mem:32', command: 'true' }));
    const latest = statusToProto(agentStatus({ frameworkId: 'fw-x', taskId: 't1', state: 'RUNNING', timestamp: 1_700_000_000_000 }));
    const cases: [string, Parameters<ReturnType<typeof rawAgentSession>['send']>[0][], RegExp][] = [
      ['a hostname with a newline', [{ register: { info: { ...info, hostname: 'h\nX: 1' } } }], /register\.info\.hostname: /],
      ['a 10 KB hostname', [{ register: { info: { ...info, hostname: TEN_KB } } }], /register\.info\.hostname: /],
      ['an attribute name that climbs out', [{ register: { info: { ...info, attributes: [{ name: '../a', value: 'v' }] } } }], /register\.info\.attributes\[0\]\.name: /],
      ['an attribute value with NUL', [{ register: { info: { ...info, attributes: [{ name: 'a', value: 'v\0' }] } } }], /register\.info\.attributes\[0\]\.value: /],
      ['a resource role that is two dots', [{ register: { info: { ...info, resources: [{ name: 'cpus', type: 'SCALAR', scalar: 1, role: '..' }] } } }], /register\.info\.resources\[0\]\.role: /],
      ['a re-registration with an id that climbs out', [{ reregister: { info: { ...info, id: '../../etc' } } }], /reregister\.info\.id: /],
      ['a reported task id that climbs out', [{ reregister: { info: { ...info, id: 'agent-x' }, tasks: [{ task: { ...task, taskId: '../x' }, frameworkId: 'fw-x', latestStatus: latest }] } }], /reregister\.tasks\[0\]\.task\.task_id: /],
      ['a reported framework id with NUL', [{ reregister: { info: { ...info, id: 'agent-x' }, tasks: [{ task, frameworkId: 'fw\0', latestStatus: latest }] } }], /reregister\.tasks\[0\]\.framework_id: /],
      ['a reported framework with a 10 KB name', [{ reregister: { info: { ...info, id: 'agent-x' }, frameworks: [frameworkInfoToProto(frameworkInfo({ id: 'fw-x', name: TEN_KB }))] } }], /reregister\.frameworks\[0\]\.name: /],
      ['a status update for a task id that climbs out', [{ register: { info } }, { statusUpdate: { status: { ...latest, taskId: '../../x' } } }], /status_update\.status\.task_id: /],
    ];
    for (const [what, messages, field] of cases) {
      const session = rawAgentSession(t, address);
      for (const m of messages) session.send(m);
      const { refused } = await session.ended;
      t.match(refused, field, `${what}: refused, naming the field`);
      t.ok((refused ?? '').length <= SHORT, `${what}: a short message`);
      session.close();
    }
    const state = await cluster.state();
    t.same(state.agents.map((a) => a.hostname).filter((h) => h !== 'alpha' && h !== 'intruder'), [], 'no hostile agent was admitted');
  });

  await t.test('after all of that the cluster still launches a task', async (t) => {
    const o = await pool.take(atLeastCpus(1));
    const task = buildTask({ offer: o, resources: 'cpus:0.1;mem:32', command: 'echo fine' });
    const [updates] = await Promise.all([updatesUntil(fw, task.taskId, 'FINISHED'), fw.launch(o, [task])]);
    t.same(updates.map((s) => s.state), ['STARTING', 'RUNNING', 'FINISHED']);
  });
});

t.test('an agent never makes a path from a hostile id, and tells the framework of a launch it refuses', async (t) => {
  const statuses: { taskId: string; frameworkId: string; state: string; reason: string; message: string }[] = [];
  let stream: grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage> | undefined;
  const server = new grpc.Server();
  server.addService(orbitV1().AgentLink.service, {
    Connect(call: grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage>) {
      stream = call;
      const take = (m: AgentMessage__Output): void => {
        if (m.message === 'register') call.write({ epoch: '1', registered: { agentId: 'agent-hostile', heartbeatIntervalSeconds: 15 } });
        const s = m.statusUpdate?.status;
        if (s) {
          statuses.push({ taskId: s.taskId, frameworkId: s.frameworkId, state: String(s.state), reason: String(s.reason), message: s.message });
          if (s.uuid) call.write({ epoch: '1', ack: { frameworkId: s.frameworkId, taskId: s.taskId, uuid: s.uuid } });
        }
        if (m.message === 'batch') m.batch?.messages.forEach(take);
      };
      call.on('data', take);
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', testServerCredentials(), (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  const workDir = tempDir(t, 'orbit-hostile-agent-');
  const agent = await startAgentForTest(t, `127.0.0.1:${port}`, {}, workDir);
  await agent.registered();

  const framework = frameworkInfoToProto(frameworkInfo({ id: 'fw-ok' }));
  const task = (taskId: string) => taskToProto(buildTask({ taskId, agentId: 'agent-hostile', resources: 'cpus:0.1;mem:32', command: 'true' }));
  const run = (m: MasterMessage['runTask']) => stream!.write({ epoch: '1', runTask: m });
  const cases: [string, MasterMessage['runTask'], { taskId: string; reason: RegExp } | undefined][] = [
    ['a framework id that climbs out', { framework: { ...framework, id: '../../../escaped-fw' }, task: task('t-fw') }, undefined],
    ['a task id that climbs out', { framework, task: { ...task('x'), taskId: '../../../escaped-task' } }, undefined],
    ['a task id with a control character', { framework, task: { ...task('x'), taskId: 'ctl\u0007task' } }, undefined],
    ['a 10 KB task id', { framework, task: { ...task('x'), taskId: TEN_KB } }, undefined],
    ['a valid id with a label key that climbs out', { framework, task: { ...task('t-label'), labels: [{ key: '../k', value: 'v' }] } }, { taskId: 't-label', reason: /labels\[0\]\.key/ }],
    ['a valid id with an infinite kill grace', { framework, task: { ...task('t-grace'), killGraceSeconds: Infinity } }, { taskId: 't-grace', reason: /kill_grace_seconds/ }],
    ['a valid id without a container type', { framework, task: { ...task('t-kind'), container: null } }, { taskId: 't-kind', reason: /container type/ }],
    ['a valid id with NUL in its environment', { framework, task: { ...task('t-env'), command: { value: 'true', shell: true, environment: [{ name: 'A', value: 'a\0b' }] } } }, { taskId: 't-env', reason: /environment\[0\]\.value: contains NUL/ }],
  ];
  for (const [, m] of cases) run(m);
  // A good launch after them all: it runs, so the agent took every command in turn.
  run({ framework, task: task('t-good') });
  await eventually('the good task finishes', () => statuses.some((s) => s.taskId === 't-good' && s.state === 'TASK_FINISHED'), 15_000);
  await sleep(200);

  for (const [what, , refusal] of cases) {
    if (!refusal) continue;
    const mine = statuses.filter((s) => s.taskId === refusal.taskId);
    t.same(mine.map((s) => `${s.state}/${s.reason}`), ['TASK_ERROR/REASON_TASK_INVALID'], `${what}: one TASK_ERROR update`);
    t.match(mine[0]?.message, refusal.reason, `${what}: the message names the field`);
  }
  t.ok(statuses.every((s) => isValidName('task id', s.taskId) && isValidName('framework id', s.frameworkId)), 'no update names a hostile id');

  // Nothing but valid names anywhere in the work dir; nothing outside it.
  const names: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      names.push(entry.name);
      if (entry.isDirectory()) walk(join(dir, entry.name));
    }
  };
  walk(workDir);
  t.ok(names.every((n) => !/[\u0000-\u001f]/.test(n) && n.length <= 255), 'no file or directory name with a control character or over 255 bytes');
  t.notOk(existsSync(join(workDir, '..', 'escaped-fw')) || existsSync(join(workDir, '..', 'escaped-task')), 'no directory outside the work dir');
  t.notOk(existsSync(join(workDir, 'sandboxes', 'fw-ok', 't-label')), 'no sandbox for a refused launch');
});
