import assert from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import { subtractRanges } from '../../src/common/ranges.js';
import {
  add, contains, equals, fits, forRole, formatResources, InsufficientResourcesError, isEmpty, normalize,
  parseResources, pickRanges, rangeCount, rangesOf, rangesResource, reservedFor, ResourceParseError,
  scalar, scalarResource, subtract, takePorts, unreserved, withRole,
  type Range, type Resource, type Resources, type Shortfall,
} from '../../src/common/resources.js';

const res = parseResources;
const ports = (...pairs: [number, number][]): Range[] => pairs.map(([begin, end]) => ({ begin, end }));

t.test('parseResources', async (t) => {
  const cases: [string, string, Resource[]][] = [
    ['parses the usual agent resources, sorted by name', 'cpus:4;mem:8192;disk:10240;ports:[31000-32000]', [
      scalarResource('cpus', 4), scalarResource('disk', 10240), scalarResource('mem', 8192),
      rangesResource('ports', ports([31000, 32000])),
    ]],
    ['parses a reservation for a role', 'cpus(analytics):2', [scalarResource('cpus', 2, 'analytics')]],
    ['reads role * as unreserved', 'cpus(*):2', [scalarResource('cpus', 2)]],
    ['puts unreserved before reserved, roles in order', 'cpus(b):1;cpus(a):2;cpus:3', [
      scalarResource('cpus', 3), scalarResource('cpus', 2, 'a'), scalarResource('cpus', 1, 'b'),
    ]],
    ['parses several ranges', 'ports:[31000-31005,31010-31020]', [rangesResource('ports', ports([31000, 31005], [31010, 31020]))]],
    ['tolerates spaces around items', ' cpus : 4 ; ports:[ 1-2 , 5 - 6 ] ', [
      scalarResource('cpus', 4), rangesResource('ports', ports([1, 2], [5, 6])),
    ]],
    ['tolerates trailing and duplicate separators', 'cpus:1;;mem:2;', [scalarResource('cpus', 1), scalarResource('mem', 2)]],
    ['parses an empty string to nothing', '', []],
    ['parses blank text to nothing', '  \t ', []],
    ['adds up a name given twice', 'cpus:1;cpus:0.5', [scalarResource('cpus', 1.5)]],
    ['keeps the same name for different roles apart', 'cpus:1;cpus(a):1', [scalarResource('cpus', 1), scalarResource('cpus', 1, 'a')]],
    ['merges adjacent ranges', 'ports:[1-3,4-6]', [rangesResource('ports', ports([1, 6]))]],
    ['merges ranges given in separate items', 'ports:[4-6];ports:[1-3,9-9]', [rangesResource('ports', ports([1, 6], [9, 9]))]],
    ['reads a single port as a range of one', 'ports:[80]', [rangesResource('ports', ports([80, 80]))]],
    ['drops a zero scalar', 'cpus:0;mem:1', [scalarResource('mem', 1)]],
    ['drops an empty range list', 'ports:[]', []],
    ['rounds scalars to three decimals', 'cpus:1.23456;gpus:0.0004', [scalarResource('cpus', 1.235)]],
    ['accepts an exponent', 'mem:1e3', [scalarResource('mem', 1000)]],
    ['accepts other resource names', 'fpgas:2;ephemeral_storage-x:1', [scalarResource('ephemeral_storage-x', 1), scalarResource('fpgas', 2)]],
  ];
  for (const [behaviour, text, want] of cases) t.strictSame(res(text), want, behaviour);
});

