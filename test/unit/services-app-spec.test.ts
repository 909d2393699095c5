import t from 'tap';
import { parseAppSpec, resourceRequest, sameRunConfig, strategyProblem, upgradeBounds, type AppSpec } from '../../src/frameworks/services/app-spec.js';
import { launchDelayMs } from '../../src/frameworks/services/restart-backoff.js';

const base = { id: 'web', instances: 2, command: 'sleep 600' };
const valid = (input: unknown): AppSpec => {
  const r = parseAppSpec(input);
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.field}: ${p.message}`).join('; '));
  return r.spec;
};

t.test('a minimal spec gets the documented defaults', async (t) => {
  const spec = valid({ id: 'web', command: 'sleep 600' });
  t.equal(spec.instances, 1);
  t.same(spec.resources, { cpus: 0.1, mem: 32, disk: 0, gpus: 0 });
  t.equal(spec.ports, 0);
  t.equal(spec.killGraceSeconds, 3);
  t.same([spec.backoffSeconds, spec.backoffFactor, spec.maxLaunchDelaySeconds], [1, 1.15, 300], "Marathon's backoff");
  t.same(spec.upgradeStrategy, { minimumHealthCapacity: 1, maximumOverCapacity: 1 }, "Marathon's upgrade strategy");
  t.same(spec.constraints, []);
  t.equal(resourceRequest(spec), 'cpus:0.1;mem:32');
});

t.test('a full spec is read field by field', async (t) => {
  const spec = valid({
    id: 'redis',
    instances: 3,
    image: 'orbit-test/redis:latest',
    command: 'redis-server --port $PORT0',
    resources: { cpus: 0.25, mem: 128, disk: 10 },
    ports: 2,
    env: { MODE: 'cache' },
    labels: { team: 'data' },
    healthCheck: { type: 'tcp', portIndex: 1, delaySeconds: 0.5, intervalSeconds: 0.5, timeoutSeconds: 1, maxConsecutiveFailures: 2 },
    constraints: ['hostname:UNIQUE', ['rack', 'GROUP_BY', '2']],
    killGraceSeconds: 1,
    backoffSeconds: 0.1,
    backoffFactor: 2,
    maxLaunchDelaySeconds: 5,
    upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 },
  });
  t.equal(resourceRequest(spec), 'cpus:0.25;mem:128;disk:10;ports:2');
  t.same(spec.constraints, ['hostname:UNIQUE', 'rack:GROUP_BY:2']);
  t.match(spec.healthCheck, { type: 'tcp', portIndex: 1, delaySeconds: 0.5, timeoutSeconds: 1, maxConsecutiveFailures: 2, gracePeriodSeconds: 0 });
  t.equal(valid({ ...base, resources: 'cpus:0.5;mem:64' }).resources.mem, 64, 'resources may be in the text form');
  t.equal(valid({ ...base, ports: 1, healthCheck: { type: 'http' } }).healthCheck?.path, '/', 'an http check defaults to / on PORT0');
});

t.test('a bad spec is refused with every problem naming its field', async (t) => {
  // [behaviour, spec, field, message]
  const cases: [string, unknown, string, RegExp][] = [
    ['not an object', [1, 2], '(spec)', /expected an object/],
    ['an unknown top-level field', { ...base, instance: 3 }, 'instance', /unknown field/],
    ['a missing id', { command: 'x' }, 'id', /is required/],
    ['an id with capitals', { ...base, id: 'Web' }, 'id', /not an app id/],
    ['negative instances', { ...base, instances: -1 }, 'instances', /must be >= 0, got -1/],
    ['fractional instances', { ...base, instances: 1.5 }, 'instances', /integer/],
    ['instances as a string', { ...base, instances: '2' }, 'instances', /expected a number, got a string/],
    ['neither image nor command', { id: 'web' }, 'command', /required when there is no image/],
    ['an unknown resource', { ...base, resources: { cpus: 1, ram: 10 } }, 'resources.ram', /unknown field/],
    ['zero cpus', { ...base, resources: { cpus: 0 } }, 'resources', /cpus must be > 0/],
    ['ports in the resource text', { ...base, resources: 'cpus:1;ports:[1-2]' }, 'resources', /ports are asked for with "ports"/],
    ['a bad env name', { ...base, env: { 'A-B': 'x' } }, 'env.A-B', /environment variable name/],
    ['an env value that is not a string', { ...base, env: { A: 1 } }, 'env.A', /expected a string/],
    ['a health check of an unknown type', { ...base, healthCheck: { type: 'udp' } }, 'healthCheck.type', /not one of command, http, tcp/],
    ['an unknown health check field', { ...base, healthCheck: { type: 'command', command: 'true', interval: 3 } }, 'healthCheck.interval', /unknown field/],
    ['a tcp check without ports', { ...base, healthCheck: { type: 'tcp' } }, 'healthCheck.portIndex', /the app has none/],
    ['a port index past the ports', { ...base, ports: 1, healthCheck: { type: 'tcp', portIndex: 1 } }, 'healthCheck.portIndex', /only 1 port/],
    ['a command check without a command', { ...base, healthCheck: { type: 'command' } }, 'healthCheck.command', /is required/],
    ['a zero check interval', { ...base, healthCheck: { type: 'command', command: 'true', intervalSeconds: 0 } }, 'healthCheck.intervalSeconds', /must be > 0/],
    ['a bad constraint operator', { ...base, constraints: ['hostname:SOMETIMES'] }, 'constraints[0]', /unknown operator/],
    ['a MAX_PER of zero', { ...base, constraints: ['hostname:UNIQUE', 'rack:MAX_PER:0'] }, 'constraints[1]', /positive integer/],
    ['impossible constraints', { ...base, constraints: ['hostname:CLUSTER:a', 'hostname:UNIQUE'] }, 'constraints', /allows only 1 instance, not 2/],
    ['constraints not a list', { ...base, constraints: 'hostname:UNIQUE' }, 'constraints', /expected an array/],
    ['a backoff factor below 1', { ...base, backoffFactor: 0.5 }, 'backoffFactor', /must be >= 1/],
    ['a max launch delay below the backoff', { ...base, backoffSeconds: 10, maxLaunchDelaySeconds: 5 }, 'maxLaunchDelaySeconds', /below backoffSeconds/],
    ['a health capacity above 1', { ...base, upgradeStrategy: { minimumHealthCapacity: 1.5 } }, 'upgradeStrategy.minimumHealthCapacity', /must be <= 1/],
    ['an unknown strategy field', { ...base, upgradeStrategy: { minHealth: 1 } }, 'upgradeStrategy.minHealth', /unknown field/],
    ['a strategy that can never replace an instance', { ...base, upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 0 } }, 'upgradeStrategy', /no instance could ever be replaced/],
  ];
  for (const [what, input, field, message] of cases) {
    const r = parseAppSpec(input);
    if (r.ok) {
      t.fail(`${what}: accepted`);
      continue;
    }
    const p = r.problems.find((x) => x.field === field);
    t.ok(p && message.test(p.message), `${what} → ${field}: ${p?.message ?? JSON.stringify(r.problems)}`);
  }
});

t.test('every problem is reported at once', async (t) => {
  const r = parseAppSpec({ id: 'X', instances: -2, bogus: true, constraints: ['nope'] });
  t.notOk(r.ok);
  if (!r.ok) t.same(r.problems.map((p) => p.field).sort(), ['bogus', 'command', 'constraints[0]', 'id', 'instances']);
});

t.test('upgradeBounds and strategyProblem', async (t) => {
  t.same(upgradeBounds(4, { minimumHealthCapacity: 0.5, maximumOverCapacity: 0.5 }), { minHealthy: 2, maxTotal: 6 });
  t.same(upgradeBounds(3, { minimumHealthCapacity: 0.67, maximumOverCapacity: 0 }), { minHealthy: 3, maxTotal: 3 }, 'ceil(3 × 0.67) = 3');
  t.same(upgradeBounds(1, { minimumHealthCapacity: 1, maximumOverCapacity: 0.1 }), { minHealthy: 1, maxTotal: 2 }, 'any over-capacity above 0 allows at least one extra');
  t.same(upgradeBounds(2, { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 }), { minHealthy: 1, maxTotal: 2 });
  t.match(strategyProblem(3, { minimumHealthCapacity: 0.9, maximumOverCapacity: 0 }), /no instance could ever be replaced/);
  t.equal(strategyProblem(20, { minimumHealthCapacity: 0.9, maximumOverCapacity: 0 }), undefined, '18 of 20 leaves room for 2');
  t.equal(strategyProblem(0, { minimumHealthCapacity: 1, maximumOverCapacity: 0 }), undefined, 'nothing to replace at 0 instances');
});

t.test("launchDelayMs is Marathon's backoff: 1 s × 1.15^(n-1) capped at 300 s", async (t) => {
  const p = { backoffSeconds: 1, backoffFactor: 1.15, maxLaunchDelaySeconds: 300 };
  t.equal(launchDelayMs(0, p), 0, 'no failure, no delay');
  t.equal(launchDelayMs(1, p), 1000);
  t.equal(launchDelayMs(2, p), 1150);
  t.equal(launchDelayMs(3, p), 1322);
  t.equal(launchDelayMs(42, p), 300_000, 'capped (1.15^41 s > 300 s)');
  t.equal(launchDelayMs(1_000_000, p), 300_000, 'no overflow');
});

t.test('sameRunConfig ignores instances and field order, not anything else', async (t) => {
  const a = valid({ ...base, env: { A: '1', B: '2' } });
  t.ok(sameRunConfig(a, valid({ ...base, instances: 5, env: { B: '2', A: '1' } })));
  t.notOk(sameRunConfig(a, valid({ ...base, env: { A: '1', B: '3' } })));
  t.notOk(sameRunConfig(a, valid({ ...base, env: { A: '1', B: '2' }, command: 'sleep 601' })));
});
