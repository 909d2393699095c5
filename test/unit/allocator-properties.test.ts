/**
 * Properties of the allocator over random clusters and random sequences of what the master does
 * (allocate, decline with filters, launch part of an offer, finish tasks, suppress/revive, agents
 * coming, going, deactivated). A small model keeps what every framework holds (outstanding offers
 * and tasks) so the allocator's books can be checked against it after every step.
 */
import fc from 'fast-check';
import t from 'tap';
import {
  add, equals, formatResources, isEmpty, normalize, rangeCount, rangesOf, subtract, unreserved,
  type Resource, type Resources,
} from '../../src/common/resources.js';
import { Allocator, isOfferable, MIN_OFFER_CPUS, MIN_OFFER_MEM_MB, type OfferDecision, type Quota } from '../../src/master/allocator/allocator.js';
import { toScalars, type Scalars } from '../../src/common/scalars.js';
import { res } from '../helpers/builders.js';

const START = 1_700_000_000_000;
const DAY = 86_400_000;
const ROLES = ['*', 'a', 'b'] as const;
const QUOTA_KINDS = ['cpus', 'mem'] as const;
const EPSILON = 1e-6;

// ---- random clusters ------------------------------------------------------------------------

interface AgentSpec {
  cpus: number;
  mem: number;
  ports: number;
  reserved: { role: 'a' | 'b'; cpus: number; mem: number } | null;
}

const agentSpec: fc.Arbitrary<AgentSpec> = fc.record({
  cpus: fc.integer({ min: 1, max: 64 }).map((n) => n / 2),
  mem: fc.integer({ min: 1, max: 64 }).map((n) => n * 256),
  ports: fc.integer({ min: 0, max: 50 }),
  reserved: fc.option(fc.record({
    role: fc.constantFrom('a' as const, 'b' as const),
    cpus: fc.integer({ min: 0, max: 8 }).map((n) => n / 2),
    mem: fc.integer({ min: 0, max: 8 }).map((n) => n * 128),
  }), { freq: 3 }),
});

function agentText(a: AgentSpec): string {
  const parts = [`cpus:${a.cpus}`, `mem:${a.mem}`, 'disk:1024'];
  if (a.ports > 0) parts.push(`ports:[31000-${31000 + a.ports - 1}]`);
  if (a.reserved && a.reserved.cpus > 0) parts.push(`cpus(${a.reserved.role}):${a.reserved.cpus}`);
  if (a.reserved && a.reserved.mem > 0) parts.push(`mem(${a.reserved.role}):${a.reserved.mem}`);
  return parts.join(';');
}

const optionalAmount = (kind: 'cpus' | 'mem') =>
  fc.option(kind === 'cpus' ? fc.integer({ min: 1, max: 16 }) : fc.integer({ min: 1, max: 16 }).map((n) => n * 512), { freq: 2 });

/** A guarantee and/or a limit on cpus and mem; a limit is never below the guarantee. */
const quotaSpec: fc.Arbitrary<Quota> = fc
  .record({
    guarantee: fc.record({ cpus: optionalAmount('cpus'), mem: optionalAmount('mem') }),
    limit: fc.record({ cpus: optionalAmount('cpus'), mem: optionalAmount('mem') }),
  })
  .map(({ guarantee, limit }) => {
    const q: Quota = { guarantee: {}, limit: {} };
    for (const k of QUOTA_KINDS) {
      const g = guarantee[k];
      const l = limit[k];
      if (g !== null) q.guarantee[k] = g;
      if (l !== null) q.limit[k] = (g ?? 0) + l;
    }
    return q;
  });

interface ClusterSpec {
  agents: AgentSpec[];
  frameworks: string[][];
  weights: Record<string, number>;
  quotas: Partial<Record<'a' | 'b', Quota>>;
}

/**
 * Random clusters. Only one of the roles a/b gets a guarantee (the other may still get a limit),
 * so "capacity covers the unmet guarantee" needs no split of capacity between competing roles.
 */
