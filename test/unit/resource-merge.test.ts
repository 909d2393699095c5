import assert from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import { normalizeRanges } from '../../src/common/ranges.js';
import {
  addNormalized, asNormalized, containsNormalized, forRoleNormalized, sameTextForm, subtractNormalized, unionRanges,
  unreservedNormalized, unreservedScalars,
} from '../../src/common/resource-merge.js';
import {
  add, contains, forRole, formatResources, InsufficientResourcesError, normalize, parseResources, rangesResource, scalarResource,
  subtract, unreserved, type Range, type Resource, type Resources,
} from '../../src/common/resources.js';
import { toScalars } from '../../src/common/scalars.js';

const res = parseResources;

// Names that are sometimes scalars and sometimes ranges, so that entries differing only in kind occur.
const NAMES = ['cpus', 'disk', 'mem', 'ports', 'zz'] as const;
const ROLES = ['*', 'a', 'b', 'B'] as const;
const MAX_TEST_PORT = 300;

const rangeArb = fc.tuple(fc.nat(MAX_TEST_PORT), fc.nat(20))
  .map(([begin, length]): Range => ({ begin, end: Math.min(MAX_TEST_PORT, begin + length) }));
const entryArb: fc.Arbitrary<Resource> = fc.record({
  name: fc.constantFrom(...NAMES),
  role: fc.constantFrom(...ROLES),
  dynamic: fc.boolean(),
  ranged: fc.boolean(),
  milli: fc.oneof(fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 1, max: 10_000_000 })),
  ranges: fc.array(rangeArb, { minLength: 1, maxLength: 4 }),
}).map(({ name, role, dynamic, ranged, milli, ranges }) => (ranged
  ? rangesResource(name, ranges, role, dynamic)
  : scalarResource(name, milli / 1000, role, dynamic)));
/** Normalised resources, mixing kinds, roles and dynamic reservations. */
const resourcesArb = fc.array(entryArb, { maxLength: 10 }).map(normalize);

/** A part of `r`: some of each scalar (sometimes all), some of each entry's ranges, some entries left out. */
function partOf(r: Resources): fc.Arbitrary<Resources> {
  return fc.tuple(...r.map((e): fc.Arbitrary<Resource> => {
    if (e.kind === 'scalar') {
      const whole = Math.round((e.scalar ?? 0) * 1000);
      return fc.oneof(fc.constant(whole), fc.integer({ min: 0, max: whole })).map((milli) => ({ ...e, scalar: milli / 1000 }));
    }
    const values = (e.ranges ?? []).flatMap(({ begin, end }) => Array.from({ length: end - begin + 1 }, (_, i) => begin + i));
    return fc.oneof(fc.constant(values), fc.subarray(values)).map((vs) => ({ ...e, ranges: vs.map((v) => ({ begin: v, end: v })) }));
  })).map(normalize);
}
/** A whole and a part of it, or a whole and anything (which it may or may not contain). */
const pairArb = fc.oneof(
  resourcesArb.chain((whole) => fc.tuple(fc.constant(whole), partOf(whole))),
  fc.tuple(resourcesArb, resourcesArb),
  resourcesArb.chain((whole) => fc.tuple(fc.constant(whole), partOf(whole).chain((part) => fc.constant(add(part, res('cpus:0.001')))))),
);
const RUNS = { numRuns: 500 };

t.test('addNormalized equals add', async (t) => {
  fc.assert(fc.property(resourcesArb, resourcesArb, (a, b) => {
    assert.deepStrictEqual(addNormalized(a, b), add(a, b));
  }), RUNS);
  t.pass('holds');
});

t.test('subtractNormalized equals subtract, and is undefined exactly where subtract throws', async (t) => {
  let contained = 0;
  fc.assert(fc.property(pairArb, ([a, b]) => {
    const fast = subtractNormalized(a, b);
    if (contains(a, b)) {
      contained++;
      assert.deepStrictEqual(fast, subtract(a, b));
    } else {
      assert.equal(fast, undefined);
      assert.throws(() => subtract(a, b), InsufficientResourcesError);
    }
  }), RUNS);
  t.ok(contained > 100, `both outcomes are exercised (${contained} contained)`);
});

t.test('containsNormalized equals contains', async (t) => {
  fc.assert(fc.property(pairArb, ([a, b]) => {
    assert.equal(containsNormalized(a, b), contains(a, b));
    assert.equal(containsNormalized(b, a), contains(b, a));
  }), RUNS);
  t.pass('holds');
});

t.test('forRoleNormalized, unreservedNormalized and unreservedScalars equal forRole, unreserved and their scalars', async (t) => {
  fc.assert(fc.property(resourcesArb, fc.constantFrom(...ROLES), (r, role) => {
    assert.deepStrictEqual(forRoleNormalized(r, role), forRole(r, role));
    assert.deepStrictEqual(unreservedNormalized(r), unreserved(r));
    assert.deepStrictEqual(unreservedScalars(r), toScalars(unreserved(r)));
  }), RUNS);
  t.pass('holds');
});

