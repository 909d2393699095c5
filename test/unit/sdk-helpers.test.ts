import t from 'tap';
import {
  buildTask,
  checkFit,
  formatResources,
  offerFits,
  parseResources,
  ResourceParseError,
  takeResources,
  type Offer,
} from '../../src/framework-sdk/index.js';

const offer = (resources: string, role = '*'): Offer => ({
  id: 'offer-1',
  frameworkId: 'fw-1',
  agentId: 'agent-1',
  hostname: 'host-1',
  role,
  resources: parseResources(resources),
  attributes: [],
});

/** takeResources as text, or undefined when nothing fits. */
const take = (from: string, request: string, role?: string, offerRole = '*'): string | undefined => {
  const taken = takeResources(offer(from, offerRole), request, role);
  return taken && formatResources(taken);
};

t.test('takeResources', async (t) => {
  const cases: [string, string, string, string | undefined, string?][] = [
    // [behaviour, offer, request, taken, role]
    ['takes scalars from unreserved resources', 'cpus:4;mem:1024', 'cpus:0.5;mem:128', 'cpus:0.5;mem:128'],
    ['takes any N ports, lowest first', 'cpus:1;ports:[31000-31002,31010-31020]', 'ports:4', 'ports:[31000-31002,31010-31010]'],
    ['takes exactly the ports asked for', 'ports:[31000-32000]', 'ports:[31500-31501]', 'ports:[31500-31501]'],
    ['takes exact ports and then a count from what is left', 'ports:[1-5]', 'ports:[1-2];ports:2', 'ports:[1-4]'],
    ['returns nothing when memory is short', 'cpus:4;mem:64', 'cpus:1;mem:128', undefined],
    ['returns nothing when there are fewer free ports', 'ports:[1-3]', 'ports:4', undefined],
    ['returns nothing when an exact port is missing', 'ports:[1-3]', 'ports:[3-4]', undefined],
    ['returns nothing for a resource the offer lacks', 'cpus:1', 'gpus:1', undefined],
    ['takes from the role reservation first, then unreserved', 'cpus:2;cpus(a):1', 'cpus:1.5', 'cpus:0.5;cpus(a):1', 'a'],
    ['ignores reservations without a role', 'cpus:1;cpus(a):4', 'cpus:2', undefined],
    ['serves a reserved request only from that role', 'cpus:8;cpus(a):1', 'cpus(a):2', undefined, 'a'],
    ['takes ports from the role reservation first', 'ports:[10-20];ports(a):[30-30]', 'ports:2', 'ports:[10-10];ports(a):[30-30]', 'a'],
    ['takes nothing for an empty request', 'cpus:1', '', ''],
  ];
  for (const [name, from, request, want, role] of cases) {
    t.equal(take(from, request, role), want, name);
  }
  t.equal(take('cpus:2;cpus(a):1', 'cpus:1.5', undefined, 'a'), 'cpus:0.5;cpus(a):1', "defaults the role to the offer's");
  t.equal(formatResources(takeResources(parseResources('cpus:1;mem:64'), 'mem:32') ?? []), 'mem:32', 'takes from a plain resource list');
  t.throws(() => takeResources(offer('cpus:1'), 'cpus:abc'), ResourceParseError, 'refuses a malformed request');
});

t.test('checkFit and offerFits', async (t) => {
  t.same(checkFit(offer('cpus:1;mem:64;ports:[1-2]'), 'cpus:0.5;mem:32;ports:2'), { ok: true }, 'says ok when everything fits');
  t.same(
    checkFit(offer('cpus:1;mem:64;ports:[1-2]'), 'cpus:2;mem:32;ports:3'),
    {
      ok: false,
      reasons: [
        { resource: 'cpus', requested: 2, available: 1 },
        { resource: 'ports', requested: 3, available: 2 },
      ],
    },
    'names every resource that is short, port counts as counts',
  );
  t.same(
    checkFit(offer('ports:[1-2]'), 'ports:[2-3]'),
    { ok: false, reasons: [{ resource: 'ports', requested: '[2-3]', available: '[1-2]' }] },
    'shows exact ports as ranges',
  );
  t.ok(offerFits(offer('cpus:1;mem:64'), 'cpus:1;mem:64'), 'fits an exact match');
  t.notOk(offerFits(offer('cpus:1;mem:64'), 'cpus:1.001'), 'does not fit a little more');
});

t.test('buildTask', async (t) => {
  const o = offer('cpus:1;mem:64');
  const task = buildTask({ offer: o, resources: 'cpus:0.5;mem:32', command: 'echo hi && sleep 1' });
  t.match(task.taskId, /^task-[0-9a-z]{12}$/, 'makes a task id when none is given');
  t.equal(task.name, task.taskId, 'names the task after its id');
  t.equal(task.agentId, 'agent-1', "places it on the offer's agent");
  t.equal(formatResources(task.resources), 'cpus:0.5;mem:32', 'parses resources given as text');
  t.same(task.command, { shell: true, value: 'echo hi && sleep 1', arguments: [], env: {} }, 'runs a bare command under the shell');
  t.same(task.container, { kind: 'process' }, 'runs a process when there is no image');
  t.equal(task.killGraceMs, 3000, 'uses the default kill grace');
  t.same(task.labels, {}, 'has no labels');
  t.notOk(task.healthCheck, 'has no health check');

  const argv = buildTask({ agentId: 'agent-2', taskId: 't1', resources: [], command: 'sleep', args: ['5'], env: { A: '1' } });
  t.same(argv.command, { shell: false, value: 'sleep', arguments: ['5'], env: { A: '1' } }, 'runs a command with args as argv');

  const docker = buildTask({ offer: o, resources: [], image: 'busybox', killGraceMs: 100, labels: { app: 'x' } });
  t.same(docker.container, { kind: 'docker', image: 'busybox' }, 'runs a container when given an image');
  t.same(docker.command, { shell: false, value: '', arguments: [], env: {} }, "leaves the image's own command");
  t.equal(docker.killGraceMs, 100, 'takes the kill grace');
  t.same(docker.labels, { app: 'x' }, 'takes the labels');

  const checked = buildTask({ offer: o, resources: [], command: 'srv', healthCheck: { type: 'http', port: 8080 } });
  t.same(
    checked.healthCheck,
    { type: 'http', port: 8080, path: '/', delayMs: 15_000, intervalMs: 10_000, timeoutMs: 20_000, consecutiveFailures: 3, gracePeriodMs: 0 },
    'fills health check defaults',
  );

  t.throws(() => buildTask({ resources: [], command: 'x' }), RangeError, 'refuses a task without an agent');
  t.throws(() => buildTask({ offer: o, resources: [], command: 'x', image: 'i', process: true }), RangeError, 'refuses image with process');
  t.throws(() => buildTask({ offer: o, resources: [] }), RangeError, 'refuses a process without a command');
  t.throws(() => buildTask({ offer: o, resources: [], command: 'x', taskId: 'bad id' }), RangeError, 'refuses an invalid task id');
});
