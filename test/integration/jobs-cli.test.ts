// `orbit jobs ...` run in-process through commander (as bin/orbit.js runs it): serve, then submit
// the example pipeline, status, logs (read from the agent), runs, cancel, and scheduled jobs.
import t from 'tap';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseJobSpec } from '../../src/frameworks/jobs/job-spec.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { eventually, startCluster, tempDir } from '../helpers/cluster.js';
import { orbit, serve, servedApi } from '../helpers/commands.js';

const example = JSON.parse(readFileSync(join(REPO_ROOT, 'examples/pipeline.json'), 'utf8')) as { env: Record<string, string> };

t.test('examples/pipeline.json is a valid job', async (t) => {
  const r = parseJobSpec(example);
  t.ok(r.ok, r.ok ? 'valid' : JSON.stringify(r.problems));
});

t.test('orbit jobs against a framework it serves', async (t) => {
  const cluster = await startCluster(t, [{ hostname: 'h1' }]);
  const stateDir = tempDir(t, 'orbit-jobs-cli-');
  const files = tempDir(t, 'orbit-jobs-specs-');
  const work = tempDir(t, 'orbit-jobs-work-');
  // The tasks run as nobody (the agent's default task user) and share files here.
  chmodSync(work, 0o777);
  const serving = serve(t, ['jobs', 'serve', '--master', cluster.master.address, '--state-dir', stateDir, '--api-port', '0', '--failover-timeout', '60', '--log-level', 'silent']);
  const api = await eventually('the API address', () => servedApi(serving.out()));
  const spec = (name: string, body: unknown): string => {
    const path = join(files, name);
    writeFileSync(path, JSON.stringify(body));
    return path;
  };
  const master = cluster.master.address;
  let runId = '';

  await t.test('submit --wait runs the example pipeline, prints the run id and each task', async (t) => {
    const r = await orbit(['jobs', 'submit', spec('pipeline.json', { ...example, env: { WORK: work } }), '--api', api, '--wait', '--timeout', '30']);
    t.equal(r.error, undefined, r.error?.message);
    const lines = r.out.split('\n');
    runId = lines[0]!;
    t.match(runId, /^numbers-[a-z0-9]{12}$/, 'the first line is the run id');
    t.match(r.out, new RegExp(`run ${runId} of job numbers: SUCCEEDED`));
    t.match(r.out, /TASK\s+STATE\s+ATTEMPTS\s+DURATION\s+HOST\s+MESSAGE\nextract\s+SUCCEEDED\s+1\/1\s+\S+\s+h1\s+finished in attempt 1\ntransform\s+SUCCEEDED\s+1\/3\s+\S+\s+h1\s+finished in attempt 1\nload\s+SUCCEEDED\s+1\/1/);
    t.equal(readFileSync(join(work, 'sum'), 'utf8'), '5050\n');
  });

  await t.test("status shows each task's state, attempts and duration", async (t) => {
    const r = await orbit(['jobs', 'status', runId, '--api', api]);
    t.match(r.out, /^run \S+ of job numbers: SUCCEEDED, started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, took \d/);
    const json = JSON.parse((await orbit(['jobs', 'status', runId, '--api', api, '--json'])).out) as { tasks: { id: string; attempts: { taskId: string }[] }[] };
    t.same(json.tasks.map((x) => x.attempts[0]?.taskId), [`${runId}.extract.1`, `${runId}.transform.1`, `${runId}.load.1`], '--json gives every attempt with its Orbit task id');
  });

  await t.test("logs prints a task's output from the agent it ran on", async (t) => {
    const r = await orbit(['jobs', 'logs', runId, 'transform', '--api', api, '--master', master]);
    t.equal(r.error, undefined, r.error?.message);
    t.equal(r.out, 'sum: 5050\n');
    const first = await orbit(['jobs', 'logs', runId, 'extract', '--attempt', '1', '--api', api, '--master', master]);
    t.equal(first.out, 'extracted 100 numbers\n');
    const bad = await orbit(['jobs', 'logs', runId, 'nope', '--api', api, '--master', master]);
    t.match(bad.error?.message, /has no task 'nope' \(tasks: extract, transform, load\)/);
    const stderr = await orbit(['jobs', 'logs', (await orbit(['jobs', 'submit', spec('err.json', { id: 'err', tasks: [{ id: 'a', command: 'echo oops >&2; exit 2' }] }), '--api', api, '--wait'])).out.split('\n')[0]!, 'a', '--api', api, '--master', master]);
    t.equal(stderr.err, 'oops\n', 'stderr goes to stderr');
  });

  await t.test('runs lists the runs, newest first', async (t) => {
    const r = await orbit(['jobs', 'runs', '--api', api]);
    t.match(r.out, /^RUN\s+JOB\s+STATE\s+TASKS\s+STARTED\s+TOOK\nerr-\S+\s+err\s+FAILED\s+1 failed\s+.*\nnumbers-\S+\s+numbers\s+SUCCEEDED\s+3 succeeded/);
  });

  await t.test('cancel stops a running run: what waits never starts, what runs is killed', async (t) => {
    const long = await orbit(['jobs', 'submit', spec('long.json', { id: 'long', tasks: [{ id: 'wait', command: 'sleep 30', killGraceSeconds: 0.2 }, { id: 'after', command: 'true', dependsOn: ['wait'] }] }), '--api', api]);
    const id = long.out.trim();
    await eventually('wait running', async () => /wait\s+LAUNCHED/.test((await orbit(['jobs', 'status', id, '--api', api])).out), 10_000, 100);
    t.match((await orbit(['jobs', 'cancel', id, '--api', api])).out, new RegExp(`^${id}: (cancelling|CANCELLED)`));
    const status = await eventually('cancelled', async () => {
      const s = await orbit(['jobs', 'status', id, '--api', api]);
      return /: CANCELLED/.test(s.out) ? s : undefined;
    }, 10_000, 100);
    t.match(status.out, /wait\s+CANCELLED\s+1\/1/);
    t.match(status.out, /after\s+CANCELLED\s+0\/1/);
  });

  await t.test('a scheduled job is listed, can be triggered now and unscheduled', async (t) => {
    const r = await orbit(['jobs', 'submit', spec('nightly.json', { id: 'nightly', schedule: '0 3 * * *', tasks: [{ id: 'a', command: 'true' }] }), '--api', api]);
    t.match(r.out, /^nightly: scheduled '0 3 \* \* \*', next run at \d{4}-\d\d-\d\d \d\d:00:00\n$/);
    t.match((await orbit(['jobs', 'runs', '--api', api])).out, /^SCHEDULED JOB\s+SCHEDULE\s+NEXT RUN\s+LAST RUN\nnightly\s+0 3 \* \* \*/);
    const triggered = await orbit(['jobs', 'trigger', 'nightly', '--api', api]);
    t.match(triggered.out, /^nightly-[a-z0-9]{12}\n$/);
    t.equal((await orbit(['jobs', 'unschedule', 'nightly', '--api', api])).out, 'nightly: unscheduled\n');
    t.notMatch((await orbit(['jobs', 'runs', '--api', api])).out, /SCHEDULED JOB/);
  });

  await t.test('bad input is one line naming the problem', async (t) => {
    const cases: [string[], RegExp][] = [
      [['jobs', 'submit', spec('cycle.json', { id: 'c', tasks: [{ id: 'a', command: 'x', dependsOn: ['b'] }, { id: 'b', command: 'x', dependsOn: ['a'] }] }), '--api', api], /cycle\.json: tasks: the dependencies form a cycle: a → b → a$/],
      [['jobs', 'submit', spec('dep.json', { id: 'd', tasks: [{ id: 'a', command: 'x', dependsOn: ['ghost'] }] }), '--api', api], /tasks\[0\]\.dependsOn\[0\]: unknown task 'ghost'/],
      [['jobs', 'status', 'no-such-run', '--api', api], /^no run 'no-such-run'$/],
      [['jobs', 'submit', spec('fail.json', { id: 'f', tasks: [{ id: 'a', command: 'exit 1' }] }), '--api', api, '--wait'], /^run f-\S+ FAILED$/],
      [['jobs', 'serve', '--master', master], /^--state-dir is required/],
    ];
    for (const [args, message] of cases) {
      const r = await orbit(args);
      t.equal(r.error?.name, 'UsageError', `${args.slice(0, 2).join(' ')} → UsageError`);
      t.match(r.error?.message ?? '', message, r.error?.message);
    }
  });

  await t.test('serve stops on SIGTERM', async (t) => {
    t.equal((await serving.stop()).error, undefined);
  });
});
