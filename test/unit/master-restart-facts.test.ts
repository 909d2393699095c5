/**
 * After a master restart (or a failover), what a user sees about a running task does not change:
 * the agent reports its start time, latest status, health and recent statuses, and the master
 * takes them back, as hostile input. Reconciliation about a task on an agent the master still
 * waits for is held until the master knows, never answered LOST meanwhile. (Issue 15, item 4.)
 */
import { pino } from 'pino';
import t from 'tap';
import { statusToProto, taskToProto } from '../../src/common/codec.js';
import { orbitV1 } from '../../src/common/proto.js';
import type { AgentMessage__Output } from '../../src/gen/orbit/v1/AgentMessage.js';
import type { AgentTask, AgentTask__Output } from '../../src/gen/orbit/v1/AgentTask.js';
import { reportedTaskFromProto } from '../../src/master/rpc/reported-task-codec.js';
import type { TaskStatus } from '../../src/common/tasks.js';
import { TASK_STATUS_HISTORY } from '../../src/common/tasks.js';
import type { ReportedTask, RestoredState } from '../../src/master/core.js';
import { REPORTED_TIME_SKEW_MS } from '../../src/master/reported-task.js';
import { agentInfo, frameworkInfo } from '../helpers/builders.js';
import { FakeAgentChannel, FakeFrameworkChannel, settle, setup, START, task } from '../helpers/core-harness.js';

const AGENT_ID = 'agent-old';
const FW_ID = 'fw-old';
/** The old master accepted the launch twelve minutes before this one started. */
const ACCEPTED_AT = START - 12 * 60_000;

/** A status the agent made for `taskId`, `minutes` after the launch was accepted. */
function agentMade(taskId: string, state: TaskStatus['state'], minutes: number, extra: Partial<TaskStatus> = {}): TaskStatus {
  return {
    taskId, frameworkId: FW_ID, agentId: AGENT_ID, state, source: 'AGENT', reason: 'NONE',
    message: `${state.toLowerCase()} at ${minutes} min`, timestamp: ACCEPTED_AT + minutes * 60_000,
    uuid: `${taskId}-${state}-${minutes}`, containerId: `c-${taskId}`, ...extra,
  };
}

/** A running, healthy task's report, as an agent that ran it for twelve minutes makes it. */
function runningTask(taskId: string, resources?: string): ReportedTask {
  const history = [
    agentMade(taskId, 'STARTING', 0),
    agentMade(taskId, 'RUNNING', 0.1),
    agentMade(taskId, 'RUNNING', 1, { healthy: true, message: 'healthy: command exited 0' }),
  ];
  return { spec: { ...task(taskId, AGENT_ID, resources), allocationRole: '*' }, frameworkId: FW_ID, latest: history.at(-1)!, acceptedAt: ACCEPTED_AT, startedAt: ACCEPTED_AT + 5, history, problems: [] };
}

