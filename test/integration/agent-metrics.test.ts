import t from 'tap';
import { buildTask } from '../../src/framework-sdk/index.js';
import { nextEvent, OfferPool, startCluster, updatesUntil } from '../helpers/cluster.js';
import { parseMetrics, sample } from '../helpers/metrics-text.js';
import { testFetch } from '../helpers/http-client.js';

t.test("an agent's /metrics shows its tasks, resources and pending updates", async (t) => {
  const cluster = await startCluster(t, [{ resources: 'cpus:2;mem:1024' }]);
  const agent = cluster.agents[0]!;
  const scrape = async () => {
    const res = await testFetch(`http://127.0.0.1:${agent.httpPort}/metrics`);
    t.match(res.headers.get('content-type'), /text\/plain/);
    return parseMetrics(await res.text());
  };
  let m = await scrape();
  t.equal(sample(m, 'orbit_agent_resources_total', { resource: 'cpus' }), 2);
  t.equal(sample(m, 'orbit_agent_resources_used', { resource: 'cpus' }), 0);
  t.equal(sample(m, 'orbit_agent_connected'), 1);
  t.ok(sample(m, 'nodejs_eventloop_lag_seconds') !== undefined, 'event-loop lag is there');

  const fw = await cluster.framework({ name: 'metrics' });
  const pool = new OfferPool(fw);
  const offer = await pool.take();
  const task = buildTask({ offer, resources: 'cpus:0.5;mem:64', command: 'sleep 30' });
  const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
  await fw.launch(offer, [task]);
  await running;
  m = await scrape();
  t.equal(sample(m, 'orbit_agent_tasks', { state: 'RUNNING' }), 1);
  t.equal(sample(m, 'orbit_agent_resources_used', { resource: 'cpus' }), 0.5);
  t.equal(sample(m, 'orbit_agent_resources_used', { resource: 'mem' }), 64);
  const killed = updatesUntil(fw, task.taskId, 'KILLED');
  await fw.kill(task.taskId);
  await killed;
});
