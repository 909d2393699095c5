import t from 'tap';
import { formatResources, scalar, type Resources } from '../../src/common/resources.js';
import { Allocator, type OfferDecision, type Quota } from '../../src/master/allocator/allocator.js';
import { res } from '../helpers/builders.js';

const NOW = 1_700_000_000_000;
const SECOND = 1000;
const DAY = 86_400 * SECOND;

/** Offers as `framework@agent/role resources`, sorted: the agent rotation does not matter here. */
const show = (offers: readonly OfferDecision[]): string[] =>
  offers.map((o) => `${o.frameworkId}@${o.agentId}/${o.role} ${formatResources(o.resources)}`).sort();

const quota = (guarantee: Record<string, number>, limit: Record<string, number> = {}): Quota => ({ guarantee, limit });

/** Hands every offer back, with a decline filter until `refuseUntil` when given. */
function declineAll(allocator: Allocator, offers: readonly OfferDecision[], refuseUntil?: number): void {
  for (const o of offers) allocator.recover(o.agentId, o.frameworkId, o.role, o.resources, refuseUntil);
}

/** An allocator with the given agents (id → resources text) and frameworks (id → roles). */
function cluster(agents: Record<string, string>, frameworks: Record<string, string[]>): Allocator {
  const allocator = new Allocator();
  for (const [id, roles] of Object.entries(frameworks)) allocator.addFramework(id, roles);
  for (const [id, text] of Object.entries(agents)) allocator.addAgent(id, res(text));
  return allocator;
}

const cpusOf = (r: Resources) => scalar(r, 'cpus');

t.test('DRF order across roles', async (t) => {
  t.test('a free agent goes to the role with the lower share, whatever the names', async (t) => {
    // total cpus:8;mem:2048 — role x holds cpus:2 on a0 → share 0.25; role y holds nothing → 0
    const allocator = cluster({}, { fx: ['x'], fy: ['y'] });
    allocator.addAgent('a0', res('cpus:4;mem:1024'), [{ frameworkId: 'fx', role: 'x', resources: res('cpus:2;mem:128') }]);
    allocator.deactivateAgent('a0');
    allocator.addAgent('a1', res('cpus:4;mem:1024'));
    t.strictSame(show(allocator.allocate(NOW)), ['fy@a1/y cpus:4;mem:1024']);
  });

  t.test('with equal shares the role first by name wins, then the other role gets the next agent', async (t) => {
    // both 0; a1 → x (by name) → x cpus:2 of 4 → 0.5; a2 → y (0 < 0.5)
    const allocator = cluster({ a1: 'cpus:2;mem:512', a2: 'cpus:2;mem:512' }, { fy: ['y'], fx: ['x'] });
    const offers = allocator.allocate(NOW);
    t.strictSame(show(offers).map((s) => s.split('@')[0]).sort(), ['fx', 'fy'], 'one agent each');
    t.equal(offers[0]?.role, 'x', 'the first agent of the cycle went to x');
  });

  t.test('a role weight lets a role hold more before yielding', async (t) => {
    // total cpus:12;mem:3072 over 3 agents; b has weight 2.
    // 1st agent: a 0, b 0 → a (by name) → a 1/3. 2nd: b 0 → b holds 1/3, ranked 1/3 / 2 = 1/6.
    // 3rd: b 1/6 < a 1/3 → b. (Unweighted it would be a tie, and a would win by name.)
    const allocator = cluster({ a1: 'cpus:4;mem:1024', a2: 'cpus:4;mem:1024', a3: 'cpus:4;mem:1024' }, { fa: ['a'], fb: ['b'] });
    allocator.setWeight('b', 2);
    const offers = allocator.allocate(NOW);
    t.equal(offers.filter((o) => o.role === 'a').length, 1);
    t.equal(offers.filter((o) => o.role === 'b').length, 2);
    t.equal(allocator.weight('b'), 2);
    t.equal(allocator.weight('a'), 1, 'weights default to 1');
  });
});

