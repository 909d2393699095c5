// The agent's checkpoint: what is saved comes back, corrupt files stop the agent or are skipped,
// and leftovers of interrupted writes and removals do not confuse it.
import t, { type Test } from 'tap';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint, CheckpointCorruptError } from '../../src/agent/checkpoint.js';
import { TASK_STATUS_HISTORY } from '../../src/common/tasks.js';
import { agentStatus, frameworkInfo, makeTask } from '../helpers/builders.js';

const FW = frameworkInfo({ id: 'fw-1', name: 'fw one' });

/** A checkpoint in a fresh dir with one task launched (STARTING queued, then RUNNING). */
function withTask(t: Test, taskId = 't1', containerId = 'ctr-1') {
  const workDir = t.testdir();
  const cp = new Checkpoint(workDir);
  cp.saveAgentId('agent-1');
  cp.saveFramework(FW);
  cp.saveTask({ frameworkId: FW.id, spec: makeTask(taskId).obj(), containerId, sandboxDir: '/sandbox', startedAt: 5 });
  const starting = agentStatus({ frameworkId: FW.id, taskId, state: 'STARTING', uuid: 'u1', containerId });
  cp.saveUpdates(FW.id, taskId, [starting]);
  cp.saveTaskState(FW.id, taskId, { handle: { pid: 123, startTime: 456 } });
  const taskDir = join(cp.dir, 'frameworks', FW.id, 'tasks', taskId);
  return { workDir, cp, taskDir, starting };
}

t.test('what is saved is loaded back', async (t) => {
  const { workDir, starting } = withTask(t);
  const loaded = new Checkpoint(workDir).load(true);
  t.equal(loaded.agentId, 'agent-1');
  t.equal(loaded.tasks.length, 1);
  const task = loaded.tasks[0]!;
  t.strictSame(task.framework, FW);
  t.equal(task.task.spec.taskId, 't1');
  t.equal(task.task.containerId, 'ctr-1');
  t.equal(task.task.startedAt, 5);
  t.equal(task.state, 'STARTING');
  t.strictSame(task.handle, { pid: 123, startTime: 456 });
  t.strictSame(loaded.streams, [{ frameworkId: FW.id, taskId: 't1', updates: [starting] }]);
  t.strictSame(loaded.skipped, []);
});

t.test('an empty work dir is a fresh agent', async (t) => {
  const loaded = new Checkpoint(t.testdir()).load(true);
  t.strictSame(loaded, { agentId: undefined, tasks: [], streams: [], skipped: [] });
});

t.test('the newest queued update is the latest status, and stays so once acknowledged', async (t) => {
  const { workDir, cp, starting } = withTask(t);
  const running = agentStatus({ frameworkId: FW.id, taskId: 't1', state: 'RUNNING', uuid: 'u2', containerId: 'ctr-1' });
  cp.saveUpdates(FW.id, 't1', [starting, running]);
  let task = new Checkpoint(workDir).load(true).tasks[0]!;
  t.equal(task.state, 'RUNNING');
  t.equal(task.latest?.uuid, 'u2');
  cp.saveUpdates(FW.id, 't1', [running]);
  cp.saveUpdates(FW.id, 't1', []);
  const loaded = new Checkpoint(workDir).load(true);
  task = loaded.tasks[0]!;
  t.equal(task.latest?.uuid, 'u2', 'still the latest with nothing left to acknowledge');
  t.strictSame(task.handle, { pid: 123, startTime: 456 }, 'the handle is kept across writes');
  t.strictSame(loaded.streams, []);
});

t.test('a state of an earlier launch of the task id is not taken for this one; its updates are kept', async (t) => {
  const { workDir, cp, starting } = withTask(t);
  cp.saveTask({ frameworkId: FW.id, spec: makeTask('t1').obj(), containerId: 'ctr-2', sandboxDir: '/sandbox2', startedAt: 9 });
  let loaded = new Checkpoint(workDir).load(true);
  t.equal(loaded.tasks[0]!.task.containerId, 'ctr-2');
  t.equal(loaded.tasks[0]!.state, 'STAGING', 'nothing is known of the new launch yet');
  t.equal(loaded.tasks[0]!.handle, undefined, 'the old pid is not the new launch');
  t.strictSame(loaded.streams[0]?.updates, [starting], 'the earlier launch still has an update to deliver');
  const again = agentStatus({ frameworkId: FW.id, taskId: 't1', state: 'STARTING', uuid: 'u9', containerId: 'ctr-2' });
  cp.saveUpdates(FW.id, 't1', [starting, again]);
  loaded = new Checkpoint(workDir).load(true);
  t.equal(loaded.tasks[0]!.latest?.uuid, 'u9', 'the latest is the new launch\'s own');
});

t.test('a launch keeps its recent statuses and the time the master accepted it across a restart', async (t) => {
  const { workDir, cp, starting } = withTask(t);
  const running = agentStatus({ frameworkId: FW.id, taskId: 't1', state: 'RUNNING', uuid: 'u2', containerId: 'ctr-1' });
  const healthy = { ...agentStatus({ frameworkId: FW.id, taskId: 't1', state: 'RUNNING', uuid: 'u3', containerId: 'ctr-1' }), healthy: true };
  cp.saveUpdates(FW.id, 't1', [starting, running]);
  cp.saveUpdates(FW.id, 't1', [running]);
  cp.saveUpdates(FW.id, 't1', [running, healthy]);
  cp.saveUpdates(FW.id, 't1', []);
  const task = new Checkpoint(workDir).load(true).tasks[0]!;
  t.strictSame(task.history.map((s) => s.uuid), ['u1', 'u2', 'u3'], 'each status once, oldest first, acknowledged or not');
  t.equal(task.latest?.healthy, true);

  cp.saveTask({ frameworkId: FW.id, spec: makeTask('t1').obj(), containerId: 'ctr-2', sandboxDir: '/s2', startedAt: 9, acceptedAt: 7 });
  const relaunched = new Checkpoint(workDir).load(true).tasks[0]!;
  t.strictSame(relaunched.history, [], 'a new launch of the id starts a new history');
  t.equal(relaunched.task.acceptedAt, 7);
});

