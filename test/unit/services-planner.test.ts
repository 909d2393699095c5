import t from 'tap';
import fc from 'fast-check';
import { parseResources, type Offer } from '../../src/framework-sdk/index.js';
import { parseAppSpec, upgradeBounds, type AppSpec } from '../../src/frameworks/services/app-spec.js';
import { isHealthy, type AppRecord, type Instance } from '../../src/frameworks/services/instances.js';
import { placeInstances, planApp } from '../../src/frameworks/services/planner.js';

const NOW = 1_700_000_000_000;

function spec(fields: Record<string, unknown>): AppSpec {
  const r = parseAppSpec({ id: 'web', command: 'sleep 600', ...fields });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.spec;
}

let seq = 0;
/** An instance builder: `inst(1).healthy()`. */
function inst(version: number, state: Instance['state'] = 'RUNNING', hostname = 'a'): Instance {
  return { taskId: `web-${++seq}`, version, agentId: `agent-${hostname}`, hostname, attributes: [], ports: [], state, message: '', launchedAt: NOW + seq };
}

function app(s: AppSpec, instances: Instance[], version = 1, extra: Partial<AppRecord> = {}): AppRecord {
  return { spec: s, version, versionAt: NOW, removing: false, instances, failures: 0, ended: [], ...extra };
}

t.test('steady state', async (t) => {
  await t.test('launches what is missing and kills nothing', async (t) => {
    const plan = planApp(app(spec({ instances: 3 }), [inst(1)]), NOW);
    t.equal(plan.launch, 2);
    t.same(plan.kill, []);
  });
  await t.test('scales down by killing the not-healthy and then the newest first', async (t) => {
    const s = spec({ instances: 1, ports: 1, healthCheck: { type: 'tcp' } });
    const old = { ...inst(1), healthy: true };
    const newest = { ...inst(1), healthy: true };
    const unhealthy = { ...inst(1), healthy: false };
    const plan = planApp(app(s, [old, newest, unhealthy]), NOW);
    t.same(plan.kill.map((k) => [k.taskId, k.reason]), [[unhealthy.taskId, 'scale-down'], [newest.taskId, 'scale-down']]);
    t.equal(plan.launch, 0);
  });
  await t.test('an unreachable instance is replaced but not killed', async (t) => {
    const plan = planApp(app(spec({ instances: 2 }), [inst(1), inst(1, 'UNREACHABLE')]), NOW);
    t.equal(plan.launch, 1);
    t.same(plan.kill, []);
  });
  await t.test('launches wait out the backoff after failures', async (t) => {
    const record = app(spec({ instances: 1, backoffSeconds: 2, backoffFactor: 2 }), [], 1, { failures: 2, lastFailureAt: NOW });
    const plan = planApp(record, NOW + 1000);
    t.equal(plan.launch, 0, 'held back');
    t.equal(plan.wanted, 1);
    t.equal(plan.launchNotBefore, NOW + 4000, '2 s × 2^(2-1)');
    t.equal(planApp(record, NOW + 4000).launch, 1, 'released when the delay is over');
  });
  await t.test('removing kills every instance and launches none', async (t) => {
    const plan = planApp(app(spec({ instances: 2 }), [inst(1), inst(1, 'STAGING')], 1, { removing: true }), NOW);
    t.equal(plan.kill.length, 2);
    t.ok(plan.kill.every((k) => k.reason === 'remove'));
    t.equal(plan.launch, 0);
  });
});

t.test('rolling upgrade steps', async (t) => {
  await t.test('minimumHealthCapacity 1, maximumOverCapacity 1: starts every new one first, kills no old healthy one', async (t) => {
    const plan = planApp(app(spec({ instances: 2 }), [inst(1), inst(1)], 2), NOW);
    t.equal(plan.launch, 2);
    t.same(plan.kill, []);
  });
  await t.test('minimumHealthCapacity 0.5, maximumOverCapacity 0: kills one old healthy one, launches none yet', async (t) => {
    const plan = planApp(app(spec({ instances: 2, upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 } }), [inst(1), inst(1)], 2), NOW);
    t.equal(plan.launch, 0, 'no room: 2 of at most 2 exist');
    t.equal(plan.kill.length, 1, 'one of two may go: 1 stays healthy');
  });
  await t.test('an old instance that is not healthy goes at once', async (t) => {
    const s = spec({ instances: 2, ports: 1, healthCheck: { type: 'tcp' } });
    const sick = { ...inst(1), healthy: false };
    const plan = planApp(app(s, [{ ...inst(1), healthy: true }, sick], 2), NOW);
    t.same(plan.kill.map((k) => k.taskId), [sick.taskId]);
  });
});

/**
 * A rolling upgrade driven by random events: placing the launches the planner asks for, a new
 * instance becoming healthy, a killed one ending, a new one failing before it is healthy. After
 * every step the healthy count stays >= minHealthy and the instance count <= maxTotal.
 */
