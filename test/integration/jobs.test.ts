// The jobs framework against a real master and two process agents in this process: a DAG run end
// to end, retries with backoff, upstream failures, timeouts, the concurrency limit, cancel, a cron
// schedule, refused specs, and a restart of the framework in the middle of a run.
import t from 'tap';
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../src/framework-sdk/index.js';
import { JobsFramework, type JobsFrameworkOptions } from '../../src/frameworks/jobs/jobs-framework.js';
import { startJobsApi } from '../../src/frameworks/jobs/jobs-api.js';
import type { Run } from '../../src/frameworks/jobs/run-state.js';
import { eventually, startCluster, tempDir, type TestLike } from '../helpers/cluster.js';

const FAST = { tickMs: 50, pendingRefuseSeconds: 0.2, idleRefuseSeconds: 5, killResendMs: 2_000, reconnectBaseMs: 50, reconnectMaxMs: 500, failoverTimeoutMs: 60_000 };

async function startJobs(t: TestLike, master: string, stateDir: string, options: Partial<JobsFrameworkOptions> = {}) {
  const fw = new JobsFramework({ master, stateDir, ...FAST, ...options });
  const api = await startJobsApi(fw, '127.0.0.1', 0);
  t.teardown(async () => {
    fw.stop();
    await api.close();
  });
  await fw.start();
  return { fw, api };
}

const ended = (fw: JobsFramework, runId: string, timeoutMs = 20_000): Promise<Run> =>
  eventually(`run ${runId} to end`, () => {
    const r = fw.run(runId);
    return r.state === 'RUNNING' ? undefined : r;
  }, timeoutMs, 25);
const states = (run: Run) => Object.fromEntries(run.tasks.map((x) => [x.id, x.state]));

