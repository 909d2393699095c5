// Process tasks outlive their agent: a second ProcessContainerizer (as a restarted agent has) finds
// them by pid and start time, watches the ones still running, and reads the exit status of the
// ones that ended from the file their wrapper left in the sandbox.
import t, { type Test } from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerHandle, KnownContainer, LaunchRequest } from '../../src/agent/containerizer/containerizer.js';
import { ProcessContainerizer } from '../../src/agent/containerizer/process.js';
import { EXIT_STATUS_FILE } from '../../src/agent/containerizer/process-wrapper.js';
import type { TaskSpec } from '../../src/common/tasks.js';

let n = 0;

function request(sandboxDir: string, value: string, persist?: (h: ContainerHandle) => void): LaunchRequest {
  n += 1;
  const task: TaskSpec = {
    taskId: `task-${n}`,
    name: `task ${n}`,
    agentId: 'agent-1',
    resources: [],
    command: { shell: true, value, arguments: [], env: {} },
    container: { kind: 'process' },
    killGraceMs: 3000,
    labels: {},
  };
  return { containerId: `recover-${process.pid}-${n}`, task, frameworkId: 'fw-1', agentId: 'agent-1', sandboxDir, env: {}, ...(persist ? { persist } : {}) };
}

const known = (req: LaunchRequest, handle: ContainerHandle | undefined): KnownContainer => ({
  containerId: req.containerId,
  taskId: req.task.taskId,
  frameworkId: req.frameworkId,
  sandboxDir: req.sandboxDir,
  ...(handle ? { handle } : {}),
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await sleep(20);
  }
  return cond();
}

/** Waits until the task has written `text` to its stdout (so its command is surely running). */
const printed = (req: LaunchRequest, text: string) =>
  waitFor(() => existsSync(join(req.sandboxDir, 'stdout')) && readFileSync(join(req.sandboxDir, 'stdout'), 'utf8').includes(text));

/** Launches `value` with a first containerizer and returns what a restarted agent would know. */
async function launchWithFirst(t: Test, value: string) {
  const first = new ProcessContainerizer();
  t.teardown(() => first.close());
  let handle: ContainerHandle | undefined;
  const req = request(t.testdir(), value, (h) => (handle = h));
  const launched = await first.launch(req);
  if (!handle) throw new Error('persist was not called');
  const second = new ProcessContainerizer({ pollIntervalMs: 20 });
  t.teardown(() => second.close());
  return { first, second, req, launched, handle: handle as ContainerHandle };
}

t.test('a running task is found again, and a kill from the new containerizer ends it', async (t) => {
  const { second, req, handle } = await launchWithFirst(t, 'echo started; sleep 600');
  t.ok(await printed(req, 'started'));
  const found = await second.recover('agent-1', [known(req, handle)]);
  const outcome = found.get(req.containerId);
  if (outcome?.status !== 'running') {
    t.fail(`expected running, got ${JSON.stringify(outcome)}`);
    return;
  }
  await second.kill(req.containerId, 2000);
  const exit = await outcome.container.exited;
  t.same(exit, { exitCode: null, oomKilled: false, killed: true, message: 'killed by SIGTERM' });
  t.equal(readFileSync(join(req.sandboxDir, 'stdout'), 'utf8'), 'started\n');
});

t.test('a recovered task that exits by itself is seen to exit, with its code', async (t) => {
  const { second, req, handle } = await launchWithFirst(t, 'sleep 0.3; exit 4');
  const outcome = (await second.recover('agent-1', [known(req, handle)])).get(req.containerId);
  if (outcome?.status !== 'running') {
    t.fail(`expected running, got ${JSON.stringify(outcome)}`);
    return;
  }
  t.same(await outcome.container.exited, { exitCode: 4, oomKilled: false, killed: false, message: 'exited with code 4' });
});

