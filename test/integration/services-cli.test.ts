// `orbit services ...` run in-process through commander (as bin/orbit.js runs it): serve, then
// deploy, list, show, scale, restart, remove against it, and the one-line errors a user sees.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAppSpec } from '../../src/frameworks/services/app-spec.js';
import { freePorts, REPO_ROOT } from '../helpers/cli.js';
import { eventually, startCluster, tempDir } from '../helpers/cluster.js';
import { orbit, serve, servedApi } from '../helpers/commands.js';
import { freePortResource, TCP_SERVER_COMMAND } from '../helpers/frameworks.js';

t.test('the examples are valid app and job specs', async (t) => {
  const redis = parseAppSpec(JSON.parse(readFileSync(join(REPO_ROOT, 'examples/redis-service.json'), 'utf8')));
  t.ok(redis.ok, `examples/redis-service.json: ${redis.ok ? 'valid' : JSON.stringify(redis.problems)}`);
});

t.test('orbit services against a framework it serves', async (t) => {
  const cluster = await startCluster(t, []);
  for (const hostname of ['h1', 'h2']) await cluster.addAgent({ hostname, resources: `cpus:2;mem:2048;${await freePortResource(6)}` });
  const stateDir = tempDir(t, 'orbit-services-cli-');
  const files = tempDir(t, 'orbit-services-specs-');
  const serving = serve(t, ['services', 'serve', '--master', cluster.master.address, '--state-dir', stateDir, '--api-port', '0', '--failover-timeout', '60', '--log-level', 'silent']);
  const api = await eventually('the API address', () => servedApi(serving.out()));
  await eventually('subscribed', () => /subscribed as framework fw-/.test(serving.out()));
  const spec = (name: string, body: unknown): string => {
    const path = join(files, name);
    writeFileSync(path, JSON.stringify(body));
    return path;
  };
  const web = {
    id: 'web', instances: 2, command: TCP_SERVER_COMMAND, ports: 1, resources: { cpus: 0.1, mem: 64 }, constraints: ['hostname:UNIQUE'],
    healthCheck: { type: 'tcp', delaySeconds: 0.1, intervalSeconds: 0.2, timeoutSeconds: 1, gracePeriodSeconds: 10 }, killGraceSeconds: 1,
    upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 },
  };

  await t.test('deploy --wait creates the app and waits until every instance is healthy', async (t) => {
    const r = await orbit(['services', 'deploy', spec('web.json', web), '--api', api, '--wait', '--timeout', '20']);
    t.equal(r.error, undefined, r.error?.message);
    t.match(r.out, /^web: created, version 1 \(2 instances\)\nweb: running, 2\/2 healthy\n$/);
  });

  await t.test('list shows each app with its health', async (t) => {
    const r = await orbit(['services', 'list', '--api', api]);
    t.match(r.out, /^ID\s+STATUS\s+VERSION\s+HEALTHY\s+RUNNING\s+RUNS\nweb\s+running\s+1\s+2\/2\s+2\s+exec /);
  });

  await t.test('show says where each instance runs and its health', async (t) => {
    const r = await orbit(['services', 'show', 'web', '--api', api]);
    t.match(r.out, /^app web: running, version 1, 2\/2 healthy, 2 running/);
    t.match(r.out, /health check: tcp PORT0 every 0.2s/);
    t.match(r.out, /constraints: hostname:UNIQUE/);
    t.match(r.out, /web\.v1-\S+\s+RUNNING\s+healthy\s+h1 \(agent-/);
    t.match(r.out, /web\.v1-\S+\s+RUNNING\s+healthy\s+h2 \(agent-/);
    const json = JSON.parse((await orbit(['services', 'show', 'web', '--api', api, '--json'])).out) as { instanceList: unknown[] };
    t.equal(json.instanceList.length, 2, '--json gives the API document');
  });

  await t.test('scale past what the constraints allow leaves an instance pending, and show says why', async (t) => {
    const r = await orbit(['services', 'scale', 'web', '3', '--api', api]);
    t.equal(r.out, 'web: scaled to 3 instances (version 1)\n');
    const shown = await eventually('reasons', async () => {
      const s = await orbit(['services', 'show', 'web', '--api', api]);
      return /pending: 1 instance\(s\) to launch\n\s+why the last offers did not fit:\n\s+h1 \(agent-\S+\): constraint hostname:UNIQUE: an instance already runs where hostname is h1\n\s+h2 \(agent-\S+\): constraint hostname:UNIQUE/.test(s.out) ? s : undefined;
    }, 10_000, 100);
    t.ok(shown, 'the pending instance names the constraint no offer met');
    t.equal((await orbit(['services', 'scale', 'web', '2', '--api', api, '--wait', '--timeout', '10'])).error, undefined);
  });

  await t.test('restart --wait replaces every instance', async (t) => {
    const before = (JSON.parse((await orbit(['services', 'show', 'web', '--api', api, '--json'])).out) as { instanceList: { taskId: string }[] }).instanceList.map((i) => i.taskId);
    const r = await orbit(['services', 'restart', 'web', '--api', api, '--wait', '--timeout', '20']);
    t.equal(r.error, undefined, r.error?.message);
    t.match(r.out, /^web: rolling restart to version 2\nweb: running, 2\/2 healthy\n/);
    const after = (JSON.parse((await orbit(['services', 'show', 'web', '--api', api, '--json'])).out) as { instanceList: { taskId: string; version: number }[] }).instanceList;
    t.ok(after.every((i) => i.version === 2 && !before.includes(i.taskId)), 'all new instances of version 2');
  });

  await t.test('bad input is one line naming the problem, and changes nothing', async (t) => {
    const [closed] = await freePorts(1);
    const cases: [string[], RegExp][] = [
      [['services', 'deploy', spec('neg.json', { ...web, instances: -1 }), '--api', api], /neg\.json: instances: must be >= 0, got -1$/],
      [['services', 'deploy', spec('unknown.json', { ...web, replicas: 3 }), '--api', api], /unknown\.json: replicas: unknown field/],
      [['services', 'deploy', spec('cons.json', { ...web, constraints: ['rack:GROUP_BY:zero'] }), '--api', api], /constraints\[0\]: GROUP_BY: the group count must be a positive integer/],
      [['services', 'deploy', join(files, 'missing.json'), '--api', api], /cannot read .*missing\.json: no such file/],
      [['services', 'scale', 'nope', '1', '--api', api], /^no app 'nope'$/],
      [['services', 'show', 'web', '--api', `127.0.0.1:${closed}`], new RegExp(`^cannot reach the services framework \\(orbit services serve\\) at http://127\\.0\\.0\\.1:${closed} \\(ECONNREFUSED\\)$`)],
      [['services', 'list', '--api', 'not a host'], /^--api: expected HOST:PORT/],
      [['services', 'serve', '--master', cluster.master.address], /^--state-dir is required/],
      [['services', 'serve', '--master', cluster.master.address, '--state-dir', stateDir, '--api-port', '0'], /state dir .* is in use by process/],
    ];
    writeFileSync(join(files, 'broken.json'), '{ "id": ');
    cases.push([['services', 'deploy', join(files, 'broken.json'), '--api', api], /broken\.json: not valid JSON/]);
    for (const [args, message] of cases) {
      const r = await orbit(args);
      t.equal(r.error?.name, 'UsageError', `${args.slice(0, 2).join(' ')}: a UsageError (one line, exit 1)`);
      t.match(r.error?.message ?? '', message, r.error?.message);
      t.notOk(r.error?.message.includes('\n'), 'one line');
    }
    const list = await orbit(['services', 'list', '--api', api]);
    t.equal(list.out.trim().split('\n').length, 2, 'still one app');
  });

  await t.test('remove kills the instances and forgets the app; serve stops on SIGTERM', async (t) => {
    t.equal((await orbit(['services', 'remove', 'web', '--api', api])).out, 'web: removing (its instances are being killed)\n');
    await eventually('no apps', async () => (await orbit(['services', 'list', '--api', api])).out === 'no apps\n', 10_000, 100);
    const done = await serving.stop();
    t.equal(done.error, undefined, 'serve ended cleanly');
  });
});