t.test('inside a role the framework with the lower share gets the agent', async (t) => {
  // role r: f1 holds cpus:2 on a0 → share 0.25 within the cluster; f2 holds nothing → 0
  const allocator = cluster({}, { f1: ['r'], f2: ['r'] });
  allocator.addAgent('a0', res('cpus:4;mem:1024'), [{ frameworkId: 'f1', role: 'r', resources: res('cpus:2;mem:128') }]);
  allocator.deactivateAgent('a0');
  allocator.addAgent('a1', res('cpus:4;mem:1024'));
  t.strictSame(show(allocator.allocate(NOW)), ['f2@a1/r cpus:4;mem:1024']);
});

t.test('a framework with several roles gets one offer per role', async (t) => {
  const allocator = cluster({ a1: 'cpus:2;mem:512', a2: 'cpus:2;mem:512' }, { multi: ['x', 'y'] });
  const offers = allocator.allocate(NOW);
  t.strictSame(offers.map((o) => `${o.frameworkId}/${o.role}`).sort(), ['multi/x', 'multi/y']);
});

t.test('static reservations', async (t) => {
  t.test('reserved resources go only to their role; unreserved ones still to others', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:1024;cpus(analytics):1' }, { fa: ['analytics'], fs: ['*'] });
    t.strictSame(show(allocator.allocate(NOW)), [
      'fa@a1/analytics cpus(analytics):1',
      'fs@a1/* cpus:2;mem:1024',
    ]);
  });

  t.test('a role other than the reserved one never sees them', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:1024;cpus(analytics):1;mem(analytics):256' }, { fo: ['other'] });
    t.strictSame(show(allocator.allocate(NOW)), ['fo@a1/other cpus:2;mem:1024']);
    t.strictSame(show(allocator.allocate(NOW + 1)), [], 'the reservation stays unoffered');
    t.equal(formatResources(allocator.available('a1') ?? []), 'cpus(analytics):1;mem(analytics):256');
  });

  t.test('the reserved role gets its reservation together with unreserved resources', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:1024;cpus(analytics):1' }, { fa: ['analytics'] });
    t.strictSame(show(allocator.allocate(NOW)), ['fa@a1/analytics cpus:2;cpus(analytics):1;mem:1024']);
  });
});

t.test('suppress stops offers for a role and revive brings them back', async (t) => {
  const allocator = cluster({ a1: 'cpus:2;mem:512' }, { f1: ['r'] });
  allocator.suppress('f1', []);
  t.strictSame(allocator.allocate(NOW), []);
  allocator.revive('f1', ['r']);
  t.strictSame(show(allocator.allocate(NOW + 1)), ['f1@a1/r cpus:2;mem:512']);
});

t.test('suppressing one role of a framework keeps offers for its other roles', async (t) => {
  const allocator = cluster({ a1: 'cpus:2;mem:512', a2: 'cpus:2;mem:512' }, { f1: ['x', 'y'] });
  allocator.suppress('f1', ['x']);
  t.strictSame(allocator.allocate(NOW).map((o) => o.role), ['y', 'y']);
});

