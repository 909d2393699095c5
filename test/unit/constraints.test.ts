import t from 'tap';
import { checkConstraint, contradictions, parseConstraint, type Constraint, type Placement } from '../../src/frameworks/services/constraints.js';

/** An agent: `host('a', 'rack:r1;zone:z1')`. */
const host = (hostname: string, attrs = ''): Placement => ({
  hostname,
  attributes: attrs
    .split(';')
    .filter(Boolean)
    .map((kv) => {
      const [name = '', value = ''] = kv.split(':');
      return { name, value };
    }),
});

const parse = (text: string): Constraint => {
  const r = parseConstraint(text);
  if (!r.ok) throw new Error(r.message);
  return r.constraint;
};

t.test('parseConstraint', async (t) => {
  const good: [string, unknown, string][] = [
    ['hostname:UNIQUE', 'hostname:UNIQUE', 'hostname:UNIQUE'],
    ['an operator in any case', 'rack:unique', 'rack:UNIQUE'],
    ['CLUSTER with a value', 'rack:CLUSTER:r1', 'rack:CLUSTER:r1'],
    ['CLUSTER without a value', 'rack:CLUSTER', 'rack:CLUSTER'],
    ['GROUP_BY without a count', 'zone:GROUP_BY', 'zone:GROUP_BY'],
    ['GROUP_BY with a count', 'zone:GROUP_BY:3', 'zone:GROUP_BY:3'],
    ['MAX_PER', 'rack:MAX_PER:2', 'rack:MAX_PER:2'],
    ['LIKE keeps colons in the regex', 'hostname:LIKE:web-[0-9]+(:x)?', 'hostname:LIKE:web-[0-9]+(:x)?'],
    ['UNLIKE', 'rack:UNLIKE:r[12]', 'rack:UNLIKE:r[12]'],
    ["Marathon's array form", ['hostname', 'MAX_PER', '1'], 'hostname:MAX_PER:1'],
  ];
  for (const [what, input, text] of good) {
    const r = parseConstraint(input);
    t.ok(r.ok && r.constraint.text === text, `parses ${what}`);
  }
  const bad: [string, unknown, RegExp][] = [
    ['no operator', 'hostname', /FIELD:OPERATOR/],
    ['an unknown operator', 'hostname:SOMETIMES', /unknown operator 'SOMETIMES'/],
    ['UNIQUE with a value', 'hostname:UNIQUE:x', /UNIQUE takes no value/],
    ['MAX_PER without a number', 'rack:MAX_PER', /MAX_PER needs a positive integer/],
    ['MAX_PER of zero', 'rack:MAX_PER:0', /positive integer, got '0'/],
    ['MAX_PER negative', 'rack:MAX_PER:-1', /positive integer/],
    ['GROUP_BY of a non-number', 'rack:GROUP_BY:two', /group count must be a positive integer/],
    ['LIKE without a regex', 'rack:LIKE', /needs a regular expression/],
    ['LIKE with a broken regex', 'rack:LIKE:r[', /not a valid regular expression/],
    ['a bad field name', 'ra ck:UNIQUE', /not a field name/],
    ['a number', 42, /expected/],
    ['an array of one', ['hostname'], /expected/],
  ];
  for (const [what, input, message] of bad) {
    const r = parseConstraint(input);
    t.ok(!r.ok && message.test(r.message), `refuses ${what}${r.ok ? '' : ` (${r.message})`}`);
  }
});

