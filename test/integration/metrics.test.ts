// GET /metrics on a real master with real agents: Prometheus text whose values follow the cluster.
import t from 'tap';
import { buildTask, takeResources } from '../../src/framework-sdk/index.js';
import { eventually, OfferPool, startCluster, updatesUntil } from '../helpers/cluster.js';
import { metricType, parseMetrics, sample, type Sample } from '../helpers/metrics-text.js';
import { testFetch } from '../helpers/http-client.js';

t.test('GET /metrics follows the cluster', async (t) => {
  const cluster = await startCluster(t, [{ hostname: 'alpha' }, { hostname: 'beta' }]);
  const scrape = async (): Promise<{ text: string; samples: Sample[]; contentType: string | null }> => {
    const res = await testFetch(`http://127.0.0.1:${cluster.master.httpPort}/metrics`);
    const text = await res.text();
    return { text, samples: parseMetrics(text), contentType: res.headers.get('content-type') };
  };
  const [alpha, beta] = cluster.agents.map((a) => a.agentId());

  await t.test('serves Prometheus text with every family typed', async (t) => {
    const { text, contentType } = await scrape();
    t.match(contentType, /^text\/plain; version=0\.0\.4/);
    const families: [string, string][] = [
      ['orbit_agents', 'gauge'],
      ['orbit_frameworks', 'gauge'],
      ['orbit_tasks', 'gauge'],
      ['orbit_resources_total', 'gauge'],
      ['orbit_resources_used', 'gauge'],
      ['orbit_offers_outstanding', 'gauge'],
      ['orbit_offers_made_total', 'counter'],
      ['orbit_offers_accepted_total', 'counter'],
      ['orbit_offers_declined_total', 'counter'],
      ['orbit_offers_rescinded_total', 'counter'],
      ['orbit_allocation_run_seconds', 'histogram'],
      ['orbit_status_updates_relayed_total', 'counter'],
      ['orbit_registry_write_seconds', 'histogram'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
    ];
    for (const [name, type] of families) t.equal(metricType(text, name), type, `${name} is a ${type}`);
  });

  await t.test('agents and resources match the two registered agents', async (t) => {
    const { samples } = await scrape();
    t.equal(sample(samples, 'orbit_agents', { status: 'active' }), 2);
    t.equal(sample(samples, 'orbit_agents', { status: 'unreachable' }), 0);
    t.equal(sample(samples, 'orbit_agents', { status: 'draining' }), 0);
    t.equal(sample(samples, 'orbit_resources_total', { resource: 'cpus' }), 4, 'two agents of 2 cpus');
    t.equal(sample(samples, 'orbit_resources_total', { resource: 'mem' }), 2048);
    t.equal(sample(samples, 'orbit_resources_used', { resource: 'cpus' }), 0);
    t.ok((sample(samples, 'orbit_registry_write_seconds_count') ?? 0) >= 2, 'admitting the agents wrote the registry');
  });

  const fw = await cluster.framework({ name: 'metrics' });
  const pool = new OfferPool(fw);

  await t.test('after launching 2 tasks: RUNNING is 2, offers accepted and declined are counted', async (t) => {
    const unwanted = await pool.take((o) => o.agentId === alpha);
    await fw.decline([unwanted.id], { refuseSeconds: 0 });
    const offer = await pool.take((o) => o.agentId === alpha);
    const tasks = ['one', 'two'].map((name) => buildTask({ offer, name, resources: takeResources(offer, 'cpus:0.5;mem:64')!, process: true, command: 'sleep 30' }));
    const running = tasks.map((task) => updatesUntil(fw, task.taskId, 'RUNNING'));
    await fw.launch(offer, tasks);
    await Promise.all(running);
    const { samples } = await eventually('the gauges to show 2 running tasks', async () => {
      const s = await scrape();
      return sample(s.samples, 'orbit_tasks', { state: 'RUNNING' }) === 2 ? s : undefined;
    });
    t.equal(sample(samples, 'orbit_tasks', { state: 'RUNNING' }), 2, 'orbit_tasks{state="RUNNING"} 2');
    t.equal(sample(samples, 'orbit_tasks', { state: 'FAILED' }), 0, 'every state is there, at 0 when empty');
    t.equal(sample(samples, 'orbit_resources_used', { resource: 'cpus' }), 1, 'two tasks of 0.5 cpus');
    t.equal(sample(samples, 'orbit_resources_used', { resource: 'mem' }), 128);
    t.ok((sample(samples, 'orbit_offers_accepted_total') ?? 0) >= 1, 'offers accepted ≥ 1');
    t.ok((sample(samples, 'orbit_offers_declined_total') ?? 0) >= 1, 'offers declined ≥ 1');
    t.ok((sample(samples, 'orbit_offers_made_total') ?? 0) >= 2, 'offers made ≥ 2');
    t.ok((sample(samples, 'orbit_status_updates_relayed_total', { source: 'AGENT' }) ?? 0) >= 4, 'STARTING and RUNNING of both relayed');
    t.ok((sample(samples, 'orbit_allocation_run_seconds_count') ?? 0) >= 1, 'allocation cycles are timed');
    t.equal(sample(samples, 'orbit_frameworks', { status: 'active' }), 1);
    t.type(sample(samples, 'nodejs_eventloop_lag_seconds'), 'number', 'event-loop lag is reported');
  });

  await t.test('an outstanding offer is a gauge, and draining its agent rescinds it', async (t) => {
    await pool.take((o) => o.agentId === beta);
    const before = await scrape();
    t.ok((sample(before.samples, 'orbit_offers_outstanding') ?? 0) >= 1, 'the held offer is outstanding');
    cluster.master.core.drainAgent(beta!);
    const { samples } = await eventually('beta drained in the gauges', async () => {
      const s = await scrape();
      return sample(s.samples, 'orbit_agents', { status: 'drained' }) === 1 ? s : undefined;
    });
    t.ok((sample(samples, 'orbit_offers_rescinded_total') ?? 0) >= 1, 'offers rescinded ≥ 1');
    t.equal(sample(samples, 'orbit_agents', { status: 'active' }), 1);
    t.equal(sample(samples, 'orbit_cluster_events_total', { type: 'agent-draining' }), 1, 'the drain is counted as a cluster event');
  });
});
