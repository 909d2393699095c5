import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTask, formatResources, takeResources, type Offer, type TaskStatus } from '../../src/framework-sdk/index.js';
import { eventually, nextEvent, OfferPool, startCluster, updatesUntil, atLeastCpus } from '../helpers/cluster.js';
import { testFetch } from '../helpers/http-client.js';

t.test('a master and two agents run process tasks end to end over gRPC', async (t) => {
  const cluster = await startCluster(t, [{ hostname: 'alpha' }, { hostname: 'beta' }]);

  await t.test('both agents are registered and listed in /state with their resources', async (t) => {
    const state = await cluster.state();
    t.equal(state.agents.length, 2);
    t.same(state.agents.map((a) => a.hostname).sort(), ['alpha', 'beta']);
    for (const a of state.agents) {
      t.equal(a.resources, 'cpus:2;disk:1024;mem:1024;ports:[31000-31009]');
      t.ok(a.active, `${a.hostname} is active`);
      t.match(a.id, /^agent-/);
    }
  });

  const fw = await cluster.framework({ name: 'launcher' });
  const pool = new OfferPool(fw);
  const firstOffers = await nextEvent(fw, 'offers');

  await t.test('a new framework is offered every agent, each in one offer', async (t) => {
    const [offers] = firstOffers;
    t.equal(new Set(offers.map((o) => o.agentId)).size, 2);
    for (const o of offers) t.equal(formatResources(o.resources), 'cpus:2;disk:1024;mem:1024;ports:[31000-31009]');
  });

  await t.test('a task that exits 0 goes STARTING, RUNNING, FINISHED and its resources come back', async (t) => {
    const offer = await pool.take(atLeastCpus(2));
    const task = buildTask({ offer, resources: takeResources(offer, 'cpus:0.5;mem:64;ports:2')!, command: 'echo "hello $ORBIT_TASK_ID on $PORT0 $PORT1 ($PORTS)"' });
    const done = updatesUntil(fw, task.taskId, 'FINISHED');
    await fw.launch(offer, [task]);
    const updates = await done;
    t.same(updates.map((u) => u.state), ['STARTING', 'RUNNING', 'FINISHED']);
    t.ok(updates.every((u) => u.source === 'AGENT' && u.uuid && u.agentId === offer.agentId), 'agent-made updates with uuids');
    t.equal(updates[2]!.exitCode, 0);

    const agent = cluster.agents.find((a) => a.agentId() === offer.agentId)!;
    const sandbox = agent.runner.find(task.taskId)!.sandboxDir;
    t.equal(readFileSync(join(sandbox, 'stdout'), 'utf8'), `hello ${task.taskId} on 31000 31001 (31000,31001)\n`, 'PORT0..n and PORTS are the accepted ports');

    const state = await eventually('resources released', async () => {
      const s = await cluster.state();
      return s.agents.find((a) => a.id === offer.agentId)!.used === '' ? s : undefined;
    });
    const view = state.frameworks[0]!.completedTasks.find((x) => x.id === task.taskId)!;
    t.equal(view.state, 'FINISHED');
    t.equal(view.agentId, offer.agentId);
    await eventually('updates acknowledged', () => agent.link && (agent.runner.completedTasks().length > 0) && testFetch(`http://127.0.0.1:${agent.httpPort}/state`).then((r) => r.json()).then((s: { pendingUpdates: number }) => s.pendingUpdates === 0));
  });

  await t.test('a task that exits 3 is FAILED with the exit code named', async (t) => {
    const offer = await pool.take(atLeastCpus(2));
    const task = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'exit 3' });
    const done = updatesUntil(fw, task.taskId, 'FAILED');
    await fw.launch(offer, [task]);
    const last = (await done).at(-1)!;
    t.equal(last.exitCode, 3);
    t.equal(last.reason, 'COMMAND_EXITED');
    t.match(last.message, /code 3/);
  });

  await t.test('a task that ignores SIGTERM is SIGKILLed after its grace period and reported KILLED', async (t) => {
    const offer = await pool.take(atLeastCpus(2));
    // SIG_IGN is inherited across exec, so sleep ignores SIGTERM too: only SIGKILL ends it.
    const task = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: "trap '' TERM; echo ready; sleep 600", killGraceMs: 1000 });
    const running = nextEvent(fw, 'update', (s) => s.taskId === task.taskId && s.state === 'RUNNING');
    await fw.launch(offer, [task]);
    await running;
    // RUNNING means spawned; wait until the shell has installed its trap.
    const agent = cluster.agents.find((a) => a.agentId() === offer.agentId)!;
    await eventually('the task to ignore SIGTERM', () => {
      try {
        return readFileSync(join(agent.runner.find(task.taskId)!.sandboxDir, 'stdout'), 'utf8').includes('ready');
      } catch {
        return false;
      }
    });
    const started = Date.now();
    const done = updatesUntil(fw, task.taskId, 'KILLED');
    await fw.kill(task.taskId, offer.agentId);
    const updates = await done;
    const took = Date.now() - started;
    t.same(updates.map((u) => u.state), ['KILLING', 'KILLED']);
    t.ok(took >= 900, `SIGTERM alone did not end it (${took} ms)`);
    t.ok(took < 600_000, 'SIGKILL ended it long before sleep would have');
  });

  await t.test('tasks from one accept share the offer and the remainder goes back', async (t) => {
    const offer: Offer = await pool.take(atLeastCpus(2));
    const tasks = [1, 2, 3].map(() => buildTask({ offer, resources: 'cpus:0.5;mem:100', command: 'sleep 0.2' }));
    const finished = Promise.all(tasks.map((x) => updatesUntil(fw, x.taskId, 'FINISHED')));
    await fw.launch(offer, tasks);
    const mid = await cluster.state();
    const agentView = mid.agents.find((a) => a.id === offer.agentId)!;
    t.equal(agentView.used, 'cpus:1.5;mem:300', "the agent's used resources are the three tasks'");
    t.equal(agentView.offered, '', 'the remainder is no longer in an offer');
    await finished;
    t.pass('all three finished');
  });
});

