// The task runner after an agent restart (adopt) and at an exit: which one status each recovered
// task gets, and the order of save, removal and report that makes an exit survive a crash.
import t from 'tap';
import { ManualClock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/logging.js';
import type { TaskState, TaskStatus } from '../../src/common/tasks.js';
import type { RecoveredTask, TaskCheckpointPort } from '../../src/agent/checkpoint.js';
import type { ContainerExit, Containerizer, LaunchedContainer, RecoveredContainer } from '../../src/agent/containerizer/containerizer.js';
import { TaskRunner, type TaskRunnerOptions } from '../../src/agent/task-runner.js';
import { frameworkInfo, makeTask } from '../helpers/builders.js';

const FW = frameworkInfo({ id: 'fw-1' });

/** Everything the runner does to the outside, in order: saves, removals, statuses. */
function setup(removal: Promise<void> = Promise.resolve(), options: Partial<TaskRunnerOptions> = {}) {
  const events: string[] = [];
  const statuses: TaskStatus[] = [];
  const exits = new Map<string, (exit: ContainerExit) => void>();
  const containerizer: Containerizer = {
    kind: 'process',
    launch: async (request) => ({ containerId: request.containerId, exited: new Promise((resolve) => exits.set(request.containerId, resolve)) }),
    kill: async () => {},
    recover: async () => new Map(),
    remove: async (id) => {
      events.push(`remove ${id}`);
      await removal;
    },
    close: async () => {},
  };
  const checkpoint: TaskCheckpointPort = {
    saveFramework: () => {},
    saveTask: (task) => void events.push(`saveTask ${task.containerId}`),
    saveTaskState: (_fw, _task, state) => void events.push(`saveState${state.handle ? ' handle' : ''}${state.ending ? ` ending ${state.ending.state}` : ''}`),
  };
  const runner = new TaskRunner({
    workDir: '/nonexistent',
    clock: new ManualClock(),
    logger: silentLogger,
    containerizers: new Map([['process', containerizer]]),
    agentId: () => 'agent-1',
    emit: (s) => {
      statuses.push(s);
      events.push(`emit ${s.state}`);
    },
    checkpoint,
    ...options,
  });
  t.teardown(() => runner.stop());
  return { runner, events, statuses, exits };
}

const recovered = (state: TaskState, extra: Partial<RecoveredTask> = {}): RecoveredTask => ({
  framework: FW,
  task: { frameworkId: FW.id, spec: makeTask('t1').obj(), containerId: 'ctr-1', sandboxDir: '/s', startedAt: 0 },
  state,
  latest: undefined,
  history: [],
  handle: undefined,
  ending: undefined,
  ...extra,
});

const running = (exited: Promise<ContainerExit> = new Promise(() => {})): RecoveredContainer => ({ status: 'running', container: { containerId: 'ctr-1', exited } satisfies LaunchedContainer });
const exitWith = (exitCode: number | null, extra: Partial<ContainerExit> = {}): ContainerExit => ({ exitCode, oomKilled: false, killed: false, message: `exited with code ${exitCode}`, ...extra });
const flush = () => new Promise((resolve) => setImmediate(resolve));

t.test('a recovered task whose container runs', async (t) => {
  await t.test('stays RUNNING without a new update', async (t) => {
    const { runner, statuses } = setup();
    runner.adopt(recovered('RUNNING'), running());
    t.equal(runner.find('t1')?.state, 'RUNNING');
    t.strictSame(statuses, []);
  });
  await t.test('becomes RUNNING if it was STARTING', async (t) => {
    const { runner, statuses } = setup();
    runner.adopt(recovered('STARTING'), running());
    t.strictSame(statuses.map((s) => s.state), ['RUNNING']);
    t.match(statuses[0]!.message, /found again after an agent restart/);
  });
  await t.test('ends with its exit code when it exits later', async (t) => {
    const { runner, statuses } = setup();
    let exit: (e: ContainerExit) => void = () => {};
    runner.adopt(recovered('RUNNING'), running(new Promise((resolve) => (exit = resolve))));
    exit(exitWith(0));
    await flush();
    t.strictSame(statuses.map((s) => [s.state, s.exitCode]), [['FINISHED', 0]]);
  });
});

const endings: Array<[string, TaskState, RecoveredContainer | undefined, Partial<RecoveredTask>, [TaskState, string, number | undefined, RegExp]]> = [
  ['exited with code 3', 'RUNNING', { status: 'exited', exit: exitWith(3) }, {}, ['FAILED', 'COMMAND_EXITED', 3, /exited with code 3 while the agent was down/]],
  ['was OOM-killed', 'RUNNING', { status: 'exited', exit: exitWith(137, { oomKilled: true, message: 'killed: out of memory' }) }, {}, ['FAILED', 'CONTAINER_LIMITATION_MEMORY', 137, /out of memory/]],
  ['exited while being killed', 'KILLING', { status: 'exited', exit: exitWith(null, { message: 'killed by SIGTERM' }) }, {}, ['KILLED', 'KILLED_BY_FRAMEWORK', undefined, /SIGTERM/]],
  ['vanished', 'RUNNING', { status: 'gone', message: 'container orbit-ctr-1 no longer exists' }, {}, ['FAILED', 'AGENT_RESTARTED', undefined, /no longer exists; the agent restarted and cannot tell how the task ended/]],
  ['vanished while being killed', 'KILLING', { status: 'gone', message: 'gone' }, {}, ['KILLED', 'AGENT_RESTARTED', undefined, /cannot tell/]],
  ['has no containerizer any more', 'RUNNING', undefined, {}, ['FAILED', 'AGENT_RESTARTED', undefined, /no longer has a process containerizer/]],
  ['had exited, its end saved but not reported', 'RUNNING', { status: 'gone', message: 'removed' }, { ending: { state: 'FINISHED', reason: 'COMMAND_EXITED', message: 'exited with code 0', exitCode: 0 } }, ['FINISHED', 'COMMAND_EXITED', 0, /exited with code 0/]],
];

for (const [what, state, container, extra, [wantState, wantReason, wantCode, wantMessage]] of endings) {
  t.test(`a recovered task that ${what} gets one ${wantState} update`, async (t) => {
    const { runner, statuses } = setup();
    await runner.adopt(recovered(state, extra), container);
    await flush();
    t.strictSame(statuses.map((s) => [s.state, s.reason, s.exitCode]), [[wantState, wantReason, wantCode]]);
    t.match(statuses[0]!.message, wantMessage);
    t.equal(runner.activeTasks().length, 0);
  });
}

t.test('a recovered task that had already ended is remembered, not reported again', async (t) => {
  const { runner, statuses, events } = setup();
  await runner.adopt(recovered('FINISHED'), { status: 'exited', exit: exitWith(0) });
  await flush();
  t.strictSame(statuses, []);
  t.equal(runner.find('t1')?.state, 'FINISHED');
  t.strictSame(events, ['remove ctr-1'], 'its leftover container is removed');
});

t.test('at an exit, the end is saved, then the container removed, then the update sent', async (t) => {
  const { runner, events, exits } = setup();
  runner.run(FW, makeTask('t2').obj());
  await flush();
  const containerId = runner.find('t2')!.containerId;
  events.length = 0;
  exits.get(containerId)!(exitWith(0));
  await flush();
  t.strictSame(events, ['saveState ending FINISHED', `remove ${containerId}`, 'emit FINISHED']);
});

t.test('a kill while the exited container is being removed is a no-op', async (t) => {
  let removed: () => void = () => {};
  const { runner, statuses, exits, events } = setup(new Promise((resolve) => (removed = resolve)));
  runner.run(FW, makeTask('t3').obj());
  await flush();
  const containerId = runner.find('t3')!.containerId;
  exits.get(containerId)!(exitWith(0));
  await flush();
  t.ok(events.includes(`remove ${containerId}`), 'the removal is under way');
  runner.kill(FW.id, 't3');
  removed();
  await flush();
  t.strictSame(statuses.map((s) => s.state), ['STARTING', 'RUNNING', 'FINISHED']);
});

t.test('while the agent drains, a launch is DROPPED at once; once stopped, it is ignored', async (t) => {
  const { runner, statuses } = setup();
  runner.drain();
  runner.run(FW, makeTask('t4').obj());
  t.strictSame(statuses.map((s) => [s.state, s.reason]), [['DROPPED', 'AGENT_DRAINING']]);
  runner.stop();
  runner.run(FW, makeTask('t5').obj());
  t.equal(statuses.length, 1);
  t.equal(runner.find('t5'), undefined);
});

t.test('a task keeps its recent statuses and the time the master accepted it, for re-registration', async (t) => {
  const { runner, statuses, events } = setup();
  runner.run(FW, makeTask('t6').obj(), 1_700_000_000_000);
  await flush();
  const task = runner.find('t6')!;
  t.equal(task.acceptedAt, 1_700_000_000_000, 'the time from the run_task');
  t.strictSame(task.history, statuses, 'every status it made, oldest first');
  t.equal(task.history.at(-1), task.latest, 'the latest last');
  t.match(events[0], /^saveTask /);
});

t.test('a recovered task reports the history and accepted time its checkpoint kept', async (t) => {
  const { runner } = setup();
  const history = ['STARTING', 'RUNNING'].map((state, i) => ({ taskId: 't1', frameworkId: FW.id, agentId: 'agent-1', state: state as TaskState, source: 'AGENT' as const, reason: 'NONE' as const, message: state, timestamp: i, uuid: `u${i}`, containerId: 'ctr-1' }));
  const saved = recovered('RUNNING', { latest: history[1], history });
  await runner.adopt({ ...saved, task: { ...saved.task, acceptedAt: 42 } }, running());
  const task = runner.find('t1')!;
  t.strictSame(task.history, history);
  t.equal(task.acceptedAt, 42);
});

t.test('past the limit, ended tasks whose updates wait for an acknowledgement are remembered (a re-registration reports them); the oldest acknowledged one goes', async (t) => {
  const waiting = new Set(['t1', 't3']);
  const { runner } = setup(Promise.resolve(), { completedLimit: 2, isUnacknowledged: (_fw, taskId) => waiting.has(taskId) });
  const ended = (taskId: string) => {
    const saved = recovered('FINISHED');
    return { ...saved, task: { ...saved.task, spec: makeTask(taskId).obj(), containerId: `ctr-${taskId}` } };
  };
  for (const id of ['t1', 't2', 't3']) await runner.adopt(ended(id), { status: 'exited', exit: exitWith(0) });
  t.strictSame(runner.completedTasks().map((x) => x.spec.taskId), ['t1', 't3'], 't2, acknowledged, made room; t1 waits');
  waiting.add('t4');
  await runner.adopt(ended('t4'), { status: 'exited', exit: exitWith(0) });
  t.strictSame(runner.completedTasks().map((x) => x.spec.taskId), ['t1', 't3', 't4'], 'with every one waiting, the list holds more than the limit');
  waiting.clear();
  await runner.adopt(ended('t5'), { status: 'exited', exit: exitWith(0) });
  t.strictSame(runner.completedTasks().map((x) => x.spec.taskId), ['t4', 't5'], 'once acknowledged, the oldest go until the limit holds again');
});