const clusterSpec: fc.Arbitrary<ClusterSpec> = fc
  .record({
    agents: fc.array(agentSpec, { minLength: 1, maxLength: 30, size: 'max' }),
    frameworks: fc.array(fc.subarray([...ROLES], { minLength: 1 }), { minLength: 1, maxLength: 6, size: 'max' }),
    weights: fc.record({ '*': fc.constantFrom(0.5, 1, 2, 3), a: fc.constantFrom(0.5, 1, 2, 3), b: fc.constantFrom(0.5, 1, 2, 3) }),
    quotaA: fc.option(quotaSpec, { freq: 2 }),
    quotaB: fc.option(quotaSpec, { freq: 2 }),
  })
  .map(({ agents, frameworks, weights, quotaA, quotaB }) => {
    const quotas: ClusterSpec['quotas'] = {};
    if (quotaA) quotas.a = quotaA;
    if (quotaB) quotas.b = quotaA && Object.keys(quotaA.guarantee).length > 0 ? { guarantee: {}, limit: quotaB.limit } : quotaB;
    return { agents, frameworks, weights, quotas };
  });

// ---- random steps ---------------------------------------------------------------------------

const refuse = fc.constantFrom(undefined, 0, 1_000, 5_000, 60_000, DAY);

type Step =
  | { kind: 'allocate'; advance: number }
  | { kind: 'decline'; pick: number; refuseMs: number | undefined }
  | { kind: 'accept'; pick: number; percent: number; refuseMs: number | undefined }
  | { kind: 'finish'; pick: number }
  | { kind: 'suppress' | 'revive'; pick: number; role: number | null }
  | { kind: 'addAgent'; agent: AgentSpec }
  | { kind: 'removeAgent' | 'deactivateAgent' | 'activateAgent'; pick: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('allocate' as const), advance: fc.constantFrom(0, 1_000, 5_000, 60_000) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('decline' as const), pick: fc.nat(), refuseMs: refuse }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('accept' as const), pick: fc.nat(), percent: fc.integer({ min: 1, max: 100 }), refuseMs: refuse }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('finish' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('suppress' as const, 'revive' as const), pick: fc.nat(), role: fc.option(fc.nat({ max: 2 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('addAgent' as const), agent: agentSpec }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('removeAgent' as const, 'deactivateAgent' as const, 'activateAgent' as const), pick: fc.nat() }) },
);

const steps = fc.array(step, { minLength: 1, maxLength: 80, size: 'max' });

// ---- the simulation -------------------------------------------------------------------------

/** Something a framework holds on an agent for a role: an outstanding offer or a running task. */
interface Holding {
  agentId: string;
  frameworkId: string;
  role: string;
  resources: Resources;
}

interface Sim {
  allocator: Allocator;
  spec: ClusterSpec;
  now: number;
  totals: Map<string, Resources>;
  active: Set<string>;
  offers: Holding[];
  tasks: Holding[];
  frameworkRoles: Map<string, string[]>;
  suppressed: Set<string>;
  /** Decline filters by `framework role agent`: when they expire. */
  filters: Map<string, number>;
  nextAgent: number;
}

/** What an invariant sees: the simulation after a step, and the offers that step made (if any). */
type Check = (sim: Sim, made: readonly OfferDecision[], before: Snapshot | undefined) => void;

/** State taken just before an `allocate`, for checks that compare before and after. */
interface Snapshot {
  now: number;
  roleAllocation: Map<string, Scalars>;
  freeUnreserved: Scalars;
  wantingUnfiltered: Set<string>;
}

const key = (frameworkId: string, role: string) => `${frameworkId} ${role}`;

function setUp(spec: ClusterSpec): Sim {
  const allocator = new Allocator();
  const sim: Sim = {
    allocator, spec, now: START, totals: new Map(), active: new Set(), offers: [], tasks: [],
    frameworkRoles: new Map(), suppressed: new Set(), filters: new Map(), nextAgent: 0,
  };
  for (const role of ROLES) allocator.setWeight(role, spec.weights[role] ?? 1);
  for (const [role, quota] of Object.entries(spec.quotas)) allocator.setQuota(role, quota);
  spec.frameworks.forEach((roles, i) => {
    allocator.addFramework(`f${i}`, roles);
    sim.frameworkRoles.set(`f${i}`, roles);
  });
  for (const a of spec.agents) addAgent(sim, a);
  return sim;
}