t.test('acknowledgements sent together reach the agents; a bad one refuses the whole call, naming it', async (t) => {
  const cluster = await startCluster(t, [{}]);
  const fw = await cluster.framework({ name: 'batcher', autoAcknowledge: false });
  const [[offer]] = await nextEvent(fw, 'offers');
  const tasks = [0, 1, 2].map(() => buildTask({ offer: offer!, resources: 'cpus:0.1;mem:32', command: 'true' }));
  const starting = new Map<string, TaskStatus>();
  const running = new Set<string>();
  fw.on('update', (s) => {
    if (s.state === 'STARTING') starting.set(s.taskId, s);
    if (s.state === 'RUNNING') running.add(s.taskId);
  });
  await fw.launch(offer!, tasks);
  await eventually('every STARTING', () => starting.size === 3);

  const refused = await Promise.allSettled([
    fw.acknowledge(starting.get(tasks[0]!.taskId)!),
    fw.acknowledge({ agentId: offer!.agentId, taskId: '', uuid: 'some-uuid' }),
  ]);
  t.match(refused.map((r) => (r.status === 'rejected' ? r.reason : undefined)), [
    { code: 'INVALID_ARGUMENT', details: /acks\[1\]\.task_id/ },
    { code: 'INVALID_ARGUMENT', details: /acks\[1\]\.task_id/ },
  ], 'both acknowledgements of the call are refused, the bad one named');
  await sleep(500);
  t.equal(running.size, 0, 'nothing of the refused call was applied: RUNNING still waits behind STARTING');

  await Promise.all(tasks.map((task) => fw.acknowledge(starting.get(task.taskId)!)));
  await eventually('every RUNNING', () => running.size === 3);
  t.pass('one call acknowledged all three');
});
