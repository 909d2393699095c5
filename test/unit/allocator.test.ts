import fc from 'fast-check';
import t from 'tap';
import {
  add, contains, forRole, formatResources, isEmpty, normalize, rangesResource, scalarResource, subtract,
  UNRESERVED_ROLE, type Resource, type Resources,
} from '../../src/common/resources.js';
import { OfferFilters, type OfferFilter } from '../../src/master/allocator/filters.js';
import {
  allocateRoundRobin, isOfferable, MIN_OFFER_CPUS, MIN_OFFER_MEM_MB,
  type AllocatableAgent, type AllocatableFramework, type AllocationInput, type OfferDecision,
} from '../../src/master/allocator/round-robin.js';
import { res } from '../helpers/builders.js';

const NOW = 1_000_000;

const agent = (id: string, available: string): AllocatableAgent => ({ id, available: res(available) });
const framework = (id: string, roles: string[] = ['*'], suppressed: string[] = []): AllocatableFramework => ({
  id, roles, suppressedRoles: new Set(suppressed),
});

function allocate(over: Partial<AllocationInput> & Pick<AllocationInput, 'agents' | 'frameworks'>) {
  return allocateRoundRobin({ filters: new OfferFilters(), now: NOW, cursor: 0, ...over });
}

/** Offers as `framework@agent/role resources` lines, in the order made: easy to compare exactly. */
const show = (offers: readonly OfferDecision[]): string[] =>
  offers.map((o) => `${o.frameworkId}@${o.agentId}/${o.role} ${formatResources(o.resources)}`);

const filter = (o: Partial<Omit<OfferFilter, 'resources'>> & { resources: string }): OfferFilter => ({
  frameworkId: 'f1', agentId: 'a1', role: '*', expiresAt: NOW + 5000, ...o, resources: res(o.resources),
});

t.test('one framework gets every agent, each agent whole in one offer', async (t) => {
  const result = allocate({
    agents: [agent('a1', 'cpus:4;mem:4096;ports:[31000-31009]'), agent('a2', 'cpus:2;mem:1024'), agent('a3', 'mem:64')],
    frameworks: [framework('f1')],
  });
  t.strictSame(show(result.offers), [
    'f1@a1/* cpus:4;mem:4096;ports:[31000-31009]',
    'f1@a2/* cpus:2;mem:1024',
    'f1@a3/* mem:64',
  ]);
  t.equal(result.cursor, 0, 'with one framework the rotation stays at 0');
});

t.test('two frameworks take turns across agents', async (t) => {
  const agents = ['a1', 'a2', 'a3'].map((id) => agent(id, 'cpus:1;mem:256'));
  const result = allocate({ agents, frameworks: [framework('f1'), framework('f2')] });
  t.strictSame(show(result.offers), ['f1@a1/* cpus:1;mem:256', 'f2@a2/* cpus:1;mem:256', 'f1@a3/* cpus:1;mem:256']);
  t.equal(result.cursor, 1, 'f2 is next');
});

t.test('the rotation continues across cycles through the returned cursor', async (t) => {
  const frameworks = [framework('f1'), framework('f2')];
  const first = allocate({ agents: [agent('a1', 'cpus:1')], frameworks });
  const second = allocate({ agents: [agent('a1', 'cpus:1')], frameworks, cursor: first.cursor });
  const third = allocate({ agents: [agent('a1', 'cpus:1')], frameworks, cursor: second.cursor });
  t.strictSame([...show(first.offers), ...show(second.offers), ...show(third.offers)], [
    'f1@a1/* cpus:1', 'f2@a1/* cpus:1', 'f1@a1/* cpus:1',
  ]);
  t.strictSame([first.cursor, second.cursor, third.cursor], [1, 0, 1]);
});

t.test('a cursor past the end wraps around the rotation', async (t) => {
  const result = allocate({ agents: [agent('a1', 'cpus:1')], frameworks: [framework('f1'), framework('f2'), framework('f3')], cursor: 7 });
  t.strictSame(show(result.offers), ['f2@a1/* cpus:1'], '7 mod 3 = 1: f2 first');
  t.equal(result.cursor, 2);
});

t.test('nothing is offered when there is no framework or no agent', async (t) => {
  t.strictSame(allocate({ agents: [agent('a1', 'cpus:1')], frameworks: [] }), { offers: [], cursor: 0 });
  t.strictSame(allocate({ agents: [], frameworks: [framework('f1')], cursor: 3 }), { offers: [], cursor: 0 });
});