t.test('parseResources refuses malformed text, naming the bad part', async (t) => {
  const cases: [string, string, string, RegExp][] = [
    ['a word for a number', 'cpus:abc', 'abc', /is not a number/],
    ['a unit after a number', 'mem:12MB', '12MB', /is not a number/],
    ['a hex number', 'cpus:0x10', '0x10', /is not a number/],
    ['a negative scalar', 'cpus:4;mem:-1', '-1', /is negative/],
    ['NaN', 'cpus:NaN', 'NaN', /not a finite number/],
    ['Infinity', 'cpus:Infinity', 'Infinity', /not a finite number/],
    ['a number too big for a double', 'mem:1e400', '1e400', /not a finite number/],
    ['a number too big for thousandths', 'mem:1e20', '1e20', /too large/],
    ['an item without a colon', 'cpus:1;mem', 'mem', /not NAME:VALUE/],
    ['an empty name', 'cpus:1;:4', ':4', /empty name/],
    ['an empty name before a role', '(a):4', '(a):4', /empty name/],
    ['a missing value', 'cpus:', 'cpus:', /no value/],
    ['an uppercase name', 'CPUS:4', 'CPUS', /not a resource name/],
    ['a name starting with a digit', '1cpu:4', '1cpu', /not a resource name/],
    ['an unclosed role', 'cpus(a:2', 'cpus(a', /malformed role/],
    ['reversed parentheses', 'cpus)a(:2', 'cpus)a(', /malformed role/],
    ['two roles', 'cpus(a)(b):2', 'cpus(a)(b)', /malformed role/],
    ['text after the role', 'cpus(a)x:2', 'cpus(a)x', /malformed role/],
    ['an empty role', 'cpus():2', 'cpus()', /empty role/],
    ['a role with a space', 'cpus(a b):2', 'a b', /not a role/],
    ['a range with begin after end', 'ports:[5-3]', '5-3', /begin is greater than end/],
    ['overlapping ranges in one resource', 'ports:[1-5,3-8]', '3-8', /overlaps '1-5'/],
    ['overlapping ranges across items', 'ports:[1-5];ports:[5-8]', '5-8', /overlaps '1-5'/],
    ['a port above 65535', 'ports:[1-70000]', '1-70000', /out of range for ports/],
    ['a range of words', 'ports:[a-b]', 'a-b', /not a range/],
    ['a negative range bound', 'ports:[-1-3]', '-1-3', /not a range/],
    ['a fractional range bound', 'disk:[1.5-2]', '1.5-2', /not a range/],
    ['an unclosed range list', 'ports:[1-2', '[1-2', /not a range list/],
    ['text after a range list', 'ports:[1-2]x', '[1-2]x', /not a range list/],
    ['a doubled bracket', 'ports:[1-2]]', '[1-2]]', /not a range list/],
    ['an empty range in a list', 'ports:[1-2,,3-4]', '[1-2,,3-4]', /empty range/],
    ['a name as both scalar and ranges', 'ports:2;ports(a):[1-2]', 'ports(a):[1-2]', /both as a scalar and as ranges/],
  ];
  for (const [what, text, part, problem] of cases) {
    t.test(`refuses ${what}`, async (t) => {
      const err = t.throws(() => res(text), ResourceParseError) as ResourceParseError;
      t.equal(err.name, 'ResourceParseError');
      t.equal(err.part, part, 'names the bad part');
      t.ok(err.message.startsWith(`invalid resources '${text}': `), 'quotes the text');
      t.ok(err.message.includes(`'${part}'`), `quotes '${part}' in: ${err.message}`);
      t.match(err.message, problem, 'says what is wrong');
    });
  }
});

t.test('formatResources', async (t) => {
  const cases: [string, Resources, string][] = [
    ['prints the usual resources', res('ports:[31000-32000];mem:8192;cpus:4'), 'cpus:4;mem:8192;ports:[31000-32000]'],
    ['prints a role in parentheses', res('cpus(analytics):2;cpus:1'), 'cpus:1;cpus(analytics):2'],
    ['prints at most three decimals without trailing zeros', [scalarResource('cpus', 0.5), scalarResource('mem', 1 / 3)], 'cpus:0.5;mem:0.333'],
    ['prints several ranges', res('ports:[5-6,1-2]'), 'ports:[1-2,5-6]'],
    ['prints nothing for nothing', [], ''],
    ['prints a dynamic reservation like a static one', [scalarResource('cpus', 1, 'a', true)], 'cpus(a):1'],
    ['normalises what it is given', [scalarResource('cpus', 1), scalarResource('cpus', 2), scalarResource('mem', 0)], 'cpus:3'],
  ];
  for (const [behaviour, r, text] of cases) t.equal(formatResources(r), text, behaviour);
});

