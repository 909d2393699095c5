import t from 'tap';
import type { Scalars } from '../../src/common/scalars.js';
import { DrfSorter } from '../../src/master/allocator/sorter.js';

/** One step applied to a sorter; names are clients. */
type Step =
  | { add: string; weight?: number }
  | { remove: string }
  | { activate: string }
  | { deactivate: string }
  | { allocated: string; amount: Scalars }
  | { unallocated: string; amount: Scalars }
  | { weight: string; to: number }
  | { total: Scalars };

function run(steps: readonly Step[]): DrfSorter {
  const sorter = new DrfSorter();
  for (const s of steps) {
    if ('add' in s) sorter.add(s.add, s.weight);
    else if ('remove' in s) sorter.remove(s.remove);
    else if ('activate' in s) sorter.activate(s.activate);
    else if ('deactivate' in s) sorter.deactivate(s.deactivate);
    else if ('allocated' in s) sorter.allocated(s.allocated, s.amount);
    else if ('unallocated' in s) sorter.unallocated(s.unallocated, s.amount);
    else if ('weight' in s) sorter.updateWeight(s.weight, s.to);
    else sorter.updateTotal(s.total);
  }
  return sorter;
}

const TOTAL = { total: { cpus: 10, mem: 100 } } as const;

const cases: { name: string; steps: Step[]; order: string[] }[] = [
  {
    name: 'ranks clients by dominant share, lowest first',
    // total cpus:10;mem:100 — role1 cpus:2 → share 0.2; role2 mem:50 → share 0.5; role3 nothing → 0
    steps: [TOTAL, { add: 'role1' }, { add: 'role2' }, { add: 'role3' },
      { allocated: 'role1', amount: { cpus: 2 } }, { allocated: 'role2', amount: { mem: 50 } }],
    order: ['role3', 'role1', 'role2'],
  },
  {
    name: 'the dominant share is the largest fraction over the kinds',
    // total cpus:10;mem:100 — a cpus:1;mem:60 → max(0.1, 0.6) = 0.6; b cpus:5;mem:10 → max(0.5, 0.1) = 0.5
    steps: [TOTAL, { add: 'a' }, { add: 'b' },
      { allocated: 'a', amount: { cpus: 1, mem: 60 } }, { allocated: 'b', amount: { cpus: 5, mem: 10 } }],
    order: ['b', 'a'],
  },
  {
    name: 'only cpus, mem, disk and gpus count towards the share',
    // total cpus:10;mem:100;bandwidth:2000 — a bandwidth:2000 (all of it) → share 0; b cpus:1 → 0.1
    steps: [{ total: { cpus: 10, mem: 100, bandwidth: 2000 } }, { add: 'b' }, { add: 'a' },
      { allocated: 'a', amount: { bandwidth: 2000 } }, { allocated: 'b', amount: { cpus: 1 } }],
    order: ['a', 'b'],
  },
  {
    name: 'equal shares are ordered by name',
    // total cpus:10;mem:100 — zeta cpus:3 → 0.3; alpha mem:30 → 0.3; mid nothing → 0
    steps: [TOTAL, { add: 'zeta' }, { add: 'mid' }, { add: 'alpha' },
      { allocated: 'zeta', amount: { cpus: 3 } }, { allocated: 'alpha', amount: { mem: 30 } }],
    order: ['mid', 'alpha', 'zeta'],
  },
  {
    name: 'a weight divides the share: weight 2 halves it',
    // total cpus:10;mem:100 — heavy (weight 2) cpus:6 → 0.6 / 2 = 0.3; light cpus:4 → 0.4
    steps: [TOTAL, { add: 'heavy', weight: 2 }, { add: 'light' },
      { allocated: 'heavy', amount: { cpus: 6 } }, { allocated: 'light', amount: { cpus: 4 } }],
    order: ['heavy', 'light'],
  },
  {
    name: 'updateWeight re-ranks the client',
    // total cpus:10;mem:100 — x cpus:6 → 0.6, then weight 3 → 0.2; y cpus:4 → 0.4
    steps: [TOTAL, { add: 'x' }, { add: 'y' },
      { allocated: 'x', amount: { cpus: 6 } }, { allocated: 'y', amount: { cpus: 4 } }, { weight: 'x', to: 3 }],
    order: ['x', 'y'],
  },
  {
    name: 'deactivate takes a client out of the order',
    // total cpus:10;mem:100 — a 0; b cpus:1 → 0.1; a deactivated
    steps: [TOTAL, { add: 'a' }, { add: 'b' }, { allocated: 'b', amount: { cpus: 1 } }, { deactivate: 'a' }],
    order: ['b'],
  },
  {
    name: 'activate puts a client back where its kept allocation ranks it',
    // total cpus:10;mem:100 — a cpus:5 → 0.5 (kept while inactive); b cpus:1 → 0.1
    steps: [TOTAL, { add: 'a' }, { add: 'b' }, { allocated: 'a', amount: { cpus: 5 } }, { deactivate: 'a' },
      { allocated: 'b', amount: { cpus: 1 } }, { activate: 'a' }],
    order: ['b', 'a'],
  },
  {
    name: 'allocations recorded while inactive count when it comes back',
    // total cpus:10;mem:100 — a deactivated, then cpus:7 → 0.7; b cpus:2 → 0.2
    steps: [TOTAL, { add: 'a' }, { add: 'b' }, { deactivate: 'a' }, { allocated: 'a', amount: { cpus: 7 } },
      { allocated: 'b', amount: { cpus: 2 } }, { activate: 'a' }],
    order: ['b', 'a'],
  },
  {
    name: 'allocated moves a client back in the order',
    // total cpus:10;mem:100 — a 0 → cpus:3 → 0.3; b cpus:2 → 0.2
    steps: [TOTAL, { add: 'a' }, { add: 'b' }, { allocated: 'b', amount: { cpus: 2 } }, { allocated: 'a', amount: { cpus: 3 } }],
    order: ['b', 'a'],
  },
  {
    name: 'unallocated moves a client forward in the order',
    // total cpus:10;mem:100 — a cpus:5 − cpus:4 → 0.1; b mem:20 → 0.2
    steps: [TOTAL, { add: 'a' }, { add: 'b' }, { allocated: 'a', amount: { cpus: 5 } }, { allocated: 'b', amount: { mem: 20 } },
      { unallocated: 'a', amount: { cpus: 4 } }],
    order: ['a', 'b'],
  },
  {
    name: 'remove of an absent client is a no-op',
    // total cpus:10;mem:100 — a cpus:1 → 0.1; b 0
    steps: [TOTAL, { add: 'a' }, { add: 'b' }, { allocated: 'a', amount: { cpus: 1 } }, { remove: 'ghost' }],
    order: ['b', 'a'],
  },
  {
    name: 'add of a present client is a no-op and keeps its allocation',
    // total cpus:10;mem:100 — a cpus:4 → 0.4 (re-adding does not reset it); b cpus:2 → 0.2
    steps: [TOTAL, { add: 'a' }, { add: 'b' }, { allocated: 'a', amount: { cpus: 4 } }, { allocated: 'b', amount: { cpus: 2 } },
      { add: 'a' }],
    order: ['b', 'a'],
  },
  {
    name: 'remove then add starts the client with nothing',
    // total cpus:10;mem:100 — a cpus:4, removed, re-added → 0; b cpus:2 → 0.2
    steps: [TOTAL, { add: 'a' }, { add: 'b' }, { allocated: 'a', amount: { cpus: 4 } }, { allocated: 'b', amount: { cpus: 2 } },
      { remove: 'a' }, { add: 'a' }],
    order: ['a', 'b'],
  },
  {
    name: 'removing an inactive client removes it for good',
    steps: [TOTAL, { add: 'a' }, { add: 'b' }, { deactivate: 'a' }, { remove: 'a' }, { activate: 'a' }],
    order: ['b'],
  },
  {
    name: 'updateTotal re-ranks everyone',
    // total cpus:10;mem:100 — a cpus:4 → 0.4; b mem:30 → 0.3, so b first;
    // then total cpus:100;mem:100 — a cpus:4 → 0.04; b mem:30 → 0.3, so a first
    steps: [TOTAL, { add: 'a' }, { add: 'b' }, { allocated: 'a', amount: { cpus: 4 } }, { allocated: 'b', amount: { mem: 30 } },
      { total: { cpus: 100, mem: 100 } }],
    order: ['a', 'b'],
  },
  {
    name: 'a kind missing from the total does not count',
    // total cpus:10 (no mem) — a mem:1000 → 0; b cpus:1 → 0.1
    steps: [{ total: { cpus: 10 } }, { add: 'a' }, { add: 'b' },
      { allocated: 'a', amount: { mem: 1000 } }, { allocated: 'b', amount: { cpus: 1 } }],
    order: ['a', 'b'],
  },
  {
    name: 'activate and deactivate of unknown clients are no-ops',
    steps: [TOTAL, { add: 'a' }, { activate: 'ghost' }, { deactivate: 'ghost' }, { activate: 'a' }],
    order: ['a'],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const sorter = run(c.steps);
    t.strictSame(sorter.sort(), c.order);
    t.equal(sorter.size, c.order.length, 'size counts the active clients');
  });
}