t.test('property: a rolling upgrade never drops below minHealthy nor above maxTotal, and finishes', async (t) => {
  const strategies = fc.record({
    instances: fc.integer({ min: 1, max: 6 }),
    minimumHealthCapacity: fc.constantFrom(0, 0.25, 0.5, 0.67, 0.75, 1),
    maximumOverCapacity: fc.constantFrom(0, 0.2, 0.5, 1),
    withCheck: fc.boolean(),
  });
  const events = fc.array(fc.tuple(fc.constantFrom('place', 'healthy', 'end-kill', 'fail-new'), fc.nat()), { maxLength: 80 });
  fc.assert(
    fc.property(strategies, events, ({ instances, minimumHealthCapacity, maximumOverCapacity, withCheck }, steps) => {
      const strategy = { minimumHealthCapacity, maximumOverCapacity };
      fc.pre(!(minimumHealthCapacity === 1 && maximumOverCapacity === 0));
      const r = parseAppSpec({ id: 'web', command: 'x', instances, upgradeStrategy: strategy, ...(withCheck ? { ports: 1, healthCheck: { type: 'tcp' } } : {}) });
      fc.pre(r.ok);
      if (!r.ok) return;
      const s = r.spec;
      const { minHealthy, maxTotal } = upgradeBounds(instances, strategy);
      const record = app(s, Array.from({ length: instances }, () => ({ ...inst(1), healthy: true })), 2);
      const apply = (): number => {
        const plan = planApp(record, NOW);
        for (const k of plan.kill) {
          const i = record.instances.find((x) => x.taskId === k.taskId)!;
          i.killReason = k.reason;
        }
        return plan.launch;
      };
      const check = (when: string) => {
        const healthy = record.instances.filter((i) => isHealthy(i, s)).length;
        if (healthy < minHealthy) throw new Error(`${when}: ${healthy} healthy < ${minHealthy}`);
        if (record.instances.length > maxTotal) throw new Error(`${when}: ${record.instances.length} instances > ${maxTotal}`);
      };
      let launch = apply();
      check('start');
      const run = (kind: string, n: number) => {
        if (kind === 'place' && launch > 0) {
          record.instances.push(inst(2, 'STAGING'));
        } else if (kind === 'healthy') {
          const starting = record.instances.filter((i) => i.state === 'STAGING');
          const i = starting[n % Math.max(1, starting.length)];
          if (i) Object.assign(i, { state: 'RUNNING', healthy: true });
        } else if (kind === 'end-kill') {
          const killing = record.instances.filter((i) => i.killReason);
          const i = killing[n % Math.max(1, killing.length)];
          if (i) record.instances = record.instances.filter((x) => x !== i);
        } else if (kind === 'fail-new') {
          const fresh = record.instances.filter((i) => i.version === 2 && !isHealthy(i, s) && !i.killReason);
          const i = fresh[n % Math.max(1, fresh.length)];
          if (i) record.instances = record.instances.filter((x) => x !== i);
        }
        launch = apply();
        check(kind);
      };
      for (const [kind, n] of steps) run(kind, n);
      // Then without failures the upgrade must finish.
      for (let i = 0; i < 200 && !(record.instances.length === instances && record.instances.every((x) => x.version === 2 && isHealthy(x, s))); i++) {
        run(['place', 'healthy', 'end-kill'][i % 3]!, i);
      }
      if (!(record.instances.length === instances && record.instances.every((x) => x.version === 2 && isHealthy(x, s)))) {
        throw new Error(`did not finish: ${JSON.stringify(record.instances.map((i) => [i.version, i.state, i.killReason]))}`);
      }
    }),
    { numRuns: 300 },
  );
  t.pass('held for 300 random upgrades');
});

t.test('placeInstances', async (t) => {
  const offer = (agent: string, resources: string, attrs: Offer['attributes'] = []): Offer => ({
    id: `offer-${agent}`,
    frameworkId: 'fw',
    agentId: `agent-${agent}`,
    hostname: agent,
    role: '*',
    resources: parseResources(resources),
    attributes: attrs,
  });
  await t.test('spreads instances over offers before doubling up', async (t) => {
    const s = spec({ instances: 4, ports: 1 });
    const r = placeInstances([{ appId: 'web', spec: s, count: 4, placed: [] }], [offer('a', 'cpus:2;mem:1024;ports:[31000-31009]'), offer('b', 'cpus:2;mem:1024;ports:[31000-31009]')]);
    t.same(r.launches.map((l) => l.offer.hostname), ['a', 'b', 'a', 'b']);
    t.same(r.unplaced.size, 0);
  });
  await t.test('says which constraint or resource no offer met', async (t) => {
    const s = spec({ instances: 3, resources: { cpus: 1, mem: 512 }, constraints: ['hostname:UNIQUE'] });
    const r = placeInstances([{ appId: 'web', spec: s, count: 3, placed: [{ hostname: 'a', attributes: [] }] }], [offer('a', 'cpus:4;mem:4096'), offer('b', 'cpus:4;mem:256')]);
    t.equal(r.launches.length, 0);
    t.equal(r.unplaced.get('web'), 3);
    t.match(r.misses.find((m) => m.hostname === 'a')?.reason, /constraint hostname:UNIQUE: an instance already runs where hostname is a/);
    t.match(r.misses.find((m) => m.hostname === 'b')?.reason, /resources: mem: requested 512, available 256/);
  });
  await t.test('takes the resources of several instances out of one offer', async (t) => {
    const s = spec({ instances: 2, resources: { cpus: 1, mem: 100 }, ports: 2 });
    const r = placeInstances([{ appId: 'web', spec: s, count: 3, placed: [] }], [offer('a', 'cpus:2.5;mem:1024;ports:[31000-31009]')]);
    t.equal(r.launches.length, 2, 'cpus run out after two');
    t.equal(r.unplaced.get('web'), 1);
    const ports = r.launches.map((l) => l.resources.find((x) => x.name === 'ports')?.ranges);
    t.same(ports, [[{ begin: 31000, end: 31001 }], [{ begin: 31002, end: 31003 }]], 'each gets its own ports');
  });
});
