/**
 * Property: whatever happens to agents and frameworks (agents killed while launches are on their
 * way, restarted with a task's checkpoint lost or with fewer resources, cut off, partitioned,
 * drained or marked gone; frameworks disconnected, reconnected, killing, reconciling, accepting
 * stale offers), once the faults end every task a framework launched has reached exactly one
 * terminal state as that framework saw it, and no agent ever has more used and offered than it has.
 */
import fc from 'fast-check';
import t from 'tap';
import { isTerminal } from '../../src/common/tasks.js';
import { Sim, SIM_RESOURCES, smaller } from '../helpers/core-sim.js';

type Step =
  | { kind: 'launch'; fw: number; count: number; tooBig: boolean }
  | { kind: 'launchStale' | 'decline' | 'reconcile' | 'fwDisconnect' | 'fwReconnect' | 'teardown' | 'deliverFramework'; fw: number }
  | { kind: 'kill'; fw: number; pick: number }
  | { kind: 'deliverAgent' | 'resend' | 'disconnect' | 'reconnect' | 'partition' | 'heal' | 'gone' | 'drain'; agent: number }
  | { kind: 'progress'; agent: number; pick: number; fail: boolean }
  | { kind: 'restart'; agent: number; loseTask: boolean; shrink: boolean }
  | { kind: 'tick'; ms: number };

const fwStep = (kind: Extract<Step, { fw: number }>['kind'] & string) => fc.nat(1).map((fw) => ({ kind, fw }) as Step);
const agentStep = (kind: 'deliverAgent' | 'resend' | 'disconnect' | 'reconnect' | 'partition' | 'heal' | 'gone' | 'drain') => fc.nat(1).map((agent) => ({ kind, agent }) as Step);

const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('launch' as const), fw: fc.nat(1), count: fc.integer({ min: 1, max: 3 }), tooBig: fc.integer({ min: 0, max: 9 }).map((n) => n === 0) }), weight: 6 },
  { arbitrary: fwStep('deliverFramework'), weight: 8 },
  { arbitrary: agentStep('deliverAgent'), weight: 16 },
  { arbitrary: fc.record({ kind: fc.constant('progress' as const), agent: fc.nat(1), pick: fc.nat(5), fail: fc.boolean() }), weight: 12 },
  { arbitrary: fc.record({ kind: fc.constant('kill' as const), fw: fc.nat(1), pick: fc.nat(5) }), weight: 2 },
  { arbitrary: agentStep('resend'), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('restart' as const), agent: fc.nat(1), loseTask: fc.boolean(), shrink: fc.boolean() }), weight: 4 },
  { arbitrary: agentStep('disconnect'), weight: 2 },
  { arbitrary: agentStep('reconnect'), weight: 3 },
  { arbitrary: agentStep('partition'), weight: 1 },
  { arbitrary: agentStep('heal'), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 100, max: 40_000 }) }), weight: 3 },
  { arbitrary: fwStep('launchStale'), weight: 1 },
  { arbitrary: fwStep('decline'), weight: 1 },
  { arbitrary: fwStep('reconcile'), weight: 1 },
  { arbitrary: fwStep('fwDisconnect'), weight: 2 },
  { arbitrary: fwStep('fwReconnect'), weight: 2 },
  { arbitrary: agentStep('gone'), weight: 1 },
  { arbitrary: agentStep('drain'), weight: 1 },
  { arbitrary: fwStep('teardown'), weight: 1 },
);

/** What the runs went through, so that the test can say the hard cases happened, not only that nothing broke. */
interface Tally {
  /** A restart lost a live task's checkpoint. */
  lostCheckpoints: number;
  /** A restart with fewer resources than its tasks use was refused. */
  shrinksRefused: number;
  /** Terminal states the frameworks saw, by state. */
  ends: Map<string, number>;
}