t.test('checkConstraint, one operator at a time', async (t) => {
  // [behaviour, constraint, candidate, already placed, allowed]
  const cases: [string, string, Placement, Placement[], boolean][] = [
    ['UNIQUE allows the first instance on a host', 'hostname:UNIQUE', host('a'), [], true],
    ['UNIQUE allows another host', 'hostname:UNIQUE', host('b'), [host('a')], true],
    ['UNIQUE refuses a host that has an instance', 'hostname:UNIQUE', host('a'), [host('a')], false],
    ['UNIQUE on an attribute refuses a value in use', 'rack:UNIQUE', host('b', 'rack:r1'), [host('a', 'rack:r1')], false],
    ['UNIQUE refuses an agent without the attribute', 'rack:UNIQUE', host('b'), [], false],

    ['CLUSTER:v allows the value', 'rack:CLUSTER:r1', host('a', 'rack:r1'), [], true],
    ['CLUSTER:v refuses another value', 'rack:CLUSTER:r1', host('a', 'rack:r2'), [], false],
    ['CLUSTER:v refuses an agent without the attribute', 'rack:CLUSTER:r1', host('a'), [], false],
    ['CLUSTER alone allows anything first', 'rack:CLUSTER', host('a', 'rack:r2'), [], true],
    ['CLUSTER alone follows the first instance', 'rack:CLUSTER', host('b', 'rack:r2'), [host('a', 'rack:r1')], false],
    ['CLUSTER alone allows the same value', 'rack:CLUSTER', host('b', 'rack:r1'), [host('a', 'rack:r1')], true],
    ['CLUSTER on hostname pins one host', 'hostname:CLUSTER:a', host('b'), [], false],

    ['GROUP_BY allows a value not used yet', 'rack:GROUP_BY', host('b', 'rack:r2'), [host('a', 'rack:r1')], true],
    ['GROUP_BY allows the least used value', 'rack:GROUP_BY', host('a', 'rack:r1'), [host('a', 'rack:r1'), host('b', 'rack:r2')], true],
    ['GROUP_BY refuses a value with more than the least', 'rack:GROUP_BY', host('a', 'rack:r1'), [host('a', 'rack:r1'), host('a', 'rack:r1'), host('b', 'rack:r2')], false],
    ['GROUP_BY:3 refuses doubling up before three values are used', 'rack:GROUP_BY:3', host('a', 'rack:r1'), [host('a', 'rack:r1'), host('b', 'rack:r2')], false],
    ['GROUP_BY:3 allows a third value', 'rack:GROUP_BY:3', host('c', 'rack:r3'), [host('a', 'rack:r1'), host('b', 'rack:r2')], true],
    ['GROUP_BY:2 allows doubling up once two values are used', 'rack:GROUP_BY:2', host('a', 'rack:r1'), [host('a', 'rack:r1'), host('b', 'rack:r2')], true],
    ['GROUP_BY refuses an agent without the attribute', 'rack:GROUP_BY', host('c'), [], false],

    ['MAX_PER allows below the limit', 'rack:MAX_PER:2', host('a', 'rack:r1'), [host('a', 'rack:r1')], true],
    ['MAX_PER refuses at the limit', 'rack:MAX_PER:2', host('b', 'rack:r1'), [host('a', 'rack:r1'), host('a', 'rack:r1')], false],
    ['MAX_PER counts per value', 'rack:MAX_PER:1', host('b', 'rack:r2'), [host('a', 'rack:r1')], true],
    ['MAX_PER:1 on hostname is UNIQUE', 'hostname:MAX_PER:1', host('a'), [host('a')], false],

    ['LIKE allows a full match', 'hostname:LIKE:web-[0-9]+', host('web-12'), [], true],
    ['LIKE refuses a partial match', 'hostname:LIKE:web-[0-9]+', host('web-12x'), [], false],
    ['LIKE refuses an agent without the attribute', 'rack:LIKE:r.*', host('a'), [], false],
    ['UNLIKE refuses a match', 'rack:UNLIKE:r[12]', host('a', 'rack:r1'), [], false],
    ['UNLIKE allows a non-match', 'rack:UNLIKE:r[12]', host('a', 'rack:r3'), [], true],
    ['UNLIKE allows an agent without the attribute', 'rack:UNLIKE:r[12]', host('a'), [], true],
  ];
  for (const [what, text, candidate, placed, allowed] of cases) {
    const verdict = checkConstraint(parse(text), candidate, placed);
    t.equal(verdict.ok, allowed, what);
    if (!verdict.ok) t.equal(verdict.constraint, text, `${what}: the verdict names the constraint`);
  }
});

t.test('contradictions', async (t) => {
  const cases: [string, string[], number, RegExp | undefined][] = [
    ['two CLUSTER values for one field', ['rack:CLUSTER:r1', 'rack:CLUSTER:r2'], 1, /cannot both hold/],
    ['CLUSTER with UNIQUE on the same field and 2 instances', ['hostname:CLUSTER:a', 'hostname:UNIQUE'], 2, /allows only 1 instance, not 2/],
    ['CLUSTER with UNIQUE and 1 instance is fine', ['hostname:CLUSTER:a', 'hostname:UNIQUE'], 1, undefined],
    ['CLUSTER with MAX_PER below the instances', ['rack:CLUSTER:r1', 'rack:MAX_PER:2'], 3, /allows only 2 instance/],
    ['CLUSTER:v that LIKE rules out', ['rack:CLUSTER:r1', 'rack:LIKE:x.*'], 1, /ruled out/],
    ['CLUSTER:v that UNLIKE rules out', ['rack:CLUSTER:r1', 'rack:UNLIKE:r.*'], 1, /ruled out/],
    ['LIKE and UNLIKE of the same regex', ['rack:LIKE:r1', 'rack:UNLIKE:r1'], 1, /exclude every agent/],
    ['constraints on different fields do not clash', ['rack:CLUSTER:r1', 'hostname:UNIQUE'], 5, undefined],
  ];
  for (const [what, texts, instances, expected] of cases) {
    const found = contradictions(texts.map(parse), instances);
    if (expected) t.ok(found.some((m) => expected.test(m)), `${what}: ${found.join('; ')}`);
    else t.same(found, [], what);
  }
});