t.test('decline filters', async (t) => {
  t.test('a declined agent is not offered again before refuseUntil, and is after', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:512' }, { f1: ['r'] });
    const refuseUntil = NOW + 5 * SECOND;
    declineAll(allocator, allocator.allocate(NOW), refuseUntil);
    t.strictSame(allocator.allocate(NOW + SECOND), [], 'filtered one second later');
    t.strictSame(allocator.allocate(refuseUntil - 1), [], 'filtered 1 ms before it expires');
    t.strictSame(show(allocator.allocate(refuseUntil)), ['f1@a1/r cpus:2;mem:512'], 'offered when it expires');
  });

  t.test('a filter belongs to one framework: another framework of the role gets the agent', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:512' }, { f1: ['r'], f2: ['r'] });
    const first = allocator.allocate(NOW);
    t.strictSame(show(first), ['f1@a1/r cpus:2;mem:512']);
    declineAll(allocator, first, NOW + DAY);
    t.strictSame(show(allocator.allocate(NOW + 1)), ['f2@a1/r cpus:2;mem:512']);
  });

  t.test('more than was declined (something freed up) is offered before the filter expires', async (t) => {
    const allocator = cluster({}, { f1: ['r'] });
    allocator.addAgent('a1', res('cpus:4;mem:1024'), [{ frameworkId: 'f1', role: 'r', resources: res('cpus:1;mem:256') }]);
    declineAll(allocator, allocator.allocate(NOW), NOW + DAY); // declined cpus:3;mem:768
    t.strictSame(allocator.allocate(NOW + 1), []);
    t.ok(allocator.recover('a1', 'f1', 'r', res('cpus:1;mem:256')), 'the task finished');
    t.strictSame(show(allocator.allocate(NOW + 2)), ['f1@a1/r cpus:4;mem:1024'], 'a superset of the declined resources');
  });

  t.test('less than was declined (a subset) stays filtered: Mesos\' subset rule', async (t) => {
    const allocator = cluster({ a1: 'cpus:4;mem:1024' }, { f1: ['r'] });
    declineAll(allocator, allocator.allocate(NOW), NOW + DAY); // declined cpus:4;mem:1024
    t.ok(allocator.recordUsed('a1', 'other', 'r2', res('cpus:1;mem:256')), 'something else takes part of the agent');
    t.strictSame(allocator.allocate(NOW + 1), [], 'cpus:3;mem:768 is within what was declined');
  });

  t.test('a filter is per role: declining for one role keeps offers for the other', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:512' }, { f1: ['x', 'y'] });
    const first = allocator.allocate(NOW);
    t.equal(first.length, 1);
    declineAll(allocator, first, NOW + DAY);
    const second = allocator.allocate(NOW + 1);
    t.strictSame(second.map((o) => o.role), [first[0]?.role === 'x' ? 'y' : 'x']);
  });

  t.test('revive clears the filters', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:512' }, { f1: ['r'] });
    declineAll(allocator, allocator.allocate(NOW), NOW + DAY);
    t.strictSame(allocator.allocate(NOW + 1), []);
    allocator.revive('f1', []);
    t.strictSame(show(allocator.allocate(NOW + 2)), ['f1@a1/r cpus:2;mem:512']);
  });
});

t.test('agents', async (t) => {
  t.test('deactivateAgent stops offers from that agent; activateAgent resumes them', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:512', a2: 'cpus:2;mem:512' }, { f1: ['r'] });
    allocator.deactivateAgent('a1');
    t.strictSame(show(allocator.allocate(NOW)), ['f1@a2/r cpus:2;mem:512']);
    allocator.activateAgent('a1');
    t.strictSame(show(allocator.allocate(NOW + 1)), ['f1@a1/r cpus:2;mem:512']);
  });

  t.test('deactivation keeps the agent\'s allocations', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:512' }, { f1: ['r'] });
    allocator.allocate(NOW);
    allocator.deactivateAgent('a1');
    t.equal(formatResources(allocator.allocatedOn('a1')), 'cpus:2;mem:512');
    t.equal(allocator.roleAllocation('r')['cpus'], 2);
  });

  t.test('removeAgent releases what was allocated on it', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:512', a2: 'cpus:2;mem:512' }, { f1: ['r'] });
    allocator.allocate(NOW);
    t.equal(allocator.roleAllocation('r')['cpus'], 4);
    allocator.removeAgent('a1');
    t.equal(allocator.roleAllocation('r')['cpus'], 2);
    t.equal(allocator.total()['cpus'], 2);
    t.equal(allocator.available('a1'), undefined);
    allocator.removeAgent('a1'); // a no-op for an unknown agent
    t.equal(allocator.total()['cpus'], 2);
  });
});

t.test('removeFramework: its agents go to the remaining frameworks', async (t) => {
  const allocator = cluster({ a1: 'cpus:2;mem:512' }, { f1: ['r'], f2: ['r'] });
  const first = allocator.allocate(NOW);
  t.strictSame(show(first), ['f1@a1/r cpus:2;mem:512']);
  declineAll(allocator, first);
  allocator.removeFramework('f1');
  t.strictSame(show(allocator.allocate(NOW + 1)), ['f2@a1/r cpus:2;mem:512']);
  allocator.removeFramework('f1'); // a no-op the second time
});