t.test('builders refuse what normalisation could not keep', async (t) => {
  t.throws(() => scalarResource('cpus', -1), RangeError, 'a negative scalar');
  t.throws(() => scalarResource('cpus', NaN), RangeError, 'NaN');
  t.throws(() => scalarResource('CPUS', 1), RangeError, 'an uppercase name');
  t.throws(() => scalarResource('cpus', 1, 'a b'), RangeError, 'a role with a space');
  t.throws(() => rangesResource('ports', ports([5, 3])), RangeError, 'a range with begin after end');
  t.throws(() => rangesResource('ports', ports([1, 70000])), RangeError, 'a port above 65535');
  t.throws(() => rangesResource('disk', ports([0.5, 2])), RangeError, 'a fractional bound');
  t.throws(() => normalize([{ name: 'cpus', role: '*', dynamic: false, kind: 'scalar', scalar: -2 }]), RangeError, 'normalize too');
});

t.test('normalize', async (t) => {
  t.test('merges, sorts by name, role and dynamic, and drops zeros', async (t) => {
    const list = [
      scalarResource('mem', 1), rangesResource('ports', ports([4, 6])), scalarResource('cpus', 1, 'a', true),
      scalarResource('cpus', 1, 'a'), scalarResource('cpus', 2), rangesResource('ports', ports([1, 3])),
      scalarResource('mem', 0.5), scalarResource('gpus', 0), rangesResource('ports', [], 'b'),
    ];
    t.strictSame(normalize(list), [
      scalarResource('cpus', 2), scalarResource('cpus', 1, 'a'), scalarResource('cpus', 1, 'a', true),
      scalarResource('mem', 1.5), rangesResource('ports', ports([1, 6])),
    ]);
  });
  t.test('keeps a scalar and ranges of one name apart', async (t) => {
    t.strictSame(normalize([scalarResource('x', 1), rangesResource('x', ports([1, 2])), scalarResource('x', 1)]),
      [rangesResource('x', ports([1, 2])), scalarResource('x', 2)]);
  });
  t.test('clears the dynamic flag of an unreserved entry', async (t) => {
    t.strictSame(normalize([scalarResource('cpus', 1, '*', true)]), [scalarResource('cpus', 1)]);
  });
  t.test('does not change its argument', async (t) => {
    const list = [rangesResource('ports', ports([9, 9], [1, 2])), scalarResource('cpus', 0.1234)];
    const copy = structuredClone(list);
    normalize(list);
    t.strictSame(list, copy);
  });
});

t.test('adds scalars in fixed point: 0.1 + 0.2 is 0.3', async (t) => {
  const sum = add(res('cpus:0.1'), res('cpus:0.2'));
  t.equal(scalar(sum, 'cpus'), 0.3);
  t.equal(formatResources(sum), 'cpus:0.3');
  t.ok(equals(subtract(sum, res('cpus:0.1')), res('cpus:0.2')), '0.3 - 0.1 is 0.2');
});

t.test('add unites ranges, counting a port present in both once', async (t) => {
  t.strictSame(add(res('ports:[1-5]'), res('ports:[3-8];cpus:1')), res('cpus:1;ports:[1-8]'));
});