function addAgent(sim: Sim, a: AgentSpec): void {
  const id = `agent${sim.nextAgent++}`;
  const total = res(agentText(a));
  sim.allocator.addAgent(id, total);
  sim.totals.set(id, total);
  sim.active.add(id);
}

/** Takes the element at `pick` (modulo the length) out of a list. */
const takeAt = <T>(list: T[], pick: number): T | undefined => (list.length === 0 ? undefined : list.splice(pick % list.length, 1)[0]);
const agentAt = (sim: Sim, pick: number): string | undefined => [...sim.totals.keys()][pick % sim.totals.size];

/** `percent` of each scalar (rounded down to thousandths) and the lowest port, as a task would take. */
function part(resources: Resources, percent: number): Resources {
  const out: Resource[] = [];
  for (const r of resources) {
    if (r.kind === 'scalar') out.push({ ...r, scalar: Math.floor(((r.scalar ?? 0) * percent) / 100 * 1000) / 1000 });
    else if (r.ranges?.[0]) out.push({ ...r, ranges: [{ begin: r.ranges[0].begin, end: r.ranges[0].begin }] });
  }
  return normalize(out);
}

function giveBack(sim: Sim, h: Holding, resources: Resources, refuseMs: number | undefined): void {
  const refuseUntil = refuseMs === undefined ? undefined : sim.now + refuseMs;
  if (isEmpty(resources)) return;
  if (!sim.allocator.recover(h.agentId, h.frameworkId, h.role, resources, refuseUntil)) {
    throw new Error(`recover refused ${formatResources(resources)} held by ${h.frameworkId}/${h.role} on ${h.agentId}`);
  }
  if (refuseUntil !== undefined) sim.filters.set(`${key(h.frameworkId, h.role)} ${h.agentId}`, refuseUntil);
}

function snapshot(sim: Sim, now: number): Snapshot {
  const roleAllocation = new Map(ROLES.map((r) => [r as string, { ...sim.allocator.roleAllocation(r) }]));
  const freeUnreserved: Scalars = {};
  for (const id of sim.active) {
    for (const [k, v] of Object.entries(toScalars(unreserved(sim.allocator.available(id) ?? [])))) freeUnreserved[k] = (freeUnreserved[k] ?? 0) + v;
  }
  const wantingUnfiltered = new Set<string>();
  for (const role of ROLES) {
    const wanting = [...sim.frameworkRoles].filter(([f, roles]) => roles.includes(role) && !sim.suppressed.has(key(f, role))).map(([f]) => f);
    const filtered = [...sim.filters].some(([k, until]) => until > now && wanting.some((f) => k.startsWith(`${key(f, role)} `)));
    if (wanting.length > 0 && !filtered) wantingUnfiltered.add(role);
  }
  return { now, roleAllocation, freeUnreserved, wantingUnfiltered };
}