t.test('minimum offer chunk: cpus 0.01 or mem 32', async (t) => {
  const cases: { available: string; offered: boolean }[] = [
    { available: 'cpus:0.009;mem:31', offered: false },
    { available: 'disk:1024;ports:[31000-31010]', offered: false },
    { available: 'cpus:0.01', offered: true },
    { available: 'mem:32', offered: true },
    { available: 'cpus:0.005;mem:32;disk:10', offered: true },
  ];
  for (const c of cases) {
    const allocator = cluster({ a1: c.available }, { f1: ['r'] });
    t.equal(allocator.allocate(NOW).length, c.offered ? 1 : 0, `${c.available} ${c.offered ? 'is' : 'is not'} offered`);
  }
});

t.test('quota guarantee', async (t) => {
  t.test('a role gets its guarantee first even when another role has a lower share', async (t) => {
    // total cpus:9;mem:6144 — A holds mem:4000 on a0 (kept out of the cycle) → share 0.65; B holds
    // nothing → 0. Without quota B would take agents first; with guarantee cpus:4 A gets 4 cpus now.
    const allocator = cluster({}, { fa: ['A'], fb: ['B'] });
    allocator.setQuota('A', quota({ cpus: 4 }));
    allocator.addAgent('a0', res('cpus:1;mem:4096'), [{ frameworkId: 'fa', role: 'A', resources: res('mem:4000') }]);
    allocator.deactivateAgent('a0');
    for (const id of ['a1', 'a2', 'a3', 'a4']) allocator.addAgent(id, res('cpus:2;mem:512'));
    const offers = allocator.allocate(NOW);
    const cpusTo = (role: string) => offers.filter((o) => o.role === role).reduce((n, o) => n + cpusOf(o.resources), 0);
    t.strictSame(offers.slice(0, 2).map((o) => `${o.role} cpus:${cpusOf(o.resources)}`), ['A cpus:2', 'A cpus:2'], 'A is served before B');
    t.equal(cpusTo('A'), 4, 'A was offered its 4 cpus');
    t.equal(cpusTo('B'), 4, 'B got the rest');
    t.equal(allocator.roleAllocation('A')['cpus'], 4);
  });

  t.test('another role is not offered the headroom of an unmet guarantee while the role wants offers', async (t) => {
    const allocator = cluster({}, { fa: ['A'], fb: ['B'] });
    allocator.setQuota('A', quota({ cpus: 4 }));
    for (const id of ['a1', 'a2', 'a3', 'a4']) allocator.addAgent(id, res('cpus:2;mem:1024'));
    const first = allocator.allocate(NOW);
    t.equal(allocator.roleAllocation('A')['cpus'], 4);
    // A declines what it got for a day: its guarantee is unmet again, but B must leave 4 cpus free.
    declineAll(allocator, first.filter((o) => o.role === 'A'), NOW + DAY);
    const second = allocator.allocate(NOW + 1);
    t.equal(second.filter((o) => o.role === 'B').reduce((n, o) => n + cpusOf(o.resources), 0), 0, 'B is offered no cpus');
    t.equal(allocator.roleAllocation('B')['cpus'], 4, 'B keeps what it had');
    // Once A stops wanting offers, the headroom is released.
    allocator.suppress('fa', []);
    const third = allocator.allocate(NOW + 2);
    t.equal(third.filter((o) => o.role === 'B').reduce((n, o) => n + cpusOf(o.resources), 0), 4, 'B gets the freed cpus');
  });

  t.test('the guarantee is sized to what is missing: no more than it in the quota stage', async (t) => {
    const allocator = cluster({ a1: 'cpus:8;mem:4096' }, { fa: ['A'], fb: ['B'] });
    allocator.setQuota('A', quota({ cpus: 3, mem: 1024 }));
    const offers = allocator.allocate(NOW);
    t.strictSame(show(offers), ['fa@a1/A cpus:3;mem:1024', 'fb@a1/B cpus:5;mem:3072']);
  });
});

