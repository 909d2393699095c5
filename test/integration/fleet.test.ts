import t from 'tap';
import { startFleet } from '../../src/agent/fleet.js';
import { parseResources } from '../../src/common/resources.js';
import { buildTask, SchedulerClient, type Offer } from '../../src/framework-sdk/index.js';
import { cliBuildProblem, freePorts, runOrbit, spawnOrbit } from '../helpers/cli.js';
import { eventually, FAST_MASTER, startMasterForTest, tempDir, updatesUntil } from '../helpers/cluster.js';
import { AGENT, OPERATOR_CREDENTIALS_FILE } from '../helpers/pki.js';
import { testFetch } from '../helpers/http-client.js';

const COUNT = 60;

t.test('a fleet of simulated agents registers, runs tasks and comes back after a master restart', async (t) => {
  const [port] = await freePorts(1);
  const masterDir = tempDir(t);
  let master = await startMasterForTest(t, masterDir, port!);
  const fleet = await startFleet({
    master: master.address,
    security: AGENT,
    count: COUNT,
    connections: 3,
    resources: parseResources('cpus:2;mem:1024'),
    hostnamePrefix: 'rehearsal',
    workDir: tempDir(t),
    backoffBaseMs: 50,
    backoffMaxMs: 500,
    statusRetryBaseMs: 300,
  });
  t.teardown(() => fleet.stop());
  t.equal(fleet.connections, 3);
  await fleet.allConnected(20_000);

  const agents = (await (await testFetch(`http://127.0.0.1:${master.httpPort}/state`)).json()).agents as { id: string; hostname: string; httpPort: number }[];
  t.equal(agents.length, COUNT, 'every simulated agent is an agent of the master');
  t.same(agents.map((a) => a.hostname).sort(), Array.from({ length: COUNT }, (_, i) => `rehearsal-${String(i + 1).padStart(2, '0')}`), 'named PREFIX-NN');
  t.ok(agents.every((a) => a.httpPort === 0), 'fleet agents serve no HTTP');
  const ids = new Set(fleet.agents.map((a) => a.agentId()));
  t.equal(ids.size, COUNT, 'each agent has an id of its own');

  const fw = new SchedulerClient({ master: master.address, framework: { name: 'fleet-test', failoverTimeoutMs: 60_000 }, reconnectBaseMs: 50, reconnectMaxMs: 500 });
  t.teardown(() => fw.close());
  const offers = new Map<string, Offer>();
  fw.on('offers', (batch) => {
    for (const o of batch) offers.set(o.agentId, o);
  });
  await fw.start();
  await eventually('an offer from every agent', () => offers.size === COUNT, 15_000);

  // One short task on every agent, and one that runs until the master has restarted.
  const short = [...offers.values()].map((offer) => ({ offer, task: buildTask({ offer, resources: 'cpus:1;mem:128', simulated: { durationMs: 50 } }) }));
  const finished = short.map(({ task }) => updatesUntil(fw, task.taskId, 'FINISHED', 20_000));
  const lastOffer = short[0]!.offer;
  const long = buildTask({ agentId: lastOffer.agentId, resources: 'cpus:1;mem:128', simulated: {} });
  const longRunning = updatesUntil(fw, long.taskId, 'RUNNING');
  for (const { offer, task } of short) await fw.launch(offer, offer === lastOffer ? [task, long] : [task], { refuseSeconds: 0 });
  const ends = await Promise.all(finished);
  t.ok(ends.every((u) => u.at(-1)?.state === 'FINISHED'), `${COUNT} simulated tasks, one per agent, all FINISHED`);
  await longRunning;

  await master.stop();
  await eventually('the fleet notices', () => fleet.connectedCount() < COUNT);
  master = await startMasterForTest(t, masterDir, port!);
  await fleet.allConnected(30_000);
  t.same(new Set(fleet.agents.map((a) => a.agentId())), ids, 'every agent re-registered with the id it had');
  const state = await (await testFetch(`http://127.0.0.1:${master.httpPort}/state`)).json();
  t.equal(state.agents.length, COUNT);
  const tasks = (state.frameworks as { tasks: { id: string; state: string }[] }[]).flatMap((f) => f.tasks);
  t.equal(tasks.find((task) => task.id === long.taskId)?.state, 'RUNNING', 'the running task came back with its agent');
});