function apply(sim: Sim, s: Step, check: Check): void {
  const { allocator } = sim;
  switch (s.kind) {
    case 'allocate': {
      const now = sim.now + s.advance;
      const before = snapshot(sim, now);
      sim.now = now;
      const made = allocator.allocate(now);
      sim.offers.push(...made);
      check(sim, made, before);
      return;
    }
    case 'decline': {
      const offer = takeAt(sim.offers, s.pick);
      if (offer) giveBack(sim, offer, offer.resources, s.refuseMs);
      break;
    }
    case 'accept': {
      const offer = takeAt(sim.offers, s.pick);
      if (!offer) break;
      const task = part(offer.resources, s.percent);
      if (!isEmpty(task)) sim.tasks.push({ ...offer, resources: task });
      giveBack(sim, offer, subtract(offer.resources, task), s.refuseMs);
      break;
    }
    case 'finish': {
      const task = takeAt(sim.tasks, s.pick);
      if (task) giveBack(sim, task, task.resources, undefined);
      break;
    }
    case 'suppress':
    case 'revive': {
      const frameworkId = `f${s.pick % sim.spec.frameworks.length}`;
      const own = sim.frameworkRoles.get(frameworkId) ?? [];
      const roles = s.role === null ? [] : [ROLES[s.role]!];
      const which = roles.length === 0 ? own : roles.filter((r) => own.includes(r));
      if (s.kind === 'suppress') {
        allocator.suppress(frameworkId, roles);
        for (const r of which) sim.suppressed.add(key(frameworkId, r));
      } else {
        allocator.revive(frameworkId, roles);
        for (const r of which) {
          sim.suppressed.delete(key(frameworkId, r));
          for (const k of [...sim.filters.keys()]) if (k.startsWith(`${key(frameworkId, r)} `)) sim.filters.delete(k);
        }
      }
      break;
    }
    case 'addAgent':
      addAgent(sim, s.agent);
      break;
    case 'removeAgent': {
      const id = agentAt(sim, s.pick);
      if (!id) break;
      allocator.removeAgent(id);
      sim.totals.delete(id);
      sim.active.delete(id);
      sim.offers = sim.offers.filter((o) => o.agentId !== id);
      sim.tasks = sim.tasks.filter((o) => o.agentId !== id);
      break;
    }
    case 'deactivateAgent':
    case 'activateAgent': {
      const id = agentAt(sim, s.pick);
      if (!id) break;
      if (s.kind === 'deactivateAgent') {
        allocator.deactivateAgent(id);
        sim.active.delete(id);
      } else {
        allocator.activateAgent(id);
        sim.active.add(id);
      }
      break;
    }
  }
  check(sim, [], undefined);
}

function simulate(spec: ClusterSpec, plan: readonly Step[], check: Check): void {
  const sim = setUp(spec);
  check(sim, [], undefined);
  for (const s of plan) apply(sim, s, check);
}

function holdingsOf(sim: Sim): Holding[] {
  return [...sim.offers, ...sim.tasks];
}

function roleHoldings(sim: Sim, role: string): Scalars {
  const out: Scalars = {};
  for (const h of holdingsOf(sim)) {
    if (h.role !== role) continue;
    for (const [k, v] of Object.entries(toScalars(h.resources))) out[k] = (out[k] ?? 0) + v;
  }
  return out;
}

function fail(what: string, detail: unknown): never {
  throw new Error(`${what}: ${JSON.stringify(detail)}`);
}

// ---- invariants -----------------------------------------------------------------------------

/**
 * On every agent: available + allocated == total, what the frameworks hold adds up to what the
 * allocator has allocated, and no port is held twice (a sum of ranges would hide that, so ports are
 * counted). Scalars never go negative, so the first equation also means allocated ⊆ total.
 */
const booksBalance: Check = (sim) => {
  const byAgent = new Map<string, Holding[]>();
  for (const h of holdingsOf(sim)) byAgent.set(h.agentId, [...(byAgent.get(h.agentId) ?? []), h]);
  for (const [id, total] of sim.totals) {
    const available = sim.allocator.available(id) ?? fail('agent missing', id);
    const allocated = sim.allocator.allocatedOn(id);
    if (!equals(add(available, allocated), total)) {
      fail('available + allocated != total', { id, available: formatResources(available), allocated: formatResources(allocated), total: formatResources(total) });
    }
    const held = byAgent.get(id) ?? [];
    const sum = held.reduce<Resources>((acc, h) => add(acc, h.resources), []);
    if (!equals(sum, allocated)) fail('held != allocated', { id, held: formatResources(sum), allocated: formatResources(allocated) });
    const ports = [available, ...held.map((h) => h.resources)].reduce((n, r) => n + rangeCount(rangesOf(r, 'ports')), 0);
    if (ports !== rangeCount(rangesOf(total, 'ports'))) fail('a port is in two places', { id, held: held.map((h) => formatResources(h.resources)) });
  }
};