t.test('quota limit: a role never holds more than its limit; offers are chopped', async (t) => {
  const allocator = cluster({ a1: 'cpus:2;mem:1024', a2: 'cpus:2;mem:1024' }, { fl: ['L'] });
  allocator.setQuota('L', quota({}, { cpus: 3 }));
  const offers = allocator.allocate(NOW);
  t.strictSame(offers.map((o) => cpusOf(o.resources)).sort(), [1, 2]);
  t.equal(allocator.roleAllocation('L')['cpus'], 3);
  t.equal(allocator.roleAllocation('L')['mem'], 2048, 'kinds without a limit are not chopped');
  t.strictSame(allocator.allocate(NOW + 1), [], 'the last cpu is not offered');
  // Giving one cpu back makes room for exactly one.
  const big = offers.find((o) => cpusOf(o.resources) === 2)!;
  allocator.recover(big.agentId, 'fl', 'L', res('cpus:1'));
  const next = allocator.allocate(NOW + 2);
  t.equal(next.reduce((n, o) => n + cpusOf(o.resources), 0), 1);
  t.equal(allocator.roleAllocation('L')['cpus'], 3);
});

t.test('explanations: roleSummaries says why a role got nothing in the last cycle', async (t) => {
  const reasons = (allocator: Allocator, role: string) =>
    allocator.roleSummaries().find((s) => s.role === role)?.explanation.reasons ?? ['<role missing>'];

  t.test('no reasons when the role was offered something', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:512' }, { f1: ['r'] });
    allocator.allocate(NOW);
    const summary = allocator.roleSummaries().find((s) => s.role === 'r');
    t.strictSame(summary?.explanation, { offers: 1, reasons: [] });
    t.equal(summary?.weight, 1);
    t.equal(summary?.share, 1, 'it holds the whole cluster');
    t.strictSame(summary?.allocated, { cpus: 2, mem: 512 });
  });

  t.test('suppressed', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:512' }, { f1: ['r'] });
    allocator.suppress('f1', []);
    allocator.allocate(NOW);
    t.match(reasons(allocator, 'r'), [/suppressed/]);
  });

  t.test('filtered until T', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:512' }, { f1: ['r'] });
    const until = NOW + 60 * SECOND;
    declineAll(allocator, allocator.allocate(NOW), until);
    allocator.allocate(NOW + 1);
    const why = reasons(allocator, 'r');
    t.equal(why.length, 1);
    t.match(why[0], 'declined by its frameworks on 1 agent(s)');
    t.match(why[0], `filtered until ${new Date(until).toISOString()}`);
  });

  t.test('quota limit reached', async (t) => {
    const allocator = cluster({ a1: 'cpus:4;mem:1024' }, { f1: ['r'] });
    allocator.setQuota('r', quota({}, { cpus: 2, mem: 512 }));
    allocator.allocate(NOW);
    allocator.allocate(NOW + 1);
    t.strictSame(reasons(allocator, 'r'), ['quota limit reached (cpus 2/2, mem 512/512)']);
  });

  t.test('no framework', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:512' }, {});
    allocator.setQuota('lonely', quota({ cpus: 1 }));
    allocator.allocate(NOW);
    t.strictSame(reasons(allocator, 'lonely'), ['no framework is subscribed with this role']);
  });

  t.test('held back for another role\'s guarantee', async (t) => {
    const allocator = cluster({ a1: 'cpus:2' }, { fa: ['A'], fb: ['B'] });
    allocator.setQuota('A', quota({ cpus: 2 }));
    declineAll(allocator, allocator.allocate(NOW), NOW + DAY); // A got the agent and declined it
    allocator.allocate(NOW + 1);
    t.match(reasons(allocator, 'B'), [/held back on 1 agent\(s\) for other roles' quota guarantees/]);
  });

  t.test('nothing it may use', async (t) => {
    const allocator = cluster({ a1: 'cpus(other):2;mem(other):512' }, { f1: ['r'] });
    allocator.allocate(NOW);
    t.match(reasons(allocator, 'r'), [/no agent has resources this role may use/]);
  });
});