t.test('share reports the unweighted dominant share; weight and allocation are kept per client', async (t) => {
  // total cpus:10;mem:100 — a (weight 2) cpus:2;mem:50 → share 0.5 (ranked as 0.25)
  const sorter = run([TOTAL, { add: 'a', weight: 2 }, { allocated: 'a', amount: { cpus: 2, mem: 50 } }]);
  t.equal(sorter.share('a'), 0.5);
  t.equal(sorter.weight('a'), 2);
  t.strictSame(sorter.allocation('a'), { cpus: 2, mem: 50 });
  t.equal(sorter.share('ghost'), 0, 'unknown clients have share 0');
  t.strictSame(sorter.allocation('ghost'), {});
  t.equal(sorter.weight('ghost'), 1);
});

t.test('deactivate keeps the allocation; remove drops it', async (t) => {
  const sorter = run([TOTAL, { add: 'a' }, { allocated: 'a', amount: { cpus: 3 } }, { deactivate: 'a' }]);
  t.ok(sorter.has('a'));
  t.strictSame(sorter.allocation('a'), { cpus: 3 });
  sorter.remove('a');
  t.notOk(sorter.has('a'));
  t.strictSame(sorter.allocation('a'), {});
});

t.test('allocated and unallocated of an unknown client change nothing', async (t) => {
  const sorter = run([TOTAL, { add: 'a' }, { allocated: 'ghost', amount: { cpus: 5 } }, { unallocated: 'ghost', amount: { cpus: 5 } }]);
  t.strictSame(sorter.sort(), ['a']);
  t.notOk(sorter.has('ghost'));
});