t.test('fits', async (t) => {
  const cases: [string, string, string, Shortfall[]][] = [
    ['fits what is available', 'cpus:1;ports:[31000-31000]', 'cpus:4;mem:1;ports:[31000-32000]', []],
    ['fits nothing into anything', '', '', []],
    ['fits exactly what is there', 'cpus:0.3', 'cpus:0.1;cpus:0.2', []],
    ['reports memory that is short', 'cpus:1;mem:512', 'cpus:4;mem:256',
      [{ resource: 'mem', requested: 512, available: 256 }]],
    ['reports a resource that is absent', 'gpus:1', 'cpus:4', [{ resource: 'gpus', requested: 1, available: 0 }]],
    ['reports every resource that is short', 'cpus:2;mem:512', 'cpus:1;mem:256', [
      { resource: 'cpus', requested: 2, available: 1 }, { resource: 'mem', requested: 512, available: 256 },
    ]],
    ['reports ports that are not there', 'ports:[31000-31001]', 'ports:[31000-31000,31005-31006]',
      [{ resource: 'ports', requested: '[31000-31001]', available: '[31000-31000,31005-31006]' }]],
    ['reports ports when there are none', 'ports:[80]', 'cpus:1', [{ resource: 'ports', requested: '[80-80]', available: '[]' }]],
    ['does not serve a reserved request from unreserved resources', 'cpus(analytics):1', 'cpus:4',
      [{ resource: 'cpus(analytics)', requested: 1, available: 0 }]],
    ['does not serve an unreserved request from reserved resources', 'cpus:1', 'cpus(analytics):4',
      [{ resource: 'cpus', requested: 1, available: 0 }]],
    ['does not serve one role from another', 'ports(a):[1-1]', 'ports(b):[1-5]',
      [{ resource: 'ports(a)', requested: '[1-1]', available: '[]' }]],
  ];
  for (const [behaviour, requested, available, reasons] of cases) {
    const want = reasons.length === 0 ? { ok: true } : { ok: false, reasons };
    t.strictSame(fits(res(requested), res(available)), want, behaviour);
    t.equal(contains(res(available), res(requested)), reasons.length === 0, `${behaviour}: contains agrees`);
  }
  t.test('does not serve a static reservation from a dynamic one', async (t) => {
    t.strictSame(fits(res('cpus(a):1'), [scalarResource('cpus', 2, 'a', true)]),
      { ok: false, reasons: [{ resource: 'cpus(a)', requested: 1, available: 0 }] });
  });
});

t.test('subtract', async (t) => {
  t.test('takes scalars and ports away, dropping what is used up', async (t) => {
    t.strictSame(subtract(res('cpus:4;mem:1024;ports:[1-10]'), res('cpus:4;mem:24;ports:[3-4,10-10]')),
      res('mem:1000;ports:[1-2,5-9]'));
  });
  t.test('refuses to go below zero, listing the shortfalls', async (t) => {
    const err = t.throws(() => subtract(res('cpus:1;mem:256;ports:[1-2]'), res('cpus:1;mem:512;ports:[2-3]')),
      InsufficientResourcesError) as InsufficientResourcesError;
    t.equal(err.name, 'InsufficientResourcesError');
    t.strictSame(err.shortfalls, [
      { resource: 'mem', requested: 512, available: 256 },
      { resource: 'ports', requested: '[2-3]', available: '[1-2]' },
    ]);
    t.match(err.message, /mem requested 512, available 256/);
  });
});

t.test('queries', async (t) => {
  const agent = res('cpus:4;cpus(a):2;mem:100;ports:[10-19];ports(a):[20-29];ports(b):[5-5]');
  t.equal(scalar(agent, 'cpus'), 6, 'scalar totals all roles when none is given');
  t.equal(scalar(agent, 'cpus', 'a'), 2, 'scalar totals one role');
  t.equal(scalar(agent, 'gpus'), 0, 'scalar is 0 for an absent name');
  t.strictSame(rangesOf(agent, 'ports'), ports([5, 5], [10, 29]), 'rangesOf merges all roles');
  t.strictSame(rangesOf(agent, 'ports', '*'), ports([10, 19]), 'rangesOf keeps to one role');
  t.equal(rangeCount(ports([1, 3], [10, 10])), 4, 'rangeCount counts integers');
  t.equal(rangeCount(ports([1, 3], [2, 4])), 4, 'rangeCount counts an overlap once');
  t.equal(rangeCount([]), 0, 'rangeCount of nothing is 0');
  t.ok(isEmpty([]), 'nothing is empty');
  t.ok(isEmpty([scalarResource('cpus', 0)]), 'a zero scalar is empty');
  t.notOk(isEmpty(agent), 'an agent is not empty');
  t.ok(equals(res('cpus:1;mem:2'), [scalarResource('mem', 2), scalarResource('cpus', 0.5), scalarResource('cpus', 0.5)]),
    'equals ignores order and shape');
  t.notOk(equals(res('cpus(a):1'), [scalarResource('cpus', 1, 'a', true)]), 'equals tells dynamic from static');
  t.notOk(equals(res('ports:[1-2]'), res('ports:[1-3]')), 'equals compares ranges');
});