t.test('the jobs framework on a master and two agents', async (t) => {
  const cluster = await startCluster(t, [{ hostname: 'h1' }, { hostname: 'h2' }]);
  const stateDir = tempDir(t, 'orbit-jobs-');
  const work = tempDir(t, 'orbit-jobs-work-');
  // The tasks run as nobody (the agents' default task user) and share files here.
  chmodSync(work, 0o777);
  let { fw, api } = await startJobs(t, cluster.master.address, stateDir);

  await t.test('a three-step pipeline runs in dependency order and succeeds', async (t) => {
    const { runId } = fw.submit({
      id: 'pipeline',
      env: { WORK: work },
      tasks: [
        { id: 'extract', command: 'printf "a\\nb\\nc\\n" > "$WORK/raw"; echo extracted' },
        { id: 'transform', command: 'tr a-z A-Z < "$WORK/raw" > "$WORK/clean"', dependsOn: ['extract'] },
        { id: 'load', command: 'wc -l < "$WORK/clean" > "$WORK/count"; cat "$WORK/clean"', dependsOn: ['transform'] },
      ],
    });
    t.match(runId, /^pipeline-/);
    const run = await ended(fw, runId!);
    t.equal(run.state, 'SUCCEEDED');
    t.same(states(run), { extract: 'SUCCEEDED', transform: 'SUCCEEDED', load: 'SUCCEEDED' });
    t.equal(readFileSync(join(work, 'clean'), 'utf8'), 'A\nB\nC\n');
    t.equal(readFileSync(join(work, 'count'), 'utf8').trim(), '3');
    const [extract, transform, load] = run.tasks.map((x) => x.attempts[0]!);
    t.ok(extract!.endedAt! <= transform!.launchedAt && transform!.endedAt! <= load!.launchedAt, 'each step launched after the one before ended');
    t.ok(run.tasks.every((x) => x.attempts.length === 1 && x.attempts[0]!.exitCode === 0), 'one attempt each, exit code 0');
  });

  await t.test('a failed task is retried after its backoff', async (t) => {
    const { runId } = fw.submit({
      id: 'flaky',
      tasks: [{ id: 'once', command: `if [ -f '${work}/tried' ]; then echo ok; else touch '${work}/tried'; exit 7; fi`, retries: 2, backoffSeconds: 0.3 }],
    });
    const run = await ended(fw, runId!);
    t.equal(run.state, 'SUCCEEDED');
    const [first, second] = run.tasks[0]!.attempts;
    t.equal(first?.state, 'FAILED');
    t.equal(first?.exitCode, 7);
    t.equal(second?.state, 'FINISHED');
    t.ok(second!.launchedAt - first!.endedAt! >= 300, `the retry waited the backoff (${second!.launchedAt - first!.endedAt!} ms)`);
  });

  await t.test('a task failed for good marks its downstream UPSTREAM_FAILED and the run FAILED', async (t) => {
    const { runId } = fw.submit({
      id: 'broken',
      tasks: [
        { id: 'a', command: 'true' },
        { id: 'b', command: 'exit 1', dependsOn: ['a'], retries: 1, backoffSeconds: 0 },
        { id: 'c', command: 'true', dependsOn: ['b'] },
        { id: 'd', command: 'true', dependsOn: ['c'] },
        { id: 'side', command: 'true', dependsOn: ['a'] },
      ],
    });
    const run = await ended(fw, runId!);
    t.equal(run.state, 'FAILED');
    t.same(states(run), { a: 'SUCCEEDED', b: 'FAILED', c: 'UPSTREAM_FAILED', d: 'UPSTREAM_FAILED', side: 'SUCCEEDED' });
    t.equal(run.tasks[1]!.attempts.length, 2, 'b was tried twice');
    t.same(run.tasks.filter((x) => x.state === 'UPSTREAM_FAILED').flatMap((x) => x.attempts), [], 'nothing downstream was launched');
  });

  await t.test('an attempt past its timeout is killed and fails', async (t) => {
    const { runId } = fw.submit({ id: 'slow', tasks: [{ id: 'sleepy', command: 'sleep 30', timeoutSeconds: 0.5, killGraceSeconds: 0.2 }] });
    const started = Date.now();
    const run = await ended(fw, runId!, 10_000);
    t.equal(run.state, 'FAILED');
    t.equal(run.tasks[0]!.message, 'attempt 1 timed out after 0.5 s');
    t.equal(run.tasks[0]!.attempts[0]!.state, 'KILLED');
    t.ok(Date.now() - started < 8_000, 'it did not run its 30 s');
  });

  await t.test('the concurrency limit holds: never more than 2 tasks of the run at once', async (t) => {
    let most = 0;
    const { runId } = fw.submit({ id: 'wide', concurrency: 2, tasks: ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, command: 'sleep 0.3' })) });
    const sample = () => {
      most = Math.max(most, fw.run(runId!).tasks.filter((x) => x.state === 'LAUNCHED').length);
    };
    fw.on('changed', sample);
    const run = await ended(fw, runId!);
    fw.off('changed', sample);
    t.equal(run.state, 'SUCCEEDED');
    t.equal(most, 2, 'two at a time, and it used both slots');
    // The attempts' own times agree: at no launch were two others still running.
    const spans = run.tasks.map((x) => [x.attempts[0]!.launchedAt, x.attempts[0]!.endedAt!] as const);
    for (const [start] of spans) t.ok(spans.filter(([s, e]) => s <= start && e > start).length <= 2, 'at most 2 overlap');
  });

  await t.test('cancel kills what runs and cancels what waits', async (t) => {
    const { runId } = fw.submit({ id: 'long', tasks: [{ id: 'first', command: 'sleep 30', killGraceSeconds: 0.2 }, { id: 'second', command: 'true', dependsOn: ['first'] }] });
    await eventually('first running', () => fw.run(runId!).tasks[0]!.attempts[0]?.state === 'RUNNING');
    const res = await fetch(`${api.url}/v1/runs/${runId}/cancel`, { method: 'POST' });
    t.equal(res.status, 200);
    const run = await ended(fw, runId!, 10_000);
    t.equal(run.state, 'CANCELLED');
    t.same(states(run), { first: 'CANCELLED', second: 'CANCELLED' });
    t.equal(run.tasks[0]!.attempts[0]!.state, 'KILLED');
  });

  await t.test('a bad spec is refused naming the field, and no run starts', async (t) => {
    const before = fw.listRuns().length;
    const cases: [unknown, RegExp][] = [
      [{ id: 'bad', tasks: [{ id: 'a', command: 'x', dependsOn: ['b'] }, { id: 'b', command: 'x', dependsOn: ['a'] }] }, /^tasks: the dependencies form a cycle: a → b → a/],
      [{ id: 'bad', tasks: [{ id: 'a', command: 'x', dependsOn: ['nope'] }] }, /^tasks\[0\]\.dependsOn\[0\]: unknown task 'nope'/],
      [{ id: 'bad', tasks: [{ id: 'a', command: 'x', retries: -1 }] }, /^tasks\[0\]\.retries: must be >= 0/],
    ];
    for (const [spec, message] of cases) {
      const res = await fetch(`${api.url}/v1/jobs`, { method: 'POST', body: JSON.stringify(spec) });
      const body = (await res.json()) as { error: string };
      t.equal(res.status, 422);
      t.match(body.error, message);
    }
    t.equal(fw.listRuns().length, before, 'no run was added');
  });

  await t.test('survives its own restart in the middle of a run, which then finishes', async (t) => {
    const { runId } = fw.submit({ id: 'across', tasks: [{ id: 'a', command: 'sleep 1' }, { id: 'b', command: 'true', dependsOn: ['a'] }] });
    await eventually('a running', () => fw.run(runId!).tasks[0]!.attempts[0]?.state === 'RUNNING');
    const frameworkId = fw.id;
    fw.stop();
    await api.close();
    ({ fw, api } = await startJobs(t, cluster.master.address, stateDir));
    t.equal(fw.id, frameworkId, 'the same framework id');
    const run = await ended(fw, runId!);
    t.equal(run.state, 'SUCCEEDED');
    t.equal(run.tasks[0]!.attempts.length, 1, 'the running attempt was kept, not relaunched');
    t.ok(fw.listRuns().some((r) => r.jobId === 'pipeline' && r.state === 'SUCCEEDED'), 'earlier run outcomes were persisted');
  });

  await t.test('a cron schedule fires runs at each minute, and unscheduling stops it', async (t) => {
    // A clock 400 ms before the next minute boundary: the schedule fires almost at once.
    const offset = 60_000 - (Date.now() % 60_000) - 400 + 60_000;
    const clock: Clock = { now: () => Date.now() + offset, setTimer: systemClock.setTimer, setRepeating: systemClock.setRepeating };
    fw.stop();
    await api.close();
    ({ fw, api } = await startJobs(t, cluster.master.address, stateDir, { clock }));
    const outcome = fw.submit({ id: 'tick', schedule: '* * * * *', tasks: [{ id: 'say', command: 'echo tick' }] });
    t.equal(outcome.runId, undefined, 'a scheduled job does not run at submit');
    t.equal(outcome.nextRunAt! - clock.now() <= 1_000, true, 'the next fire is at the coming minute');
    const run = await eventually('a scheduled run', () => fw.listRuns().find((r) => r.jobId === 'tick'), 5_000);
    t.equal(run.trigger, 'schedule');
    t.equal((await ended(fw, run.runId)).state, 'SUCCEEDED');
    t.equal(fw.scheduled()[0]?.nextRunAt, outcome.nextRunAt! + 60_000, 'the next fire is a minute later');
    fw.unschedule('tick');
    t.same(fw.scheduled(), []);
  });
});