async function run(sim: Sim, s: Step, tally: Tally): Promise<void> {
  switch (s.kind) {
    case 'launch': {
      // Whatever offers are due reach the framework first, so most launches have one to use; with
      // none, an allocation interval passes (offers its peer declined or let lapse come back).
      const fw = sim.frameworks[s.fw]!;
      sim.clock.advance(0);
      fw.deliver();
      if (await fw.launch(s.count, s.tooBig)) return;
      await sim.tick(1000);
      fw.deliver();
      return void (await fw.launch(s.count, s.tooBig));
    }
    case 'launchStale': return sim.frameworks[s.fw]!.launchStale();
    case 'decline': return sim.frameworks[s.fw]!.declineAll();
    case 'reconcile': return sim.frameworks[s.fw]!.reconcile();
    case 'kill': return sim.frameworks[s.fw]!.kill(s.pick);
    case 'fwDisconnect': return sim.frameworks[s.fw]!.disconnect();
    case 'fwReconnect': return sim.frameworks[s.fw]!.connected ? undefined : sim.frameworks[s.fw]!.subscribe();
    case 'teardown': return sim.frameworks[s.fw]!.teardown();
    case 'deliverFramework': return sim.frameworks[s.fw]!.deliver();
    case 'deliverAgent': return sim.agents[s.agent]!.deliver();
    case 'progress': return sim.agents[s.agent]!.progress(s.pick, s.fail);
    case 'resend': return sim.agents[s.agent]!.resendAll();
    case 'disconnect': return sim.agents[s.agent]!.disconnect();
    case 'reconnect': return void (sim.agents[s.agent]!.connected ? undefined : await sim.agents[s.agent]!.connect());
    case 'restart': {
      const agent = sim.agents[s.agent]!;
      if (agent.restart(s.loseTask)) tally.lostCheckpoints++;
      const running = [...agent.tasks.values()].some((t) => !isTerminal(t.state));
      const back = await agent.connect(s.shrink ? smaller(agent.resources) : agent.resources);
      if (s.shrink && running && !back && !agent.gone) tally.shrinksRefused++;
      return;
    }
    case 'partition': sim.agents[s.agent]!.silent = true; return;
    case 'heal': sim.agents[s.agent]!.silent = false; return;
    case 'gone': {
      const agent = sim.agents[s.agent]!;
      if (agent.id) await sim.core.markAgentGone(agent.id);
      return;
    }
    case 'drain': {
      const agent = sim.agents[s.agent]!;
      if (agent.id && sim.core.view.agent(agent.id)) await sim.core.drainAgent(agent.id);
      return;
    }
    case 'tick': return sim.tick(s.ms);
  }
}

t.test('every launched task ends exactly once as its framework saw it, and no agent is overcommitted', async (t) => {
  let checked = 0;
  const tally: Tally = { lostCheckpoints: 0, shrinksRefused: 0, ends: new Map() };
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 10, maxLength: 120 }), async (steps) => {
      const sim = await Sim.start(SIM_RESOURCES, 2);
      try {
        sim.clock.advance(0);
        for (const s of steps) {
          await run(sim, s, tally);
          const over = sim.overcommitted();
          if (over.length > 0) throw new Error(`after ${JSON.stringify(s)}: overcommitted ${over.join(', ')}`);
        }
        await sim.settle();
        for (const fw of sim.frameworks) {
          if (fw.removed) continue;
          for (const taskId of fw.launched) {
            const ends = (fw.seen.get(taskId) ?? []).filter((u) => isTerminal(u.state));
            if (ends.length !== 1) {
              throw new Error(`task ${taskId} of ${fw.info.name}: ${ends.length} terminal updates seen (${(fw.seen.get(taskId) ?? []).map((u) => `${u.state}/${u.source}/${u.reason}`).join(' > ') || 'none'})`);
            }
            tally.ends.set(ends[0]!.state, (tally.ends.get(ends[0]!.state) ?? 0) + 1);
          }
          checked += fw.launched.size;
        }
        return true;
      } finally {
        sim.core.stop();
      }
    }),
    { numRuns: 600, seed: Number(process.env['ORBIT_PROPERTY_SEED'] ?? 20261207) },
  );
  t.comment(`lost checkpoints ${tally.lostCheckpoints}, shrunk restarts refused ${tally.shrinksRefused}, ends: ${[...tally.ends].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  t.ok(checked > 500, `the runs launched and checked ${checked} tasks`);
  // The cases the property is for happened, often enough to count.
  t.ok(tally.lostCheckpoints >= 10, `restarts lost a live task's checkpoint (${tally.lostCheckpoints})`);
  t.ok(tally.shrinksRefused >= 10, `restarts with too few resources were refused (${tally.shrinksRefused})`);
  for (const state of ['DROPPED', 'LOST', 'GONE']) t.ok((tally.ends.get(state) ?? 0) >= 10, `tasks ended ${state}, as their frameworks saw (${tally.ends.get(state) ?? 0})`);
});

t.test('a shrunk re-registration counts the tasks whose end the master has not heard yet', async (t) => {
  const sim = await Sim.start(['cpus:1;mem:512'], 1);
  t.teardown(() => sim.core.stop());
  const [agent, fw] = [sim.agents[0]!, sim.frameworks[0]!];
  sim.clock.advance(0);
  fw.deliver();
  t.ok(await fw.launch(1, false), 'a task is launched');
  agent.deliver();
  const [taskId] = fw.launched;
  await fw.kill(0);
  // The agent kills it; KILLED waits behind STARTING, which the framework has not acknowledged.
  agent.deliver();
  t.equal(sim.core.view.task(fw.id, taskId!)?.state, 'STARTING', 'the master still holds the task live');
  agent.restart(false);
  t.notOk(await agent.connect(smaller(agent.resources)), 'the agent, back with too little for the task the master holds, is refused');
  t.same(sim.overcommitted(), [], 'and no agent is overcommitted');
  t.ok(await agent.connect(), 'back with its own resources, it is taken');
});
