import assert from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import { BlockList } from '../../src/master/allocator/block-list.js';

interface Item {
  name: string;
  key: number;
}

const compare = (a: Item, b: Item): number => a.key - b.key || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

type Op = { op: 'insert' | 'remove' | 'update'; item: number; key: number };
const opArb: fc.Arbitrary<Op> = fc.record({
  op: fc.constantFrom('insert' as const, 'remove' as const, 'update' as const),
  item: fc.nat(199),
  key: fc.integer({ min: 0, max: 20 }),
});

t.test('stays in the order of a full sort through random inserts, removals and updates', async (t) => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 600 }), (ops) => {
    const items = Array.from({ length: 200 }, (_, i): Item => ({ name: `item-${i}`, key: 0 }));
    const list = new BlockList(compare);
    const present = new Set<Item>();
    for (const { op, item, key } of ops) {
      const x = items[item]!;
      if (op === 'insert' && !present.has(x)) {
        x.key = key;
        list.insert(x);
        present.add(x);
      } else if (op === 'remove') {
        assert.equal(list.remove(x), present.delete(x));
      } else if (op === 'update') {
        const before = list.toArray();
        const moved = list.update(x, () => {
          x.key = key;
        });
        if (!present.has(x)) assert.equal(moved, false);
        else if (!moved) assert.deepStrictEqual(list.toArray(), before, 'not moved: the order is as it was');
      }
      const want = [...present].sort(compare);
      assert.deepStrictEqual(list.toArray(), want);
      assert.equal(list.size, want.length);
    }
  }), { numRuns: 60 });
  t.pass('holds');
});

t.test('find walks in order and stops at the first accepted item', async (t) => {
  const list = new BlockList(compare);
  for (let i = 0; i < 150; i++) list.insert({ name: `n${String(i).padStart(3, '0')}`, key: i % 3 });
  const seen: string[] = [];
  const found = list.find((x) => {
    seen.push(x.name);
    return x.key === 1 && x.name > 'n100';
  });
  t.equal(found?.name, 'n103');
  t.strictSame(seen, list.toArray().slice(0, seen.length).map((x) => x.name));
  t.equal(list.find(() => false), undefined, 'undefined when nothing is accepted');
});

t.test('resort reorders after keys changed from outside', async (t) => {
  const items = Array.from({ length: 100 }, (_, i): Item => ({ name: `i${i}`, key: i }));
  const list = new BlockList(compare);
  for (const x of items) list.insert(x);
  for (const x of items) x.key = -x.key;
  list.resort();
  t.strictSame(list.toArray(), [...items].sort(compare));
  t.ok(list.remove(items[50]!), 'an item is still found after the resort');
  t.equal(list.size, 99);
});

t.test('remove finds an item whose key was changed in place, and is a no-op for absent items', async (t) => {
  const items = Array.from({ length: 100 }, (_, i): Item => ({ name: `i${i}`, key: i }));
  const list = new BlockList(compare);
  for (const x of items) list.insert(x);
  items[10]!.key = 1000;
  t.ok(list.remove(items[10]!));
  t.notOk(list.remove(items[10]!));
  t.notOk(list.remove({ name: 'other', key: 5 }));
  t.equal(list.size, 99);
});