/** Every new offer: non-empty, offerable, from an active agent, to a framework that wants offers for its role, and only unreserved or own-role resources. */
const offersWellFormed: Check = (sim, made) => {
  for (const o of made) {
    const text = `${o.frameworkId}/${o.role}@${o.agentId} ${formatResources(o.resources)}`;
    if (isEmpty(o.resources)) fail('empty offer', text);
    if (!isOfferable(toScalars(o.resources))) fail('offer below the minimum chunk', text);
    if (!sim.active.has(o.agentId)) fail('offer from an inactive agent', text);
    if (!(sim.frameworkRoles.get(o.frameworkId) ?? []).includes(o.role)) fail('offer for a role the framework lacks', text);
    if (sim.suppressed.has(key(o.frameworkId, o.role))) fail('offer to a suppressed role', text);
    if (o.resources.some((r) => r.role !== '*' && r.role !== o.role)) fail('offer with another role\'s reservation', text);
  }
};

/** A role with a quota limit never holds more than its limit in any limited kind. */
const limitsHold: Check = (sim) => {
  for (const [role, quota] of Object.entries(sim.spec.quotas)) {
    const held = roleHoldings(sim, role);
    const booked = sim.allocator.roleAllocation(role);
    for (const [k, limit] of Object.entries(quota.limit)) {
      if ((held[k] ?? 0) > limit + EPSILON) fail(`role ${role} holds more ${k} than its limit`, { held, limit: quota.limit });
      if (Math.abs((held[k] ?? 0) - (booked[k] ?? 0)) > EPSILON) fail(`role ${role}: the allocator's books disagree`, { held, booked });
    }
  }
};

/**
 * After an allocate: a role with a guarantee, a framework wanting offers (none of them filtered)
 * and enough unreserved free capacity for its unmet guarantee holds its guarantee, per kind, short
 * at most by the minimum chunk on every agent (pieces smaller than a chunk are never offered).
 */
const guaranteesMet: Check = (sim, _made, before) => {
  if (!before) return;
  const agents = sim.active.size;
  const chunk: Scalars = { cpus: MIN_OFFER_CPUS * agents, mem: MIN_OFFER_MEM_MB * agents };
  for (const [role, quota] of Object.entries(sim.spec.quotas)) {
    if (!before.wantingUnfiltered.has(role)) continue;
    const had = before.roleAllocation.get(role) ?? {};
    const unmet = Object.entries(quota.guarantee).filter(([k, g]) => g > (had[k] ?? 0));
    if (unmet.length === 0) continue;
    if (!unmet.every(([k, g]) => (before.freeUnreserved[k] ?? 0) >= g - (had[k] ?? 0))) continue;
    const now = sim.allocator.roleAllocation(role);
    for (const [k, g] of unmet) {
      if ((now[k] ?? 0) < g - (chunk[k] ?? 0) - EPSILON) {
        fail(`role ${role} was not given its guarantee of ${k}`, { guarantee: quota.guarantee, had, now, free: before.freeUnreserved });
      }
    }
  }
};

// ---- the properties -------------------------------------------------------------------------

const property = (check: Check) => fc.property(clusterSpec, steps, (spec, plan) => simulate(spec, plan, check));

t.test('no resource is in two allocations: available + allocated == total on every agent', async (t) => {
  fc.assert(property(booksBalance), { numRuns: 150 });
  t.pass('held for 150 random clusters');
});

t.test('every offer is non-empty, offerable, and respects roles and reservations', async (t) => {
  fc.assert(property(offersWellFormed), { numRuns: 200 });
  t.pass('held for 200 random clusters');
});

t.test('a role never holds more than its quota limit', async (t) => {
  fc.assert(property(limitsHold), { numRuns: 200 });
  t.pass('held for 200 random clusters');
});

t.test('a role with a guarantee, demand and room for it gets its guarantee in one allocate', async (t) => {
  fc.assert(property(guaranteesMet), { numRuns: 300 });
  t.pass('held for 300 random clusters');
});