t.test('the history is bounded, and a state.json written before it had one gives the latest status', async (t) => {
  const { workDir, cp, taskDir, starting } = withTask(t);
  for (let i = 0; i < TASK_STATUS_HISTORY + 5; i++) cp.saveUpdates(FW.id, 't1', [agentStatus({ frameworkId: FW.id, taskId: 't1', state: 'RUNNING', uuid: `r${i}`, containerId: 'ctr-1' })]);
  const history = new Checkpoint(workDir).load(true).tasks[0]!.history;
  t.equal(history.length, TASK_STATUS_HISTORY);
  t.equal(history.at(-1)?.uuid, `r${TASK_STATUS_HISTORY + 4}`, 'the newest kept');
  writeFileSync(join(taskDir, 'state.json'), JSON.stringify({ version: 1, containerId: 'ctr-1', latest: starting, updates: [] }));
  t.strictSame(new Checkpoint(workDir).load(true).tasks[0]!.history, [starting]);
});

t.test('removing the last task of a framework removes the framework', async (t) => {
  const { workDir, cp } = withTask(t);
  cp.saveTask({ frameworkId: FW.id, spec: makeTask('t2').obj(), containerId: 'ctr-3', sandboxDir: '/s', startedAt: 1 });
  cp.removeTask(FW.id, 't1');
  t.strictSame(readdirSync(join(cp.dir, 'frameworks', FW.id, 'tasks')), ['t2']);
  cp.removeTask(FW.id, 't2');
  t.notOk(existsSync(join(cp.dir, 'frameworks', FW.id)), 'the framework directory is gone');
  t.strictSame(new Checkpoint(workDir).load(true).tasks, []);
});

t.test('leftovers of an interrupted write or removal are ignored', async (t) => {
  const { workDir, cp, taskDir } = withTask(t);
  writeFileSync(join(taskDir, 'state.json.tmp'), '{"version":1,"sta');
  writeFileSync(join(cp.dir, 'frameworks', FW.id, 'tasks', 'gone.removing'), 'x');
  const loaded = new Checkpoint(workDir).load(true);
  t.equal(loaded.tasks.length, 1);
  t.equal(loaded.tasks[0]!.state, 'STARTING');
  t.notOk(existsSync(join(cp.dir, 'frameworks', FW.id, 'tasks', 'gone.removing')), 'the half-removed directory is cleaned up');
});

const corruptions: Array<[string, (dirs: { cp: Checkpoint; taskDir: string }) => string, string]> = [
  ['agent.json that is torn', ({ cp }) => join(cp.dir, 'agent.json'), '{"version":1,"agen'],
  ['framework.json of another version', ({ cp }) => join(cp.dir, 'frameworks', FW.id, 'framework.json'), '{"version":7,"framework":{}}'],
  ['task.json without a spec', ({ taskDir }) => join(taskDir, 'task.json'), '{"version":1,"frameworkId":"fw-1","containerId":"c","sandboxDir":"/s","startedAt":1}'],
  ['state.json without its updates', ({ taskDir }) => join(taskDir, 'state.json'), '{"version":1,"containerId":"ctr-1"}'],
  ['state.json with a history entry that is not a status', ({ taskDir }) => join(taskDir, 'state.json'), JSON.stringify({ version: 1, containerId: 'ctr-1', updates: [], history: [{ state: 'RUNNING' }] })],
  ['state.json with an update without uuid', ({ taskDir }) => join(taskDir, 'state.json'), JSON.stringify({ version: 1, containerId: 'ctr-1', updates: [agentStatus({ frameworkId: 'fw-1', taskId: 't1', state: 'RUNNING' })] })],
];

for (const [what, pathOf, content] of corruptions) {
  t.test(`a corrupt ${what} stops a strict load, naming the file`, async (t) => {
    const dirs = withTask(t);
    const path = pathOf(dirs);
    writeFileSync(path, content);
    const err = (() => {
      try {
        new Checkpoint(dirs.workDir).load(true);
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    t.type(err, CheckpointCorruptError);
    t.equal((err as CheckpointCorruptError).path, path);
    t.match((err as Error).message, path);
    t.match((err as Error).message, /--no-strict/);
  });

  t.test(`a corrupt ${what} is skipped without strict`, async (t) => {
    const dirs = withTask(t);
    const path = pathOf(dirs);
    writeFileSync(path, content);
    const loaded = new Checkpoint(dirs.workDir).load(false);
    t.strictSame(loaded.skipped.map((s) => s.path), [path]);
  });
}

t.test('without strict, what depends on a skipped file is left out with it', async (t) => {
  const { workDir, cp, taskDir } = withTask(t);
  writeFileSync(join(taskDir, 'task.json'), 'garbage');
  let loaded = new Checkpoint(workDir).load(false);
  t.strictSame(loaded.tasks, [], 'no task without its task.json');
  t.strictSame(loaded.streams, [], 'nor its updates');
  t.equal(loaded.agentId, 'agent-1', 'the rest is recovered');
  writeFileSync(join(cp.dir, 'frameworks', FW.id, 'framework.json'), '');
  loaded = new Checkpoint(workDir).load(false);
  t.equal(loaded.skipped.length, 1, 'a skipped framework hides its tasks (and their files) too');
});