t.test('the skip cache', async (t) => {
  /** Every framework declines every agent for a day; the cycle after sees only filters. */
  function allDeclined(): Allocator {
    const allocator = cluster({ a1: 'cpus:2;mem:512', a2: 'cpus:2;mem:512', a3: 'cpus:2;mem:512' }, { f1: ['r'], f2: ['r'] });
    for (let now = NOW; ; now++) {
      const offers = allocator.allocate(now);
      if (offers.length === 0) break;
      declineAll(allocator, offers, NOW + DAY);
    }
    return allocator;
  }

  t.test('agents every framework declined are skipped and nothing is offered', async (t) => {
    const allocator = allDeclined();
    t.strictSame(allocator.allocate(NOW + 100), []);
    t.equal(allocator.lastSkippedAgents, 3);
  });

  t.test('a revive makes them offered again', async (t) => {
    const allocator = allDeclined();
    allocator.allocate(NOW + 100);
    allocator.revive('f2', []);
    t.equal(allocator.allocate(NOW + 101).length, 3);
    t.equal(allocator.lastSkippedAgents, 0);
  });

  t.test('a new framework makes them offered again', async (t) => {
    const allocator = allDeclined();
    allocator.allocate(NOW + 100);
    allocator.addFramework('f3', ['r']);
    t.strictSame(allocator.allocate(NOW + 101).map((o) => o.frameworkId), ['f3', 'f3', 'f3']);
  });

  t.test('resources coming back to an agent make it offered again', async (t) => {
    const allocator = allDeclined();
    allocator.recordUsed('a2', 'f1', 'r', res('cpus:1;mem:128'));
    allocator.allocate(NOW + 100);
    allocator.recover('a2', 'f1', 'r', res('cpus:1;mem:128'));
    // a2 changed, so it is looked at again; cpus:2;mem:512 is what was declined, so it stays filtered.
    t.strictSame(allocator.allocate(NOW + 101), []);
    t.equal(allocator.lastSkippedAgents, 2, 'a2 was looked at again, the other two skipped');
  });

  t.test('the filters expiring make them offered again', async (t) => {
    const allocator = allDeclined();
    allocator.allocate(NOW + 100);
    t.equal(allocator.allocate(NOW + DAY).length, 3);
  });
});

t.test('recover', async (t) => {
  t.test('of resources not held returns false and changes nothing', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:512' }, { f1: ['r'], f2: ['r'] });
    allocator.recordUsed('a1', 'f1', 'r', res('cpus:1;mem:128'));
    const before = { available: formatResources(allocator.available('a1') ?? []), role: { ...allocator.roleAllocation('r') } };
    t.equal(allocator.recover('a1', 'f1', 'r', res('cpus:2')), false, 'more than held');
    t.equal(allocator.recover('a1', 'f2', 'r', res('cpus:1')), false, 'held by another framework');
    t.equal(allocator.recover('a1', 'f1', 'other', res('cpus:1')), false, 'held for another role');
    t.equal(allocator.recover('a1', 'f1', 'r', res('ports:[31000-31000]')), false, 'a kind not held');
    t.equal(formatResources(allocator.available('a1') ?? []), before.available);
    t.strictSame(allocator.roleAllocation('r'), before.role);
    t.equal(formatResources(allocator.allocatedOn('a1')), 'cpus:1;mem:128');
  });

  t.test('of part of what is held returns it to the agent', async (t) => {
    const allocator = cluster({ a1: 'cpus:2;mem:512' }, { f1: ['r'] });
    allocator.allocate(NOW);
    t.ok(allocator.recover('a1', 'f1', 'r', res('cpus:0.5;mem:100')));
    t.equal(formatResources(allocator.available('a1') ?? []), 'cpus:0.5;mem:100');
    t.equal(formatResources(allocator.allocatedOn('a1')), 'cpus:1.5;mem:412');
  });
});
