import assert from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import { AttributeParseError, formatAttributes, parseAttributes, type Attributes } from '../../src/common/attributes.js';

const attrs = parseAttributes;

t.test('parseAttributes', async (t) => {
  const cases: [string, string, Attributes][] = [
    ['parses labels in the order given', 'zone:us-east-1a;rack:r1', [{ name: 'zone', value: 'us-east-1a' }, { name: 'rack', value: 'r1' }]],
    ['parses an empty string to nothing', '', []],
    ['parses blank text to nothing', '   ', []],
    ['tolerates spaces and trailing or duplicate separators', ' rack : r1 ;; os:linux; ', [
      { name: 'rack', value: 'r1' }, { name: 'os', value: 'linux' },
    ]],
    ['accepts names with capitals, digits, dots and dashes', 'Host.Type-2_x:big', [{ name: 'Host.Type-2_x', value: 'big' }]],
    ['keeps spaces inside a value', 'owner:team blue', [{ name: 'owner', value: 'team blue' }]],
  ];
  for (const [behaviour, text, want] of cases) t.strictSame(attrs(text), want, behaviour);
});

t.test('parseAttributes refuses malformed text, naming the bad part', async (t) => {
  const cases: [string, string, string, RegExp][] = [
    ['an item without a colon', 'rack', 'rack', /expected NAME:VALUE/],
    ['an empty name', 'rack:r1;:x', ':x', /empty name/],
    ['an empty value', 'rack:', 'rack:', /empty value/],
    ['a name with a space', 'my rack:r1', 'my rack', /not an attribute name/],
    ['a value with a colon', 'rack:r1:zone:z', 'rack:r1:zone:z', /more than one ':'/],
    ['a name given twice', 'rack:r1;zone:z;rack:r2', 'rack', /given twice/],
  ];
  for (const [what, text, part, problem] of cases) {
    t.test(`refuses ${what}`, async (t) => {
      const err = t.throws(() => attrs(text), AttributeParseError) as AttributeParseError;
      t.equal(err.name, 'AttributeParseError');
      t.equal(err.part, part, 'names the bad part');
      t.ok(err.message.startsWith(`invalid attributes '${text}': `), 'quotes the text');
      t.ok(err.message.includes(`'${part}'`), `quotes '${part}' in: ${err.message}`);
      t.match(err.message, problem, 'says what is wrong');
    });
  }
});

t.test('formatAttributes prints labels in order, and nothing for nothing', async (t) => {
  t.equal(formatAttributes([{ name: 'rack', value: 'r1' }, { name: 'zone', value: 'us-east-1a' }]), 'rack:r1;zone:us-east-1a');
  t.equal(formatAttributes([]), '');
});

t.test('parsing the text form gives back the attributes', async (t) => {
  // Names and values as names.ts defines them: no leading '.' or '-', no control characters.
  const nameArb = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,11}$/);
  const valueArb = fc.stringMatching(/^[^:;\s\p{Cc}](?:[^:;\p{Cc}\u2028\u2029]{0,10}[^:;\s\p{Cc}])?$/u);
  const attributesArb = fc.uniqueArray(fc.tuple(nameArb, valueArb).map(([name, value]) => ({ name, value })), { selector: (a) => a.name, maxLength: 6 });
  fc.assert(fc.property(attributesArb, (a) => {
    assert.deepStrictEqual(parseAttributes(formatAttributes(a)), a);
  }));
  t.pass('holds');
});