t.test('sameTextForm equals comparing the text forms, which do not show the dynamic flag', async (t) => {
  // b is often a with some reservations flipped between static and dynamic, or a little changed.
  const flipped = (r: Resources, flips: boolean[]): Resources =>
    normalize(r.map((e, i) => (e.role !== '*' && flips[i] ? { ...e, dynamic: !e.dynamic } : e)));
  const textPairArb = fc.oneof(
    resourcesArb.chain((a) => fc.tuple(fc.constant(a), fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }).map((f) => flipped(a, f)))),
    pairArb,
  );
  let same = 0;
  fc.assert(fc.property(textPairArb, ([a, b]) => {
    const want = formatResources(a) === formatResources(b);
    if (want) same++;
    assert.equal(sameTextForm(a, b), want);
  }), RUNS);
  t.ok(same > 100, `both outcomes are exercised (${same} the same)`);
  t.ok(sameTextForm(res('cpus(a):1;ports(a):[1-5]'), [{ ...scalarResource('cpus', 1, 'a', true) }, rangesResource('ports', [{ begin: 1, end: 5 }], 'a')]));
  t.notOk(sameTextForm(res('ports:[1-5]'), res('ports:[1-4]')));
});

t.test('unionRanges equals normalising both range sets together', async (t) => {
  const rangeSetArb = fc.array(rangeArb, { maxLength: 6 }).map(normalizeRanges);
  fc.assert(fc.property(rangeSetArb, rangeSetArb, (a, b) => {
    assert.deepStrictEqual(unionRanges(a, b), normalizeRanges([...a, ...b]));
  }), RUNS);
  t.pass('holds');
});

t.test('asNormalized returns a normalised value itself, and normalises anything else', async (t) => {
  fc.assert(fc.property(resourcesArb, fc.array(entryArb, { maxLength: 6 }), (normal, raw) => {
    assert.equal(asNormalized(normal), normal);
    assert.deepStrictEqual(asNormalized(raw), normalize(raw));
  }), RUNS);
  const cases: [string, Resource[]][] = [
    ['out of order', [scalarResource('mem', 1), scalarResource('cpus', 1)]],
    ['a name twice', [scalarResource('cpus', 1), scalarResource('cpus', 2)]],
    ['a zero scalar', [scalarResource('cpus', 0)]],
    ['more than three decimals', [scalarResource('cpus', 0.0001)]],
    ['unsorted ranges', [rangesResource('ports', [{ begin: 5, end: 6 }, { begin: 1, end: 2 }])]],
    ['adjacent ranges', [rangesResource('ports', [{ begin: 1, end: 2 }, { begin: 3, end: 6 }])]],
    ['no ranges', [rangesResource('ports', [])]],
    ['a dynamic unreserved entry', [{ ...scalarResource('cpus', 1), dynamic: true }]],
    ['a scalar that also has ranges', [{ ...scalarResource('cpus', 1), ranges: [{ begin: 1, end: 1 }] }]],
  ];
  for (const [what, list] of cases) {
    const out = asNormalized(list);
    t.not(out, list, `${what}: a new value`);
    t.strictSame(out, normalize(list), `${what}: normalised`);
  }
  const invalid: Resource[] = [{ name: 'CPUS', role: '*', dynamic: false, kind: 'scalar', scalar: 1 }];
  t.throws(() => asNormalized(invalid), RangeError, 'throws like normalize for an invalid entry');
  t.throws(() => asNormalized([{ ...scalarResource('cpus', 1), scalar: -1 }]), RangeError);
});

t.test('the merges never change their arguments', async (t) => {
  fc.assert(fc.property(pairArb, ([a, b]) => {
    const [x, y] = [structuredClone(a), structuredClone(b)];
    addNormalized(a, b); subtractNormalized(a, b); containsNormalized(a, b); forRoleNormalized(a, 'a');
    assert.deepStrictEqual([a, b], [x, y]);
  }), RUNS);
  t.pass('holds');
});

t.test('examples from the allocator: an agent with a task, offered whole and declined', async (t) => {
  const agent = res('cpus:24;mem:4096;disk:4096;ports:[31000-32000]');
  const task = res('cpus:1;mem:512;ports:[31000-31000]');
  const free = subtractNormalized(agent, task);
  t.strictSame(free, res('cpus:23;mem:3584;disk:4096;ports:[31001-32000]'));
  t.strictSame(subtractNormalized(free ?? [], free ?? []), [], 'offering everything leaves nothing');
  t.equal(addNormalized([], free ?? []), free, 'declining it gives back the same value');
  t.equal(subtractNormalized(task, agent), undefined, 'a task cannot hold a whole agent');
  t.strictSame(subtractNormalized(res('ports:[1-10]'), res('ports:[3-4,7-7]')), res('ports:[1-2,5-6,8-10]'));
  t.equal(subtractNormalized(res('ports:[1-10]'), res('ports:[9-11]')), undefined, 'a port that is not there');
  t.equal(subtractNormalized(res('cpus:1'), res('cpus(a):1')), undefined, 'a reservation is not unreserved');
});