t.test('a suppressed role gets nothing; the others still do', async (t) => {
  const agents = [agent('a1', 'cpus:1;mem:256'), agent('a2', 'cpus:1;mem:256')];
  t.strictSame(show(allocate({ agents, frameworks: [framework('f1', ['*'], ['*'])] }).offers), [], 'a fully suppressed framework');
  t.strictSame(
    show(allocate({ agents, frameworks: [framework('f1', ['*'], ['*']), framework('f2')] }).offers),
    ['f2@a1/* cpus:1;mem:256', 'f2@a2/* cpus:1;mem:256'],
    'the suppressed framework is skipped, the other gets every agent',
  );
  t.strictSame(
    show(allocate({ agents: [agent('a1', 'cpus:1;cpus(a):1')], frameworks: [framework('f1', ['*', 'a'], ['*'])] }).offers),
    ['f1@a1/a cpus:1;cpus(a):1'],
    'a framework suppressed for * only still gets offers for its other role',
  );
});

t.test('a role-reserved resource goes only to a framework of that role', async (t) => {
  const agents = [agent('a1', 'cpus:2;mem:1024;cpus(analytics):1')];
  t.strictSame(
    show(allocate({ agents, frameworks: [framework('f1')] }).offers),
    ['f1@a1/* cpus:2;mem:1024'],
    'a * framework gets the unreserved part only',
  );
  t.strictSame(
    show(allocate({ agents, frameworks: [framework('f1'), framework('f2', ['analytics'])] }).offers),
    ['f1@a1/* cpus:2;mem:1024', 'f2@a1/analytics cpus(analytics):1'],
    'unreserved goes to the * framework in turn, the reservation to the analytics one',
  );
  t.strictSame(
    show(allocate({ agents, frameworks: [framework('f1'), framework('f2', ['analytics'])], cursor: 1 }).offers),
    ['f2@a1/analytics cpus:2;cpus(analytics):1;mem:1024'],
    'a framework of the role may also take the unreserved part when it is first',
  );
  t.strictSame(
    show(allocate({ agents: [agent('a1', 'cpus(analytics):1;mem(analytics):64')], frameworks: [framework('f1'), framework('f2', ['other'])] }).offers),
    [],
    'frameworks of other roles get none of it',
  );
});

t.test('resources below the minimum chunk are not offered', async (t) => {
  t.equal(MIN_OFFER_CPUS, 0.01);
  t.equal(MIN_OFFER_MEM_MB, 32);
  const cases: [string, string, string[]][] = [
    ['too little cpus and mem', 'cpus:0.009;mem:31', []],
    ['ports and disk but no cpus or mem', 'disk:1000;ports:[31000-31009]', []],
    ['exactly the minimum cpus', 'cpus:0.01', ['f1@a1/* cpus:0.01']],
    ['exactly the minimum mem', 'mem:32', ['f1@a1/* mem:32']],
    ['enough mem carries a crumb of cpus with it', 'cpus:0.001;mem:32;disk:5', ['f1@a1/* cpus:0.001;disk:5;mem:32']],
  ];
  for (const [behaviour, available, want] of cases) {
    t.strictSame(show(allocate({ agents: [agent('a1', available)], frameworks: [framework('f1')] }).offers), want, behaviour);
  }
  t.strictSame(
    show(allocate({ agents: [agent('a1', 'cpus:1;cpus(a):0.005;mem(a):16')], frameworks: [framework('f1'), framework('f2', ['a'])] }).offers),
    ['f1@a1/* cpus:1'],
    'a reserved crumb left after the unreserved offer is not offered on its own',
  );
});

t.test('isOfferable needs enough cpus or enough mem', async (t) => {
  const cases: [string, boolean][] = [
    ['', false], ['cpus:0.009', false], ['mem:31.9', false], ['cpus:0.01', true], ['mem:32', true],
    ['cpus(a):0.005;cpus:0.005', true], ['gpus:4', false],
  ];
  for (const [text, want] of cases) t.equal(isOfferable(res(text)), want, `'${text}'`);
});

t.test('a declined (filtered) set is not offered again before the filter expires', async (t) => {
  const filters = new OfferFilters();
  filters.add(filter({ resources: 'cpus:2;mem:1024', expiresAt: NOW + 5000 }), NOW);
  const agents = [agent('a1', 'cpus:2;mem:1024')];
  const at = (now: number) => show(allocate({ agents, frameworks: [framework('f1')], filters, now }).offers);
  t.strictSame(at(NOW), [], 'refused now');
  t.strictSame(at(NOW + 4999), [], 'refused until the last millisecond');
  t.strictSame(at(NOW + 5000), ['f1@a1/* cpus:2;mem:1024'], 'offered once it expires');
});

t.test('a filter refuses a subset of what was declined but not a superset', async (t) => {
  const filters = new OfferFilters();
  filters.add(filter({ resources: 'cpus:2;mem:1024' }), NOW);
  const offered = (available: string) => show(allocate({ agents: [agent('a1', available)], frameworks: [framework('f1')], filters }).offers);
  t.strictSame(offered('cpus:1;mem:1024'), [], 'less than declined is still refused');
  t.strictSame(offered('cpus:3;mem:1024'), ['f1@a1/* cpus:3;mem:1024'], 'more cpus freed up: offered');
  t.strictSame(offered('cpus:2;mem:1024;ports:[31000-31000]'), ['f1@a1/* cpus:2;mem:1024;ports:[31000-31000]'], 'a new kind of resource: offered');
});

