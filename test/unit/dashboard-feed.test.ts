// The dashboard's data: the history ring buffers, top-k selection, and the capped snapshot built
// from a core's books (driven with fake channels and a manual clock).
import t from 'tap';
import fc from 'fast-check';
import { dashboardSnapshot, topByKey } from '../../src/master/http/dashboard-feed.js';
import { ClusterHistory, Ring } from '../../src/master/history.js';
import { summarizeCluster } from '../../src/master/cluster-summary.js';
import { PrometheusMetrics } from '../../src/master/metrics.js';
import type { ClusterEvent } from '../../src/master/metrics-port.js';
import { launch, setup, START, task } from '../helpers/core-harness.js';
import { parseMetrics, sample } from '../helpers/metrics-text.js';

const event = (n: number): ClusterEvent => ({ type: 'agent-registered', time: START + n, message: `agent ${n}` });

t.test('a ring keeps the newest entries up to its capacity', async (t) => {
  const ring = new Ring<number>(3);
  t.same(ring.toArray(), []);
  t.equal(ring.last(), undefined);
  for (const n of [1, 2, 3, 4, 5]) ring.push(n);
  t.same(ring.toArray(), [3, 4, 5], 'oldest first, the two oldest overwritten');
  t.same(ring.newest(2), [5, 4], 'newest first');
  t.equal(ring.last(), 5);
  t.equal(ring.size, 3);
  t.throws(() => new Ring(0), RangeError);
});

t.test('the history holds an hour of samples and a bounded, numbered event list', async (t) => {
  const history = new ClusterHistory({ sampleIntervalMs: 1000, spanMs: 10_000, eventsKept: 4 });
  for (let i = 0; i < 25; i++) history.addSample({ time: START + i * 1000, used: {}, total: {}, runningTasks: i, activeTasks: i, activeAgents: 1 });
  const samples = history.samplesSince();
  t.equal(samples.length, 10, 'span / interval samples');
  t.equal(samples[0]!.runningTasks, 15, 'the oldest kept');
  t.same(history.samplesSince(START + 22_000).map((s) => s.runningTasks), [23, 24], 'since: only newer ones');
  t.equal(history.latestSample()?.runningTasks, 24);
  for (let i = 1; i <= 6; i++) history.addEvent(event(i));
  t.same(history.events().map((e) => e.seq), [6, 5, 4, 3], 'newest first, the 4 kept');
  t.same(history.events(2).map((e) => e.message), ['agent 6', 'agent 5']);
  t.equal(history.eventCount, 6, 'the count covers the ones dropped');
});

t.test('topByKey picks the k largest, largest first, like sorting would', async (t) => {
  t.same(topByKey([5, 1, 9, 3, 7], (x) => x, 3), [9, 7, 5]);
  t.same(topByKey([], (x: number) => x, 3), []);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -1000, max: 1000 })), fc.integer({ min: 1, max: 20 }), (xs, k) => {
      const expected = [...xs].sort((a, b) => b - a).slice(0, k);
      const got = topByKey(xs, (x) => x, k);
      return JSON.stringify(got) === JSON.stringify(expected);
    }),
  );
});

t.test('the snapshot caps its tables, lists troubled agents first and tasks newest first', async (t) => {
  const s = setup(t);
  const agents: { id: string }[] = [];
  for (let i = 0; i < 250; i++) agents.push(await s.addAgent('cpus:4;mem:4096'));
  // Three of the last agents need a look: drained (no tasks), so they lead the table.
  const drained = agents.slice(-3).map((a) => a.id);
  for (const id of drained) await s.core.drainAgent(id);
  const fw = await s.addFramework({ name: 'web' });
  s.clock.advance(0);
  const offers = fw.channel.offers();
  const first = offers.find((o) => o.agentId === agents[0]!.id)!;
  const second = offers.find((o) => o.agentId === agents[1]!.id)!;
  await s.core.accept(fw.record(), [first.id], launch(task('old', first.agentId)));
  s.clock.advance(5_000);
  await s.core.accept(fw.record(), [second.id], launch(task('new', second.agentId, 'cpus:2;mem:256')));
  const history = new ClusterHistory();
  history.addEvent(event(1));

  const snap = dashboardSnapshot(s.core.view, history, { version: 'test', now: s.clock.now(), rows: 200 });
  t.equal(snap.agents.total, 250);
  t.equal(snap.agents.rows.length, 200, 'at most 200 rows');
  t.same(snap.agents.rows.slice(0, 3).map((a) => a.id), drained, 'drained agents first');
  t.same(snap.agents.rows.slice(0, 3).map((a) => a.status), ['drained', 'drained', 'drained']);
  t.same(snap.tasks.rows.map((r) => r.id), ['new', 'old'], 'newest first');
  t.equal(snap.tasks.total, 2);
  t.equal(snap.tasks.rows[0]!.resources, 'cpus:2;mem:256');
  t.equal(snap.tasks.rows[0]!.framework, 'web');
  t.equal(snap.tasks.rows[0]!.state, 'STAGING');
  t.same(snap.summary.resources.total, { cpus: 1000, mem: 1_024_000, disk: 0, gpus: 0 });
  t.same(snap.summary.resources.used, { cpus: 3, mem: 384, disk: 0, gpus: 0 });
  t.equal(snap.summary.agents.active, 247);
  t.equal(snap.summary.agents.drained, 3);
  t.equal(snap.frameworks.rows[0]!.tasks.STAGING, 2);
  t.equal(snap.events.total, 1);
  t.equal(snap.master.version, 'test');

  const small = dashboardSnapshot(s.core.view, history, { version: 'test', now: s.clock.now(), rows: 1 });
  t.same(small.tasks.rows.map((r) => r.id), ['new'], 'rows caps the tasks too');
  t.equal(small.tasks.total, 2, 'while the count stays whole');
});

t.test('the Prometheus metrics count what the core reports and read gauges off its books', async (t) => {
  const events: ClusterEvent[] = [];
  const metrics = new PrometheusMetrics({ onClusterEvent: (e) => events.push(e) });
  const s = setup(t, { metrics });
  metrics.observe(s.core.view);
  const agent = await s.addAgent('cpus:4;mem:4096');
  const fw = await s.addFramework();
  s.clock.advance(0);
  const offer = fw.channel.offers()[0]!;
  await s.core.accept(fw.record(), [offer.id], launch(task('t1', agent.id)));
  const samples = parseMetrics(await metrics.text());
  t.equal(sample(samples, 'orbit_offers_made_total'), 1);
  t.equal(sample(samples, 'orbit_offers_accepted_total'), 1);
  t.equal(sample(samples, 'orbit_tasks', { state: 'STAGING' }), 1);
  t.equal(sample(samples, 'orbit_resources_used', { resource: 'cpus' }), 1);
  t.equal(sample(samples, 'orbit_agents', { status: 'active' }), 1);
  t.same(summarizeCluster(s.core.view).tasks.STAGING, 1);
  t.ok(events.some((e) => e.type === 'agent-registered' && e.agentId === agent.id), 'cluster events are passed on');
  t.equal(sample(samples, 'orbit_cluster_events_total', { type: 'framework-subscribed' }), 1);
});