t.test('roles', async (t) => {
  const agent = res('cpus:4;cpus(a):2;cpus(b):1;ports(a):[20-29]');
  t.strictSame(forRole(agent, 'a'), res('cpus:4;cpus(a):2;ports(a):[20-29]'), 'forRole gives unreserved plus the role');
  t.strictSame(forRole(agent, 'c'), res('cpus:4'), 'forRole gives only unreserved to a role with no reservation');
  t.strictSame(reservedFor(agent, 'a'), res('cpus(a):2;ports(a):[20-29]'), 'reservedFor gives only the role');
  t.strictSame(unreserved(agent), res('cpus:4'), 'unreserved gives only *');
  t.strictSame(withRole(res('cpus:1;mem:2'), 'a'), res('cpus(a):1;mem(a):2'), 'withRole reserves');
  t.strictSame(withRole(res('cpus:1;mem:2'), 'a', true), [scalarResource('cpus', 1, 'a', true), scalarResource('mem', 2, 'a', true)],
    'withRole reserves dynamically when asked');
  t.strictSame(withRole(agent, '*'), res('cpus:7;ports:[20-29]'), 'withRole * un-reserves, merging roles');
  t.throws(() => withRole(agent, 'no good'), RangeError, 'withRole refuses an invalid role');
});

t.test('takePorts', async (t) => {
  const agent = res('ports:[100-101,105-110];ports(a):[50-51];ports(b):[10-11]');
  const cases: [string, Resources, number, string | undefined, Range[] | undefined][] = [
    ['takes the lowest ports across ranges', res('ports:[31000-31001,31005-31010]'), 3, undefined, ports([31000, 31001], [31005, 31005])],
    ['takes every port there is', res('ports:[1-3]'), 3, undefined, ports([1, 3])],
    ['gives undefined when there are too few', res('ports:[1-3]'), 4, undefined, undefined],
    ['gives undefined when there are no ports', res('cpus:1'), 1, undefined, undefined],
    ['takes nothing for a count of 0', res('cpus:1'), 0, undefined, []],
    ['uses unreserved ports and the role\'s own', agent, 3, 'a', ports([50, 51], [100, 100])],
    ['uses every role when none is given', agent, 3, undefined, ports([10, 11], [50, 50])],
    ['uses only unreserved ports for role *', agent, 3, '*', ports([100, 101], [105, 105])],
  ];
  for (const [behaviour, available, count, role, want] of cases) t.strictSame(takePorts(available, count, role), want, behaviour);
  t.throws(() => takePorts(agent, -1), RangeError, 'refuses a negative count');
});

t.test('pickRanges labels chosen ports with the entries they come from', async (t) => {
  const offer = res('ports:[100-101];ports(a):[50-51]');
  const chosen = takePorts(offer, 3, 'a') ?? [];
  const picked = pickRanges(offer, 'ports', chosen, 'a');
  t.strictSame(picked, res('ports:[100-100];ports(a):[50-51]'));
  t.ok(fits(picked ?? [], offer).ok, 'and they fit the offer');
  t.equal(pickRanges(offer, 'ports', ports([99, 100])), undefined, 'undefined when a port is not there');
  t.equal(pickRanges(offer, 'ports', ports([50, 50]), 'b'), undefined, 'undefined when a port is reserved for another role');
});

// ---- properties -------------------------------------------------------------------------------

const NAMES = ['cpus', 'mem', 'disk', 'gpus', 'ports'] as const;
const ROLES = ['*', 'a', 'b'] as const;
const MAX_TEST_PORT = 2000;