/** Collects the master's log lines at warn and above. */
function warnings() {
  const lines: { msg: string; count?: number; problems?: string[] }[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/** A master that has just restarted: the registry knows the agent and the framework; neither is back yet. */
async function restarted(t: Parameters<typeof setup>[0], options: Parameters<typeof setup>[1] = {}) {
  const s = setup(t, { agentReregisterTimeoutMs: 10_000, ...options });
  const state: RestoredState = {
    weights: new Map(),
    quotas: new Map(),
    agents: [{ id: AGENT_ID, hostname: 'host-a', status: 'admitted', draining: false }],
    frameworks: [{ info: frameworkInfo({ id: FW_ID, failoverTimeoutMs: 60_000 }), failoverDeadline: START + 60_000, removed: false }],
  };
  await s.core.restore(state);
  const channel = new FakeFrameworkChannel();
  const { streamId } = await s.core.subscribe(frameworkInfo({ id: FW_ID, failoverTimeoutMs: 60_000 }), channel);
  channel.fresh();
  const framework = () => s.view.framework(FW_ID)!;
  const reregister = (tasks: ReportedTask[]) => s.core.reregisterAgent(new FakeAgentChannel(), agentInfo('cpus:4;mem:4096', { id: AGENT_ID }), tasks, [framework().info]);
  return { ...s, channel, streamId, framework, reregister };
}

t.test('a re-registering agent gives the restarted master its task’s start time, state, health and history', async (t) => {
  const m = await restarted(t);
  const reported = runningTask('redis-1');
  await m.reregister([reported]);
  const record = m.view.task(FW_ID, 'redis-1')!;
  t.equal(record.createdAt, ACCEPTED_AT, 'started when the old master accepted it, not at the restart');
  t.equal(record.state, 'RUNNING');
  t.equal(record.healthy, true, 'healthy, as the agent last checked');
  t.strictSame(record.statuses, reported.history, 'the same status history, oldest first');
});

t.test('a report from an older agent (no history, no times) still restores the latest status', async (t) => {
  const m = await restarted(t);
  const latest = agentMade('t1', 'RUNNING', 3, { healthy: false });
  await m.reregister([{ spec: { ...task('t1', AGENT_ID), allocationRole: '*' }, frameworkId: FW_ID, latest }]);
  const record = m.view.task(FW_ID, 't1')!;
  t.strictSame(record.statuses, [latest], 'the latest status is the history');
  t.equal(record.healthy, false);
  t.equal(record.createdAt, latest.timestamp, 'started no later than its first known status');
});

t.test('an update the agent resends after re-registering is not added to the history twice', async (t) => {
  const m = await restarted(t);
  const reported = runningTask('t1');
  await m.reregister([reported]);
  m.core.agentStatusUpdate(AGENT_ID, reported.history![1]!);
  m.core.agentStatusUpdate(AGENT_ID, reported.history![2]!);
  const record = m.view.task(FW_ID, 't1')!;
  t.equal(record.statuses.length, 3, 'the resent updates were there already');
  t.equal(record.healthy, true, 'an older resent update does not undo the newer health');
  t.equal(m.channel.updates().length, 2, 'the framework still gets them (it has not acknowledged them)');
});

t.test('hostile task facts are repaired with one warning, and the agent is taken back', async (t) => {
  const log = warnings();
  const m = await restarted(t, { logger: log.logger });
  const now = m.clock.now();
  type Record = NonNullable<ReturnType<typeof m.view.task>>;
  const cases: [behaviour: string, make: (r: ReportedTask) => ReportedTask, check: (record: Record, r: ReportedTask) => void][] = [
    ['an accepted time in the future is taken as now', (r) => ({ ...r, acceptedAt: now + REPORTED_TIME_SKEW_MS + 60_000 }), (rec) => t.equal(rec.createdAt, now)],
    ['an accepted time within the clock skew is kept', (r) => ({ ...r, acceptedAt: now + 1_000 }), (rec) => t.equal(rec.createdAt, now + 1_000)],
    ['without an accepted time, the agent’s start time is taken', (r) => ({ ...r, acceptedAt: undefined }), (rec, r) => t.equal(rec.createdAt, r.startedAt)],
    [
      'a status time in the future is taken as now',
      (r) => ({ ...r, history: r.history!.map((s, i) => (i === 0 ? { ...s, timestamp: now + 86_400_000 } : s)) }),
      (rec) => t.equal(rec.statuses[0]!.timestamp, now),
    ],
    ['a status of another task is left out', (r) => ({ ...r, history: [{ ...r.history![0]!, taskId: 'someone-else' }, ...r.history!.slice(1)] }), (rec, r) => t.strictSame(rec.statuses, r.history!.slice(1))],
    ['a repeated update is kept once', (r) => ({ ...r, history: [r.history![1]!, ...r.history!] }), (rec) => t.equal(rec.statuses.length, 3)],
    ['a latest status missing from the history closes it', (r) => ({ ...r, history: r.history!.slice(0, 2) }), (rec, r) => t.strictSame(rec.statuses.map((s) => s.uuid), r.history!.map((s) => s.uuid))],
    [
      'a history past the bound keeps its newest statuses',
      (r) => ({ ...r, history: Array.from({ length: 500 }, (_, i) => ({ ...r.latest, uuid: `u${i}`, healthy: false })).concat([r.latest]) }),
      (rec, r) => {
        t.equal(rec.statuses.length, TASK_STATUS_HISTORY);
        t.strictSame(rec.statuses.at(-1), r.latest);
        t.equal(rec.healthy, true, 'health is the latest status’s');
      },
    ],
  ];
  const reports = cases.map(([, make], i) => make(runningTask(`t${i}`, 'cpus:0.1;mem:32')));
  await m.reregister(reports);
  t.equal(m.view.agent(AGENT_ID)?.state, 'active', 'the agent is back');
  cases.forEach(([behaviour, , check], i) => {
    const record = m.view.task(FW_ID, `t${i}`);
    t.ok(record, `${behaviour}: the task is back`);
    if (record) check(record, runningTask(`t${i}`, 'cpus:0.1;mem:32'));
  });
  const warned = log.lines.filter((l) => l.msg === 'the agent reported task facts the master repaired or left out');
  t.equal(warned.length, 1, 'one warning for the whole re-registration');
  t.ok((warned[0]?.count ?? 0) >= 5, 'counting every repair');
  t.match(warned[0]?.problems?.join('\n'), /ahead of the master's clock/, 'naming what was repaired');
});

t.test('a reconcile sent before the agent re-registers gets the task’s real state once it does, never LOST', async (t) => {
  const m = await restarted(t);
  m.core.reconcile(m.framework(), [{ taskId: 'redis-1', agentId: AGENT_ID }, { taskId: 'lost-1', agentId: AGENT_ID }]);
  m.core.reconcile(m.framework(), []);
  t.strictSame(m.channel.updates(), [], 'no answer while the agent may still come back with them');
  await m.reregister([runningTask('redis-1')]);
  const answers = m.channel.updates().map((s) => [s.taskId, s.state, s.reason, s.healthy]);
  t.strictSame(answers, [
    ['redis-1', 'RUNNING', 'RECONCILIATION', true],
    ['lost-1', 'LOST', 'TASK_UNKNOWN', undefined],
  ], 'the real state for the task it runs (once, though asked explicitly and implicitly); LOST for the one it does not');
});

t.test('a held reconcile is answered UNREACHABLE when the window closes, and GONE when the agent is marked gone', async (t) => {
  const m = await restarted(t);
  m.core.reconcile(m.framework(), [{ taskId: 't1', agentId: AGENT_ID }]);
  m.clock.advance(10_000);
  await settle();
  await settle();
  t.match(m.channel.updates(), [{ taskId: 't1', state: 'UNREACHABLE', reason: 'AGENT_UNREACHABLE' }]);
  t.equal(m.channel.updates().length, 1);

  const n = await restarted(t);
  n.core.reconcile(n.framework(), [{ taskId: 't1', agentId: AGENT_ID }]);
  await n.core.markAgentGone(AGENT_ID);
  t.match(n.channel.updates(), [{ taskId: 't1', state: 'GONE', reason: 'AGENT_REMOVED' }]);
  t.equal(n.channel.updates().length, 1);
});

t.test('on the wire, start times that are not times and history entries that do not decode are left out, each named', async (t) => {
  const reported = runningTask('t1');
  const wire = (extra: Partial<AgentTask>): AgentTask__Output => {
    const method = orbitV1().AgentLink.service.Connect;
    const message = { reregister: { tasks: [{ task: taskToProto(reported.spec), frameworkId: FW_ID, latestStatus: statusToProto(reported.latest), ...extra }] } };
    return (method.requestDeserialize(method.requestSerialize(message)) as AgentMessage__Output).reregister!.tasks[0]!;
  };
  const decoded = reportedTaskFromProto(
    wire({
      acceptedAt: NaN,
      startedAt: -5,
      history: [
        ...Array.from({ length: 1_000 }, () => statusToProto(reported.history![0]!)),
        { ...statusToProto(reported.history![1]!), state: 77 as never },
        { ...statusToProto(reported.history![1]!), timestamp: Infinity },
        statusToProto(reported.history![2]!),
      ],
    }),
    'reregister.tasks[0]',
  );
  t.equal(decoded.acceptedAt, undefined);
  t.equal(decoded.startedAt, undefined);
  t.equal(decoded.history?.length, TASK_STATUS_HISTORY - 2, 'the newest 20 decoded, less the two that do not');
  t.match(decoded.problems, [
    /reregister\.tasks\[0\]\.accepted_at: NaN is not a time/,
    /reregister\.tasks\[0\]\.started_at: -5 is not a time/,
    /reregister\.tasks\[0\]\.history has 1003 statuses, more than 20/,
    /reregister\.tasks\[0\]\.history\[1000\]\.state: .*left out/,
    /reregister\.tasks\[0\]\.history\[1001\]\.timestamp: .*left out/,
  ]);
  t.throws(() => reportedTaskFromProto(wire({ latestStatus: { ...statusToProto(reported.latest), timestamp: NaN } }), 'reregister.tasks[0]'), /reregister\.tasks\[0\]\.latest_status\.timestamp/, 'a latest status that does not decode still refuses the re-registration: the master acts on it');
});