t.test('a task that ended before recovery is reported with the code its wrapper recorded', async (t) => {
  const { second, req, handle, launched } = await launchWithFirst(t, 'exit 3');
  await launched.exited;
  t.equal(readFileSync(join(req.sandboxDir, EXIT_STATUS_FILE), 'utf8'), '3\n', 'the wrapper recorded $?');
  const outcome = (await second.recover('agent-1', [known(req, handle)])).get(req.containerId);
  t.same(outcome, { status: 'exited', exit: { exitCode: 3, oomKilled: false, killed: false, message: 'exited with code 3' } });
});

t.test('a task killed by a signal while nobody watched is reported as killed by it', async (t) => {
  const { second, req, handle, launched } = await launchWithFirst(t, 'echo started; sleep 600');
  t.ok(await printed(req, 'started'));
  process.kill(-handle.pid, 'SIGTERM');
  await launched.exited;
  const outcome = (await second.recover('agent-1', [known(req, handle)])).get(req.containerId);
  t.same(outcome, { status: 'exited', exit: { exitCode: null, oomKilled: false, killed: false, message: 'killed by SIGTERM' } });
});

t.test('a task whose pid now names another process is not taken for running', async (t) => {
  const { second, req, handle, launched } = await launchWithFirst(t, 'sleep 600');
  const outcome = (await second.recover('agent-1', [known(req, { pid: handle.pid, startTime: handle.startTime + 1 })])).get(req.containerId);
  t.equal(outcome?.status, 'gone', 'another start time: not our process, and no status recorded');
  process.kill(-handle.pid, 'SIGKILL');
  await launched.exited;
});

t.test('a running task whose handle was lost is found by the status file its wrapper names', async (t) => {
  const { second, req, handle } = await launchWithFirst(t, 'echo started; sleep 600');
  t.ok(await printed(req, 'started'));
  const outcome = (await second.recover('agent-1', [known(req, undefined)])).get(req.containerId);
  if (outcome?.status !== 'running') {
    t.fail(`expected running, got ${JSON.stringify(outcome)}`);
    return;
  }
  await second.kill(req.containerId, 1000);
  t.equal((await outcome.container.exited).killed, true, 'the wrapper found by its sandbox is the one killed');
  t.ok(handle.pid > 0);
});

t.test('a task with no recorded handle never ran', async (t) => {
  const second = new ProcessContainerizer();
  const req = request(t.testdir(), 'true');
  const outcome = (await second.recover('agent-1', [known(req, undefined)])).get(req.containerId);
  t.same(outcome, { status: 'gone', message: 'the agent restarted before the task started' });
});

t.test('the command starts only after its handle is persisted; a failed persist means it never runs', async (t) => {
  const containerizer = new ProcessContainerizer();
  t.teardown(() => containerizer.close());
  const dir = t.testdir();
  let ranBeforePersist: boolean | undefined;
  const ok = request(dir, 'touch ran', () => {
    ranBeforePersist = existsSync(join(dir, 'ran'));
  });
  await (await containerizer.launch(ok)).exited;
  t.equal(ranBeforePersist, false, 'not yet run when persisted');
  t.ok(existsSync(join(dir, 'ran')), 'run afterwards');

  const dir2 = t.testdir();
  const failing = request(dir2, 'touch ran', () => {
    throw new Error('disk full');
  });
  const err = await containerizer.launch(failing).catch((e: unknown) => e);
  t.match((err as Error).message, /cannot checkpoint its pid: disk full/);
  await sleep(300);
  t.notOk(existsSync(join(dir2, 'ran')), 'the command never ran');
});

t.test('the task outlives a closed containerizer and keeps writing its sandbox output', async (t) => {
  const { first, second, req, handle } = await launchWithFirst(t, 'echo one; sleep 0.3; echo two; sleep 600');
  await first.close();
  t.ok(await waitFor(() => readFileSync(join(req.sandboxDir, 'stdout'), 'utf8') === 'one\ntwo\n'), 'output goes on');
  const outcome = (await second.recover('agent-1', [known(req, handle)])).get(req.containerId);
  t.equal(outcome?.status, 'running');
  await second.kill(req.containerId, 100);
});