const rangeArb = fc.tuple(fc.nat(MAX_TEST_PORT), fc.nat(50))
  .map(([begin, length]) => ({ begin, end: Math.min(MAX_TEST_PORT, begin + length) }));
const entryArb = (allowDynamic: boolean) => fc.record({
  name: fc.constantFrom(...NAMES),
  role: fc.constantFrom(...ROLES),
  dynamic: allowDynamic ? fc.boolean() : fc.constant(false),
  milli: fc.integer({ min: 1, max: 10_000_000 }),
  ranges: fc.array(rangeArb, { minLength: 1, maxLength: 4 }),
}).map(({ name, role, dynamic, milli, ranges }) => name === 'ports'
  ? rangesResource(name, ranges, role, dynamic)
  : scalarResource(name, milli / 1000, role, dynamic));
/** Normalised resources, possibly with dynamic reservations. */
const resourcesArb = fc.array(entryArb(true), { maxLength: 8 }).map(normalize);
/** Normalised resources with only static reservations: what the text form can express. */
const staticResourcesArb = fc.array(entryArb(false), { maxLength: 8 }).map(normalize);

/** A part of `r`: some of each scalar, some of each entry's ports. */
function partOf(r: Resources): fc.Arbitrary<Resources> {
  return fc.tuple(...r.map((e): fc.Arbitrary<Resource> => e.kind === 'scalar'
    ? fc.integer({ min: 0, max: Math.round((e.scalar ?? 0) * 1000) }).map((milli) => ({ ...e, scalar: milli / 1000 }))
    : fc.subarray((e.ranges ?? []).flatMap(({ begin, end }) => Array.from({ length: end - begin + 1 }, (_, i) => begin + i)))
      .map((values) => ({ ...e, ranges: values.map((v) => ({ begin: v, end: v })) }))))
    .map(normalize);
}
const withPartArb = resourcesArb.chain((whole) => fc.tuple(fc.constant(whole), partOf(whole)));

/** `b` without the ports that the same entry of `a` has, so that adding them double-counts nothing. */
function withoutPortsOf(b: Resources, a: Resources): Resources {
  return normalize(b.map((e) => {
    const same = a.find((f) => f.name === e.name && f.role === e.role && f.dynamic === e.dynamic && f.kind === e.kind);
    return same && e.kind === 'ranges' ? { ...e, ranges: subtractRanges(e.ranges ?? [], same.ranges ?? []) } : e;
  }));
}

/** Asserts the normalised shape: positive 3-decimal scalars; sorted, disjoint, non-adjacent ranges. */
function assertNormalised(r: Resources): void {
  for (const e of r) {
    if (e.kind === 'scalar') {
      const x = e.scalar ?? NaN;
      assert.ok(x > 0 && Math.round(x * 1000) / 1000 === x, `${e.name} scalar ${x} is positive, 3 decimals`);
    } else {
      const ranges = e.ranges ?? [];
      assert.ok(ranges.length > 0, `${e.name} has ranges`);
      ranges.forEach((range, i) => {
        assert.ok(range.begin >= 0 && range.begin <= range.end, `range ${range.begin}-${range.end} is ordered`);
        const next = ranges[i + 1];
        assert.ok(next === undefined || next.begin > range.end + 1, `ranges of ${e.name} are apart`);
      });
    }
    assert.ok(e.role !== '*' || !e.dynamic, 'an unreserved entry is not dynamic');
  }
  assert.deepStrictEqual(normalize(r), r, 'normalising again changes nothing');
}