t.test('a filter applies to its own framework, agent and role only', async (t) => {
  const filters = new OfferFilters();
  filters.add(filter({ frameworkId: 'f1', agentId: 'a1', role: '*', resources: 'cpus:2;mem:1024' }), NOW);
  const result = allocate({
    agents: [agent('a1', 'cpus:2;mem:1024'), agent('a2', 'cpus:2;mem:1024')],
    frameworks: [framework('f1', ['*', 'a']), framework('f2')],
    filters,
  });
  t.strictSame(show(result.offers), [
    'f1@a1/a cpus:2;mem:1024',
    'f2@a2/* cpus:2;mem:1024',
  ], 'f1 role * skips a1, so f1 role a takes it; then it is f2\'s turn');
  const agents = allocate({ agents: [agent('a1', 'cpus:2;mem:1024'), agent('a2', 'cpus:2;mem:1024')], frameworks: [framework('f1')], filters });
  t.strictSame(show(agents.offers), ['f1@a2/* cpus:2;mem:1024'], 'a2 is not filtered for f1');
  const other = allocate({ agents: [agent('a1', 'cpus:2;mem:1024')], frameworks: [framework('f1'), framework('f2')], filters });
  t.strictSame(show(other.offers), ['f2@a1/* cpus:2;mem:1024'], 'what f1 refused goes to f2');
});

t.test('OfferFilters: add, isFiltered, expire and size', async (t) => {
  const filters = new OfferFilters();
  filters.add(filter({ resources: 'cpus:1', expiresAt: NOW }), NOW);
  filters.add(filter({ resources: 'cpus:1', expiresAt: NOW - 1 }), NOW);
  t.equal(filters.size(), 0, 'a non-positive duration adds nothing');
  filters.add(filter({ resources: 'cpus:1', expiresAt: NOW + 10 }), NOW);
  filters.add(filter({ resources: 'mem:64', expiresAt: NOW + 20 }), NOW);
  t.equal(filters.size(), 2);
  t.equal(filters.isFiltered('f1', 'a1', '*', res('cpus:0.5'), NOW), true);
  t.equal(filters.isFiltered('f1', 'a1', '*', res('cpus:0.5;mem:64'), NOW), false, 'no single filter covers both');
  t.equal(filters.isFiltered('f9', 'a1', '*', res('cpus:0.5'), NOW), false, 'another framework');
  filters.expire(NOW + 10);
  t.equal(filters.size(), 1, 'the filter due at NOW+10 is dropped at NOW+10');
  t.equal(filters.isFiltered('f1', 'a1', '*', res('mem:64'), NOW + 10), true);
  filters.expire(NOW + 20);
  t.equal(filters.size(), 0);
});

t.test('OfferFilters.clear removes the given roles of one framework, or all of them', async (t) => {
  const filters = new OfferFilters();
  for (const role of ['*', 'a', 'b']) filters.add(filter({ role, resources: 'cpus:1' }), NOW);
  filters.add(filter({ frameworkId: 'f2', resources: 'cpus:1' }), NOW);
  filters.clear('f1', ['a', 'b']);
  t.equal(filters.size(), 2);
  t.equal(filters.isFiltered('f1', 'a1', 'a', res('cpus:1'), NOW), false, 'role a of f1 is cleared');
  t.equal(filters.isFiltered('f1', 'a1', '*', res('cpus:1'), NOW), true, 'role * of f1 stays');
  filters.clear('f1');
  t.equal(filters.isFiltered('f1', 'a1', '*', res('cpus:1'), NOW), false, 'clear without roles clears all');
  t.equal(filters.isFiltered('f2', 'a1', '*', res('cpus:1'), NOW), true, "another framework's filters stay");
  filters.clear('f1', []);
  filters.clear('nobody', ['a']);
  t.equal(filters.size(), 1, 'clearing a framework without filters is a no-op');
});

// ---- properties -----------------------------------------------------------------------------

const ROLES = ['*', 'a', 'b'] as const;

