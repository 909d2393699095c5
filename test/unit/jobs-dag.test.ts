import t from 'tap';
import type { TaskStatus } from '../../src/framework-sdk/index.js';
import { findCycle, parseJobSpec, retryDelayMs, type JobSpec } from '../../src/frameworks/jobs/job-spec.js';
import { applyStatus, cancelRun, launchable, newRun, overdue, recordLaunch, type Run } from '../../src/frameworks/jobs/run-state.js';

const NOW = 1_700_000_000_000;

function job(input: Record<string, unknown>): JobSpec {
  const r = parseJobSpec(input);
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.field}: ${p.message}`).join('; '));
  return r.spec;
}

/** extract → (clean, enrich) → load */
const diamond = (extra: Record<string, unknown> = {}, taskExtra: Record<string, unknown> = {}) =>
  job({
    id: 'etl',
    ...extra,
    tasks: [
      { id: 'extract', command: 'x', ...taskExtra },
      { id: 'clean', command: 'x', dependsOn: ['extract'], ...taskExtra },
      { id: 'enrich', command: 'x', dependsOn: ['extract'], ...taskExtra },
      { id: 'load', command: 'x', dependsOn: ['clean', 'enrich'], ...taskExtra },
    ],
  });

const states = (run: Run) => Object.fromEntries(run.tasks.map((x) => [x.id, x.state]));
const status = (taskId: string, state: TaskStatus['state'], extra: Partial<TaskStatus> = {}): TaskStatus => ({
  taskId, frameworkId: 'fw', agentId: 'agent-1', state, source: 'AGENT', reason: 'NONE', message: '', timestamp: NOW, ...extra,
});
const where = { agentId: 'agent-1', hostname: 'h1' };

/** Launches the task and drives its attempt to `end` (RUNNING first). */
function attempt(run: Run, task: string, end: TaskStatus['state'], now = NOW, extra: Partial<TaskStatus> = {}): string {
  const a = recordLaunch(run, task, where, now);
  applyStatus(run, status(a.taskId, 'RUNNING'), now);
  applyStatus(run, status(a.taskId, end, extra), now);
  return a.taskId;
}

t.test('parseJobSpec', async (t) => {
  await t.test('fills in the defaults', async (t) => {
    const spec = job({ id: 'one', tasks: [{ id: 'a', command: 'true' }] });
    t.same(spec.tasks[0], { id: 'a', command: 'true', resources: { cpus: 0.1, mem: 32, disk: 0, gpus: 0 }, env: {}, dependsOn: [], retries: 0, backoffSeconds: 1, backoffFactor: 2, maxBackoffSeconds: 60, killGraceSeconds: 3 });
    t.equal(spec.concurrency, 0, 'no limit');
  });
  await t.test('refuses a bad spec naming each field', async (t) => {
    const cases: [string, unknown, string, RegExp][] = [
      ['an unknown field', { id: 'j', tasks: [{ id: 'a', command: 'x' }], parallelism: 2 }, 'parallelism', /unknown field/],
      ['an unknown task field', { id: 'j', tasks: [{ id: 'a', command: 'x', retry: 2 }] }, 'tasks[0].retry', /unknown field/],
      ['no tasks', { id: 'j', tasks: [] }, 'tasks', /at least one task/],
      ['a missing tasks list', { id: 'j' }, 'tasks', /is required/],
      ['a task without image or command', { id: 'j', tasks: [{ id: 'a' }] }, 'tasks[0].command', /required when there is no image/],
      ['a duplicate task id', { id: 'j', tasks: [{ id: 'a', command: 'x' }, { id: 'a', command: 'y' }] }, 'tasks[1].id', /used by another task/],
      ['an unknown dependency', { id: 'j', tasks: [{ id: 'a', command: 'x' }, { id: 'b', command: 'x', dependsOn: ['a', 'c'] }] }, 'tasks[1].dependsOn[1]', /unknown task 'c'/],
      ['a self dependency', { id: 'j', tasks: [{ id: 'a', command: 'x', dependsOn: ['a'] }] }, 'tasks[0].dependsOn[0]', /cannot depend on itself/],
      ['a cycle', { id: 'j', tasks: [{ id: 'a', command: 'x', dependsOn: ['c'] }, { id: 'b', command: 'x', dependsOn: ['a'] }, { id: 'c', command: 'x', dependsOn: ['b'] }] }, 'tasks', /a cycle: a → c → b → a/],
      ['negative retries', { id: 'j', tasks: [{ id: 'a', command: 'x', retries: -1 }] }, 'tasks[0].retries', /must be >= 0/],
      ['a zero timeout', { id: 'j', tasks: [{ id: 'a', command: 'x', timeoutSeconds: 0 }] }, 'tasks[0].timeoutSeconds', /must be > 0/],
      ['a bad task id', { id: 'j', tasks: [{ id: 'a.b', command: 'x' }] }, 'tasks[0].id', /not a task id/],
      ['a bad schedule', { id: 'j', schedule: '61 * * * *', tasks: [{ id: 'a', command: 'x' }] }, 'schedule', /minute: 61 is outside 0-59/],
      ['a schedule that never fires', { id: 'j', schedule: '0 0 30 2 *', tasks: [{ id: 'a', command: 'x' }] }, 'schedule', /never fires/],
      ['a negative concurrency', { id: 'j', concurrency: -1, tasks: [{ id: 'a', command: 'x' }] }, 'concurrency', /must be >= 0/],
      ['zero cpus', { id: 'j', tasks: [{ id: 'a', command: 'x', resources: { cpus: 0 } }] }, 'tasks[0].resources.cpus', /must be > 0/],
    ];
    for (const [what, input, field, message] of cases) {
      const r = parseJobSpec(input);
      const p = r.ok ? undefined : r.problems.find((x) => x.field === field);
      t.ok(p && message.test(p.message), `${what} → ${field}: ${p?.message ?? (r.ok ? 'accepted' : JSON.stringify(r.problems))}`);
    }
  });
  t.equal(findCycle([{ id: 'a', dependsOn: [] }, { id: 'b', dependsOn: ['a'] }]), undefined, 'no cycle in a chain');
  t.equal(retryDelayMs(diamond({}, { backoffSeconds: 1, backoffFactor: 3, maxBackoffSeconds: 5 }).tasks[0]!, 2), 1000, 'first retry waits backoffSeconds');
  t.equal(retryDelayMs(diamond({}, { backoffSeconds: 1, backoffFactor: 3, maxBackoffSeconds: 5 }).tasks[0]!, 3), 3000, 'then × factor');
  t.equal(retryDelayMs(diamond({}, { backoffSeconds: 1, backoffFactor: 3, maxBackoffSeconds: 5 }).tasks[0]!, 4), 5000, 'capped');
});

t.test('a run of a diamond DAG', async (t) => {
  await t.test('starts with the roots, releases each task when all its upstream tasks succeeded', async (t) => {
    const run = newRun(diamond(), 'run-1', 'submit', NOW);
    t.same(states(run), { extract: 'QUEUED', clean: 'WAITING', enrich: 'WAITING', load: 'WAITING' });
    t.same(launchable(run, NOW).map((x) => x.id), ['extract']);
    attempt(run, 'extract', 'FINISHED');
    t.same(launchable(run, NOW).map((x) => x.id), ['clean', 'enrich']);
    attempt(run, 'clean', 'FINISHED');
    t.equal(states(run)['load'], 'WAITING', 'load still waits for enrich');
    attempt(run, 'enrich', 'FINISHED');
    attempt(run, 'load', 'FINISHED');
    t.equal(run.state, 'SUCCEEDED');
    t.equal(run.endedAt, NOW);
  });
  await t.test('retries a failed task after its backoff, then succeeds', async (t) => {
    const run = newRun(diamond({}, { retries: 2, backoffSeconds: 2 }), 'run-2', 'submit', NOW);
    attempt(run, 'extract', 'FAILED', NOW, { exitCode: 3 });
    const extract = run.tasks[0]!;
    t.equal(extract.state, 'QUEUED');
    t.equal(extract.notBefore, NOW + 2000);
    t.match(extract.message, /attempt 1 FAILED \(exit code 3\); retrying/);
    t.same(launchable(run, NOW + 1999), [], 'not before the backoff ends');
    t.same(launchable(run, NOW + 2000).map((x) => x.id), ['extract']);
    attempt(run, 'extract', 'FINISHED', NOW + 2000);
    t.equal(extract.state, 'SUCCEEDED');
    t.equal(extract.attempts.length, 2);
  });
  await t.test('a task failed for good marks everything downstream UPSTREAM_FAILED, and the run FAILED', async (t) => {
    const run = newRun(diamond({}, { retries: 1, backoffSeconds: 0 }), 'run-3', 'submit', NOW);
    attempt(run, 'extract', 'FINISHED');
    attempt(run, 'clean', 'FAILED');
    attempt(run, 'clean', 'FAILED');
    t.equal(states(run)['clean'], 'FAILED');
    t.equal(states(run)['load'], 'UPSTREAM_FAILED');
    t.equal(run.tasks[3]!.message, "upstream task 'clean' failed");
    t.equal(run.state, 'RUNNING', 'enrich may still run');
    attempt(run, 'enrich', 'FINISHED');
    t.equal(run.state, 'FAILED');
  });
  await t.test('a launch that never reached an agent is queued again without using a retry', async (t) => {
    const run = newRun(diamond(), 'run-4', 'submit', NOW);
    const a = recordLaunch(run, 'extract', where, NOW);
    applyStatus(run, status(a.taskId, 'DROPPED', { source: 'MASTER', reason: 'INVALID_OFFER' }), NOW);
    t.equal(states(run)['extract'], 'QUEUED');
    attempt(run, 'extract', 'FINISHED');
    t.equal(states(run)['extract'], 'SUCCEEDED', 'retries 0, yet the second launch ran');
  });
  await t.test('the concurrency limit caps LAUNCHED tasks', async (t) => {
    const run = newRun(job({ id: 'wide', concurrency: 2, tasks: ['a', 'b', 'c', 'd'].map((id) => ({ id, command: 'x' })) }), 'run-5', 'submit', NOW);
    t.same(launchable(run, NOW).map((x) => x.id), ['a', 'b']);
    recordLaunch(run, 'a', where, NOW);
    t.same(launchable(run, NOW).map((x) => x.id), ['b']);
  });
  await t.test('an attempt past its timeout is returned once to be killed, and its KILLED counts as a failure', async (t) => {
    const run = newRun(job({ id: 'slow', tasks: [{ id: 'a', command: 'x', timeoutSeconds: 5 }] }), 'run-6', 'submit', NOW);
    const a = recordLaunch(run, 'a', where, NOW);
    applyStatus(run, status(a.taskId, 'RUNNING'), NOW + 100);
    t.same(overdue(run, NOW + 5000), [], 'not yet: the clock starts at RUNNING');
    t.same(overdue(run, NOW + 5100).map((x) => x.taskId), [a.taskId]);
    t.same(overdue(run, NOW + 6000), [], 'only once');
    applyStatus(run, status(a.taskId, 'KILLED'), NOW + 6000);
    t.equal(states(run)['a'], 'FAILED');
    t.equal(run.tasks[0]!.message, 'attempt 1 timed out after 5 s');
  });
  await t.test('cancel: waiting tasks are CANCELLED at once, running ones when killed', async (t) => {
    const run = newRun(diamond(), 'run-7', 'submit', NOW);
    const a = recordLaunch(run, 'extract', where, NOW);
    applyStatus(run, status(a.taskId, 'RUNNING'), NOW);
    const kill = cancelRun(run, NOW);
    t.same(kill.map((x) => x.taskId), [a.taskId]);
    t.same(states(run), { extract: 'LAUNCHED', clean: 'CANCELLED', enrich: 'CANCELLED', load: 'CANCELLED' });
    t.same(launchable(run, NOW), []);
    applyStatus(run, status(a.taskId, 'KILLED'), NOW);
    t.equal(run.state, 'CANCELLED');
    t.same(cancelRun(run, NOW), [], 'cancelling an ended run is a no-op');
  });
  await t.test('duplicate and late updates change nothing', async (t) => {
    const run = newRun(diamond(), 'run-8', 'submit', NOW);
    const id = attempt(run, 'extract', 'FINISHED');
    t.notOk(applyStatus(run, status(id, 'FINISHED'), NOW), 'a resent terminal update');
    t.notOk(applyStatus(run, status(id, 'RUNNING'), NOW), 'a reconciliation echo');
    t.notOk(applyStatus(run, status('other.task.1', 'RUNNING'), NOW), 'an update of another run');
    t.equal(states(run)['extract'], 'SUCCEEDED');
  });
});