/** Freezes a value and everything in it, so that a mutation throws. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

t.test('add is commutative and associative', async (t) => {
  fc.assert(fc.property(resourcesArb, resourcesArb, resourcesArb, (a, b, c) => {
    assert.deepStrictEqual(add(a, b), add(b, a));
    assert.deepStrictEqual(add(add(a, b), c), add(a, add(b, c)));
  }));
  t.pass('holds');
});

t.test('a sum contains each of its parts', async (t) => {
  fc.assert(fc.property(resourcesArb, resourcesArb, (a, b) => contains(add(a, b), a) && contains(add(a, b), b)));
  t.pass('holds');
});

t.test('subtracting what was added gives back the original', async (t) => {
  fc.assert(fc.property(resourcesArb, resourcesArb, (a, anyB) => {
    const b = withoutPortsOf(anyB, a);
    assert.deepStrictEqual(subtract(add(a, b), b), a);
  }));
  t.pass('holds');
});

t.test('taking a part away and giving it back restores the whole', async (t) => {
  fc.assert(fc.property(withPartArb, ([whole, part]) => {
    const rest = subtract(whole, part);
    assert.ok(contains(whole, rest), 'the rest is within the whole');
    assert.deepStrictEqual(add(rest, part), whole);
  }));
  t.pass('holds');
});

t.test('nothing is negative and no ranges overlap, after add and after subtract', async (t) => {
  fc.assert(fc.property(resourcesArb, withPartArb, (other, [whole, part]) => {
    assertNormalised(other);
    assertNormalised(add(whole, other));
    assertNormalised(subtract(whole, part));
    assertNormalised(subtract(add(whole, other), whole));
  }));
  t.pass('holds');
});

t.test('fits agrees with contains', async (t) => {
  const pairArb = fc.oneof(
    fc.tuple(resourcesArb, resourcesArb),
    withPartArb.map(([whole, part]) => [part, whole] as const),
    withPartArb.map(([whole, part]) => [whole, part] as const),
  );
  fc.assert(fc.property(pairArb, ([requested, available]) => {
    const result = fits(requested, available);
    assert.equal(result.ok, contains(available, requested));
    assert.ok(result.ok || result.reasons.length > 0, 'a refusal gives reasons');
    if (result.ok) assertNormalised(subtract(available, requested));
    else assert.throws(() => subtract(available, requested), InsufficientResourcesError);
  }));
  t.pass('holds');
});

t.test('parsing the text form gives back the resources', async (t) => {
  fc.assert(fc.property(staticResourcesArb, (r) => {
    assert.deepStrictEqual(parseResources(formatResources(r)), r);
  }));
  t.pass('holds');
});

t.test('takePorts picks the lowest usable ports, and pickRanges labels them so they fit', async (t) => {
  const roleArb = fc.option(fc.constantFrom(...ROLES), { nil: undefined });
  fc.assert(fc.property(resourcesArb, fc.nat(60), roleArb, (r, count, role) => {
    const usable = rangesOf(role === undefined ? r : forRole(r, role), 'ports');
    const taken = takePorts(r, count, role);
    if (taken === undefined) return assert.ok(rangeCount(usable) < count);
    assert.equal(rangeCount(taken), count);
    assert.deepStrictEqual(subtractRanges(taken, usable), [], 'only usable ports are taken');
    const highest = taken.at(-1)?.end ?? -1;
    const skipped = subtractRanges(usable, taken).filter((range) => range.begin < highest);
    assert.deepStrictEqual(skipped, [], 'no lower port is skipped');
    const picked = pickRanges(r, 'ports', taken, role);
    assert.ok(picked !== undefined && fits(picked, role === undefined ? r : forRole(r, role)).ok);
    assert.deepStrictEqual(rangesOf(picked, 'ports'), taken);
  }));
  t.pass('holds');
});

t.test('no function changes its arguments', async (t) => {
  fc.assert(fc.property(withPartArb, resourcesArb, ([whole, part], other) => {
    [whole, part, other].forEach(deepFreeze);
    add(whole, other); subtract(whole, part); fits(other, whole); contains(whole, other); equals(whole, other);
    forRole(whole, 'a'); reservedFor(whole, 'a'); unreserved(whole); withRole(whole, 'b'); isEmpty(whole);
    takePorts(whole, 3, 'a'); rangesOf(whole, 'ports'); scalar(whole, 'cpus'); formatResources(whole);
  }));
  t.pass('holds');
});