/** One agent's available resources: cpus, mem, disk and ports, each maybe split over reservations. */
const arbAgentResources: fc.Arbitrary<Resources> = fc
  .record({
    cpus: fc.array(fc.record({ milli: fc.integer({ min: 0, max: 8000 }), role: fc.constantFrom(...ROLES) }), { maxLength: 3 }),
    mem: fc.array(fc.record({ mb: fc.integer({ min: 0, max: 4096 }), role: fc.constantFrom(...ROLES) }), { maxLength: 3 }),
    disk: fc.integer({ min: 0, max: 1000 }),
    ports: fc.array(fc.record({ begin: fc.integer({ min: 31000, max: 31100 }), len: fc.integer({ min: 0, max: 20 }), role: fc.constantFrom(...ROLES) }), { maxLength: 3 }),
  })
  .map(({ cpus, mem, disk, ports }) => {
    const entries: Resource[] = [
      ...cpus.map((c) => scalarResource('cpus', c.milli / 1000, c.role)),
      ...mem.map((m) => scalarResource('mem', m.mb, m.role)),
      scalarResource('disk', disk),
    ];
    // Ports: a value appears under one role only (as on a real agent).
    const taken = new Set<number>();
    for (const p of ports) {
      const values: number[] = [];
      for (let v = p.begin; v <= p.begin + p.len; v++) if (!taken.has(v)) values.push(v);
      for (const v of values) taken.add(v);
      if (values.length > 0) entries.push(rangesResource('ports', values.map((v) => ({ begin: v, end: v })), p.role));
    }
    return normalize(entries);
  });

const arbCluster = fc
  .record({
    agents: fc.array(arbAgentResources, { minLength: 1, maxLength: 20 }),
    frameworks: fc.array(
      fc.record({
        roles: fc.uniqueArray(fc.constantFrom(...ROLES), { minLength: 1, maxLength: 3 }),
        suppressed: fc.subarray([...ROLES]),
      }),
      { minLength: 1, maxLength: 5 },
    ),
    cursor: fc.nat({ max: 20 }),
  })
  .map(({ agents, frameworks, cursor }) => ({
    agents: agents.map((available, i): AllocatableAgent => ({ id: `a${i}`, available })),
    frameworks: frameworks.map((f, i): AllocatableFramework => ({ id: `f${i}`, roles: f.roles, suppressedRoles: new Set(f.suppressed) })),
    cursor,
  }));

t.test('property: offers of one cycle never overlap and fit in what each agent has', async (t) => {
  fc.assert(
    fc.property(arbCluster, ({ agents, frameworks, cursor }) => {
      const { offers } = allocate({ agents, frameworks, cursor });
      for (const a of agents) {
        let left = a.available;
        for (const o of offers.filter((o) => o.agentId === a.id)) {
          // Subtracting one offer after another fails if any value is in two offers.
          if (!contains(left, o.resources)) return false;
          left = subtract(left, o.resources);
        }
      }
      return offers.every((o) => agents.some((a) => a.id === o.agentId));
    }),
    { numRuns: 300 },
  );
  t.pass('300 random clusters');
});

t.test('property: offers are never empty and always worth offering', async (t) => {
  fc.assert(
    fc.property(arbCluster, ({ agents, frameworks, cursor }) =>
      allocate({ agents, frameworks, cursor }).offers.every((o) => !isEmpty(o.resources) && isOfferable(o.resources))),
    { numRuns: 300 },
  );
  t.pass('300 random clusters');
});

t.test('property: every offer respects the role rule and goes to an unsuppressed role of its framework', async (t) => {
  fc.assert(
    fc.property(arbCluster, ({ agents, frameworks, cursor }) =>
      allocate({ agents, frameworks, cursor }).offers.every((o) => {
        const f = frameworks.find((f) => f.id === o.frameworkId);
        return f !== undefined && f.roles.includes(o.role) && !f.suppressedRoles.has(o.role) &&
          o.resources.every((r) => r.role === UNRESERVED_ROLE || r.role === o.role);
      })),
    { numRuns: 300 },
  );
  t.pass('300 random clusters');
});

t.test('property: at most one offer per framework, agent and role in a cycle', async (t) => {
  fc.assert(
    fc.property(arbCluster, ({ agents, frameworks, cursor }) => {
      const keys = allocate({ agents, frameworks, cursor }).offers.map((o) => `${o.frameworkId}/${o.agentId}/${o.role}`);
      return new Set(keys).size === keys.length;
    }),
    { numRuns: 300 },
  );
  t.pass('300 random clusters');
});

t.test('property: without filters nothing offerable is left for any unsuppressed role', async (t) => {
  fc.assert(
    fc.property(arbCluster, ({ agents, frameworks, cursor }) => {
      const { offers, cursor: next } = allocate({ agents, frameworks, cursor });
      const pairs = frameworks.flatMap((f) => f.roles.filter((r) => !f.suppressedRoles.has(r)));
      if (next < 0 || next >= Math.max(1, pairs.length)) return false;
      for (const a of agents) {
        const used = offers.filter((o) => o.agentId === a.id).reduce<Resources>((sum, o) => add(sum, o.resources), []);
        const left = subtract(a.available, used);
        if (pairs.some((role) => isOfferable(forRole(left, role)))) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass('300 random clusters');
});