t.test('a fleet refuses what it cannot be', async (t) => {
  const base = { master: '127.0.0.1:1', security: AGENT, resources: parseResources('cpus:1'), workDir: tempDir(t) };
  await t.rejects(startFleet({ ...base, count: 0 }), /1 to 100000 agents, not 0/);
  await t.rejects(startFleet({ ...base, count: 2, connections: 3 }), /connections must be 1 to the number of agents \(2\), not 3/);
  await t.rejects(startFleet({ ...base, count: 2, startRate: 0 }), /startRate must be more than 0/);
});

t.test('orbit fleet', { skip: cliBuildProblem() }, async (t) => {
  await t.test('rejects bad flags, naming them', async (t) => {
    const dir = tempDir(t);
    const cases: [string[], RegExp][] = [
      [['fleet', '--work-dir', dir], /--agents is required/],
      [['fleet', '--agents', '0', '--work-dir', dir], /--agents: expected an integer >= 1, got '0'/],
      [['fleet', '--agents', '2.5', '--work-dir', dir], /--agents: expected an integer >= 1/],
      [['fleet', '--agents', '200000', '--work-dir', dir], /--agents: at most 100000/],
      [['fleet', '--agents', '2', '--connections', '3', '--work-dir', dir], /--connections: at most one per agent \(2\), got 3/],
      [['fleet', '--agents', '2', '--resources', 'cpus:lots', '--work-dir', dir], /--resources: /],
      [['fleet', '--agents', '2', '--hostname-prefix', 'a b', '--work-dir', dir], /--hostname-prefix: 'a b' is not a hostname/],
      [['fleet', '--agents', '2'], /--work-dir is required/],
      [['fleet', '--agents', '2', '--start-rate', '0', '--work-dir', dir], /--start-rate must be more than 0/],
      [['fleet', '--credentials', OPERATOR_CREDENTIALS_FILE, '--agents', '2', '--work-dir', dir], /holds a certificate for operator:admin; an agent needs an agent certificate .*orbit cert issue agent fleet/],
    ];
    for (const [args, message] of cases) {
      const r = await runOrbit(t, args, { timeoutMs: 20_000 });
      t.equal(r.code, 1, args.join(' '));
      t.match(r.stderr, message, args.join(' '));
    }
  });

  await t.test('runs agents until told to stop, and says when all are registered', async (t) => {
    const [grpc, http] = await freePorts(2);
    const master = spawnOrbit(t, ['master', '--port', String(grpc), '--http-port', String(http), '--work-dir', tempDir(t), '--allocation-interval', String(FAST_MASTER.allocationIntervalMs / 1000)]);
    await eventually('the master listens', () => master.stdout().includes('listening'), 20_000);
    const fleet = spawnOrbit(t, ['fleet', '--master', `127.0.0.1:${grpc}`, '--agents', '25', '--connections', '2', '--resources', 'cpus:4;mem:4096', '--work-dir', tempDir(t)]);
    await eventually('all registered', () => /all 25 agents registered after [\d.]+ s/.test(fleet.stdout()), 30_000);
    t.match(fleet.stdout(), /25 simulated agents offering cpus:4;mem:4096 each, on 2 connections/);
    const state = await (await testFetch(`http://127.0.0.1:${http}/state`)).json();
    t.equal(state.agents.length, 25);
    fleet.child.kill('SIGTERM');
    const exit = await fleet.exited;
    t.equal(exit.code, 0, 'stops cleanly on SIGTERM');
    t.equal(fleet.stderr(), '', 'and quietly');
  });
});

t.test('agents come back within seconds of a master that was down for a while, whatever their backoff reached', async (t) => {
  const [port] = await freePorts(1);
  const masterDir = tempDir(t);
  const master = await startMasterForTest(t, masterDir, port!);
  // The default backoff: random in [0, 1 s·2^n]. Counting every refused connection while the
  // master is down would put some agents 16–32 s away by the time it is back.
  const fleet = await startFleet({ master: master.address, security: AGENT, count: 20, resources: parseResources('cpus:1;mem:256'), workDir: tempDir(t) });
  t.teardown(() => fleet.stop());
  await fleet.allConnected(20_000);
  await master.stop();
  await eventually('the fleet notices', () => fleet.connectedCount() === 0);
  await new Promise((r) => setTimeout(r, 6_000));
  await startMasterForTest(t, masterDir, port!);
  const listening = Date.now();
  await fleet.allConnected(30_000);
  const seconds = (Date.now() - listening) / 1000;
  t.ok(seconds < 6, `all 20 agents back ${seconds.toFixed(1)} s after the master listens (the channel retries every 3 s at most, then a jitter of up to 1 s)`);
});