t.test('sort returns a snapshot: a later change makes a new array', async (t) => {
  // total cpus:10;mem:100 — a, b both 0 → [a, b]; then a cpus:1 → 0.1 → [b, a]
  const sorter = run([TOTAL, { add: 'a' }, { add: 'b' }]);
  const before = sorter.sort();
  t.equal(sorter.sort(), before, 'unchanged sorter gives the same array');
  sorter.allocated('a', { cpus: 1 });
  t.strictSame(before, ['a', 'b'], 'the earlier snapshot is untouched');
  t.strictSame(sorter.sort(), ['b', 'a']);
});

t.test('an allocation that leaves the order as it was keeps the snapshot', async (t) => {
  // total cpus:10;mem:100 — a cpus:1 → 0.1, b cpus:5 → 0.5; a cpus:+1 → 0.2 still below b
  const sorter = run([TOTAL, { add: 'a' }, { add: 'b' }, { allocated: 'a', amount: { cpus: 1 } }, { allocated: 'b', amount: { cpus: 5 } }]);
  const before = sorter.sort();
  sorter.allocated('a', { cpus: 1 });
  t.equal(sorter.sort(), before, 'same array');
  t.strictSame(before, ['a', 'b']);
  sorter.allocated('a', { cpus: 4 }); // a 0.6 → after b
  t.strictSame(sorter.sort(), ['b', 'a']);
  t.strictSame(before, ['a', 'b'], 'the earlier snapshot is untouched');
});

t.test('find gives the first active client in order that is accepted', async (t) => {
  // total cpus:10;mem:100 — a 0.3, b 0.1, c 0 (inactive), d 0.2 → order b, d, a
  const sorter = run([TOTAL, { add: 'a' }, { add: 'b' }, { add: 'c' }, { add: 'd' }, { deactivate: 'c' },
    { allocated: 'a', amount: { cpus: 3 } }, { allocated: 'b', amount: { cpus: 1 } }, { allocated: 'd', amount: { mem: 20 } }]);
  const asked: string[] = [];
  t.equal(sorter.find((name) => {
    asked.push(name);
    return name !== 'b';
  }), 'd');
  t.strictSame(asked, ['b', 'd'], 'asked in DRF order, stopping at the first accepted');
  t.equal(sorter.find(() => false), undefined, 'undefined when none is accepted');
  t.equal(new DrfSorter().find(() => true), undefined, 'undefined when empty');
});

t.test('many clients stay ordered through random allocations (checked against a full sort)', async (t) => {
  // A deterministic pseudo-random walk; the incremental order must equal sorting from scratch.
  const sorter = new DrfSorter();
  const total = { cpus: 100, mem: 1000 };
  sorter.updateTotal(total);
  const held = new Map<string, { cpus: number; mem: number; weight: number; active: boolean }>();
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 20; i++) {
    const name = `c${String(i).padStart(2, '0')}`;
    const weight = 1 + rand(3);
    sorter.add(name, weight);
    held.set(name, { cpus: 0, mem: 0, weight, active: true });
  }
  for (let step = 0; step < 500; step++) {
    const name = `c${String(rand(20)).padStart(2, '0')}`;
    const h = held.get(name)!;
    const op = rand(5);
    if (op <= 1) {
      const amount = { cpus: rand(5), mem: rand(50) };
      sorter.allocated(name, amount);
      h.cpus += amount.cpus;
      h.mem += amount.mem;
    } else if (op === 2 && h.cpus > 0) {
      sorter.unallocated(name, { cpus: 1 });
      h.cpus -= 1;
    } else if (op === 3) {
      if (h.active) sorter.deactivate(name);
      else sorter.activate(name);
      h.active = !h.active;
    } else {
      h.weight = 1 + rand(3);
      sorter.updateWeight(name, h.weight);
    }
  }
  const key = (h: { cpus: number; mem: number; weight: number }) => Math.max(h.cpus / total.cpus, h.mem / total.mem) / h.weight;
  const expected = [...held.entries()]
    .filter(([, h]) => h.active)
    .sort(([a, x], [b, y]) => key(x) - key(y) || (a < b ? -1 : 1))
    .map(([name]) => name);
  t.strictSame(sorter.sort(), expected);
});
