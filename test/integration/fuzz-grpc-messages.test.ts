/**
 * Typed fuzzing of every gRPC method (issue 11): random, well-typed but extreme messages (built
 * from the .proto files, see wire-arbitraries.ts) go to every Scheduler, Operator and AgentLink
 * method of a live `orbit master` process, and random MasterMessages go from a fake master to a
 * live `orbit agent` process. Afterwards neither process has died, no answer was INTERNAL (or
 * another status that means a fault rather than a verdict), and a well-behaved framework still
 * launches a task. Agents here run only simulated tasks, and every health check command is made
 * harmless, so nothing random is ever executed on this machine.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { frameworkInfoToProto, taskToProto } from '../../src/common/codec.js';
import { orbitV1 } from '../../src/common/proto.js';
import { buildTask } from '../../src/framework-sdk/index.js';
import type { AgentMessage__Output } from '../../src/gen/orbit/v1/AgentMessage.js';
import type { Event__Output } from '../../src/gen/orbit/v1/Event.js';
import type { MasterMessage } from '../../src/gen/orbit/v1/MasterMessage.js';
import { agentProcesses, assertRunning, spawnMaster } from '../helpers/agent-cli.js';
import { frameworkInfo } from '../helpers/builders.js';
import { cliBuildProblem, freePorts, spawnOrbit, within } from '../helpers/cli.js';
import { eventually, tempDir } from '../helpers/cluster.js';
import { rawAgentSession, rawOperator, rawScheduler, type CallOutcome } from '../helpers/raw-grpc.js';
import { launchOneTask } from '../helpers/well-behaved.js';
import { encodedSize, requestTypes, wireMessage } from '../helpers/wire-arbitraries.js';
import { testChannel, testServerCredentials } from '../helpers/pki.js';
import { testFetch } from '../helpers/http-client.js';

/** Statuses that say something broke rather than that the request was judged. */
const FAULTS = new Set([grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.DATA_LOSS]);
/** A REFUSED agent stream whose message is a JavaScript fault, not a verdict on the message. */
const FAULT_TEXT = /TypeError|RangeError|is not a function|Cannot read prop|Maximum call stack|undefined|\[object /;
const MAX_EPOCH = '18446744073709551615';
/**
 * The largest command sent to the agent: the point here is what it does with odd values, not how
 * much it can hold (every task it accepts is in its next re-registration, and in memory).
 */
const MAX_COMMAND_BYTES = 256 * 1024;
const HARMLESS = ['true', 'false', 'exit 3', '', 'a\0b'];

/** Removes every REFUSED command, at any depth: a refused agent backs off for seconds. */
function withoutRefusals(value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  const o = value as Record<string, unknown>;
  delete o['refused'];
  for (const v of Object.values(o)) if (typeof v === 'object') withoutRefusals(v);
}

/** Replaces every health check command in a message with a harmless one (they run on the host). */
function defuse(value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  const o = value as Record<string, unknown>;
  const health = o['healthCheck'] as { command?: { value?: string } } | undefined;
  if (health?.command) health.command.value = HARMLESS[(health.command.value ?? '').length % HARMLESS.length];
  for (const v of Object.values(o)) if (typeof v === 'object') defuse(v);
}

/** A short description of a request for a finding: its fields, each cut to 80 characters. */
function describe(request: unknown): string {
  return JSON.stringify(request, (_k, v: unknown) => (typeof v === 'string' && v.length > 80 ? `${v.slice(0, 80)}…(${v.length})` : Array.isArray(v) && v.length > 5 ? [...v.slice(0, 5), `…(${v.length})`] : v)).slice(0, 600);
}

/** The runs differ each time; FUZZ_SEED repeats one (its seed is printed), FUZZ_RUNS=N makes them longer. */
const SEED = Number(process.env['FUZZ_SEED'] ?? Date.now() % 2 ** 31);
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 1);

const problem = cliBuildProblem();
if (problem !== undefined) {
  t.fail(problem);
} else {
  t.comment(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} repeats this run)`);

  t.test('random extreme messages to every method of a live master leave it serving', async (t) => {
    const master = await spawnMaster(t);
    const agent = await agentProcesses(t, master.address, { hostname: 'fuzz-target', resources: 'cpus:8;mem:8192;ports:[32000-32099]', containerizers: 'simulated' });
    agent.start();
    await eventually('the agent to register', async () => (await master.state()).agents.find((a) => a.hostname === 'fuzz-target' && a.active), 15_000);

    // A fuzzing framework with a real subscription, so that calls get past the header check.
    const sched = rawScheduler(t, master.address);
    const op = rawOperator(t, master.address);
    const client = new (orbitV1().Scheduler)(master.address, testChannel());
    t.teardown(() => client.close());
    const offers = new Set<string>();
    const subscription = client.Subscribe({ framework: { ...frameworkInfoToProto(frameworkInfo({ name: 'fuzzer', failoverTimeoutMs: 60_000 })) } });
    t.teardown(() => subscription.cancel());
    subscription.on('error', () => undefined);
    const header = await new Promise<{ frameworkId: string; streamId: string }>((resolve) => {
      subscription.on('data', (e: Event__Output) => {
        for (const event of e.event === 'batch' ? (e.batch?.events ?? []) : [e]) {
          if (event.subscribed) resolve({ frameworkId: event.subscribed.frameworkId, streamId: event.subscribed.streamId });
          for (const o of event.offers?.offers ?? []) offers.add(o.id);
          if (event.rescind) offers.delete(event.rescind.offerId);
        }
      });
    });

    const findings: string[] = [];
    const check = (what: string, request: unknown, r: CallOutcome) => {
      if (FAULTS.has(r.code)) findings.push(`${what}: ${grpc.status[r.code]} ${r.details.slice(0, 200)} for ${describe(request)}`);
    };
    const counts = new Map<string, number>();
    const count = (what: string) => counts.set(what, (counts.get(what) ?? 0) + 1);

    /** A valid simulated task with one field replaced at random: it reaches past the decoder more often. */
    const mutatedTask = fc.tuple(fc.nat(), wireMessage('orbit.v1.TaskInfo'), fc.constantFrom('taskId', 'name', 'resources', 'command', 'container', 'healthCheck', 'killGraceSeconds', 'labels', 'agentId')).map(([n, random, key]) => {
      const task = taskToProto(buildTask({ taskId: `mutant-${n}`, agentId: 'any', resources: 'cpus:0.01;mem:1', simulated: { durationMs: 20 } }));
      return { ...task, agentId: '', [key]: random[key] } as Record<string, unknown>;
    });
    const acceptOfMutants = fc.record({
      kind: fc.constant('scheduler' as const),
      method: fc.constant('Accept'),
      request: fc.array(mutatedTask, { minLength: 1, maxLength: 3 }).map((tasks) => ({ operations: [{ launch: { tasks } }], filters: { refuseSeconds: 0 } })),
      withHeader: fc.constant(true),
      withOffers: fc.constant(true),
    });
    type Command =
      | { kind: 'scheduler'; method: string; request: Record<string, unknown>; withHeader: boolean; withOffers: boolean }
      | { kind: 'operator'; method: string; request: Record<string, unknown> }
      | { kind: 'subscribe'; request: Record<string, unknown> }
      | { kind: 'agent'; messages: Record<string, unknown>[] };
    const scheduler = [...requestTypes('Scheduler')].filter(([m]) => m !== 'Subscribe');
    const operator = [...requestTypes('Operator')];
    const command: fc.Arbitrary<Command> = fc.oneof(
      { weight: 6, arbitrary: fc.oneof(...scheduler.map(([method, type]) => fc.record({ kind: fc.constant('scheduler' as const), method: fc.constant(method), request: wireMessage(type), withHeader: fc.boolean(), withOffers: fc.boolean() }))) },
      { weight: 2, arbitrary: acceptOfMutants },
      { weight: 3, arbitrary: fc.oneof(...operator.map(([method, type]) => fc.record({ kind: fc.constant('operator' as const), method: fc.constant(method), request: wireMessage(type) }))) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('subscribe' as const), request: wireMessage('orbit.v1.SubscribeRequest') }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('agent' as const), messages: fc.array(wireMessage('orbit.v1.AgentMessage'), { minLength: 1, maxLength: 3 }) }) },
    );

    await fc.assert(fc.asyncProperty(command, async (c) => {
      defuse(c);
      switch (c.kind) {
        case 'scheduler': {
          const request = { ...c.request };
          // Teardown keeps its random header: the fuzzer's own subscription must last the run.
          if (c.withHeader && c.method !== 'Teardown') request['header'] = header;
          if (c.method === 'Accept' && c.withOffers && offers.size > 0) {
            request['offerIds'] = [...offers];
            offers.clear();
          }
          count(`Scheduler.${c.method}`);
          check(`Scheduler.${c.method}`, request, await sched.call(c.method, request));
          return;
        }
        case 'operator':
          count(`Operator.${c.method}`);
          check(`Operator.${c.method}`, c.request, await op.call(c.method, c.request));
          return;
        case 'subscribe': {
          count('Scheduler.Subscribe');
          const r = await sched.subscribe(c.request['framework'] as never, 5_000);
          if (r.ok) r.cancel();
          else check('Scheduler.Subscribe', c.request, r);
          return;
        }
        case 'agent': {
          count('AgentLink.Connect');
          const session = rawAgentSession(t, master.address);
          for (const m of c.messages) session.send(m);
          session.end();
          const ended = await within(session.ended, 2_000);
          const end = ended === 'timed out' ? undefined : ended;
          session.close();
          if (end?.refused !== undefined && FAULT_TEXT.test(end.refused)) findings.push(`AgentLink.Connect: refused with a fault: ${end.refused.slice(0, 200)} for ${describe(c.messages)}`);
          if (end?.status !== undefined && FAULTS.has(end.status) && end.status !== grpc.status.UNAVAILABLE) findings.push(`AgentLink.Connect: ${grpc.status[end.status]} for ${describe(c.messages)}`);
        }
      }
    }), { numRuns: 400 * RUNS, seed: SEED });
    t.comment(`calls made: ${[...counts].map(([k, n]) => `${k} ${n}`).join(', ')}`);

    t.same(findings, [], 'no answer was a fault');
    t.doesNotThrow(() => assertRunning(master.process, 'orbit master'), 'the master is alive');
    t.doesNotThrow(() => assertRunning(agent.current(), 'orbit agent'), 'its agent is alive');

    // Clean up what the fuzzer may have left in the way of a well-behaved framework.
    await sched.call('Teardown', { header });
    for (const role of (await master.state()).roles.filter((r) => r.quota)) await op.call('SetQuota', { role: role.role });
    await op.call('ReactivateAgent', { agentId: (await master.state()).agents.find((a) => a.hostname === 'fuzz-target')!.id });

    const updates = await launchOneTask(t, master.address, 'fuzz-target');
    t.equal(updates.at(-1)?.state, 'FINISHED', 'a well-behaved framework still launches a task');
  });

  t.test('random extreme commands from a master leave an agent running tasks', async (t) => {
    let stream: grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage> | undefined;
    const statuses: { taskId: string; state: string }[] = [];
    /** Frameworks the agent runs tasks of: shut down after each run, so tasks do not pile up. */
    const frameworks = new Set<string>();
    const server = new grpc.Server();
    server.addService(orbitV1().AgentLink.service, {
      Connect(call: grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage>) {
        stream = call;
        const take = (m: AgentMessage__Output): void => {
          if (m.message === 'register' || m.message === 'reregister') call.write({ epoch: MAX_EPOCH, [m.message === 'register' ? 'registered' : 'reregistered']: { agentId: 'agent-fuzzed', heartbeatIntervalSeconds: 15 } });
          const s = m.statusUpdate?.status;
          if (s) {
            statuses.push({ taskId: s.taskId, state: String(s.state) });
            frameworks.add(s.frameworkId);
            if (s.uuid) call.write({ epoch: MAX_EPOCH, ack: { frameworkId: s.frameworkId, taskId: s.taskId, uuid: s.uuid } });
          }
          if (m.message === 'batch') m.batch?.messages.forEach(take);
        };
        call.on('data', take);
        call.on('error', () => undefined);
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', testServerCredentials(), (e, p) => (e ? reject(e) : resolve(p))));
    t.teardown(() => server.forceShutdown());
    const [httpPort] = await freePorts(1);
    const agent = spawnOrbit(t, [
      'agent', '--master', `127.0.0.1:${port}`, '--work-dir', tempDir(t, 'orbit-fuzzed-agent-'), '--http-port', String(httpPort!), '--hostname', 'fuzzed',
      '--containerizers', 'simulated', '--resources', 'cpus:8;mem:8192', '--status-update-retry-base', '1', '--status-update-retry-max', '2', '--log-level', process.env['FUZZ_AGENT_LOG'] ?? 'silent',
    ]);
    await eventually('the agent to register', () => stream !== undefined, 15_000);

    const framework = frameworkInfoToProto(frameworkInfo({ id: 'fw-fuzz' }));
    const validRun = (taskId: string) => ({ framework, task: taskToProto(buildTask({ taskId, agentId: 'agent-fuzzed', resources: 'cpus:0.1;mem:32', simulated: { durationMs: 50 } })) });
    const message = fc.oneof(
      { weight: 4, arbitrary: wireMessage('orbit.v1.MasterMessage') },
      // A valid launch with one field replaced at random reaches deeper than a random one.
      { weight: 3, arbitrary: fc.tuple(fc.nat(), wireMessage('orbit.v1.TaskInfo'), fc.constantFrom('taskId', 'name', 'resources', 'command', 'container', 'healthCheck', 'killGraceSeconds', 'labels', 'agentId')).map(([n, random, key]) => {
        const run = validRun(`fuzz-${n}`);
        return { epoch: MAX_EPOCH, runTask: { ...run, task: { ...run.task, [key]: random[key] } } } as Record<string, unknown>;
      }) },
    );
    await fc.assert(fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 5 }), fc.boolean(), async (messages, highEpoch) => {
      for (const m of messages) {
        defuse(m);
        withoutRefusals(m);
        if (highEpoch) m['epoch'] = MAX_EPOCH;
        if (encodedSize('orbit.v1.MasterMessage', m) > MAX_COMMAND_BYTES) continue;
        stream!.write(m as MasterMessage);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      for (const frameworkId of frameworks) stream!.write({ epoch: MAX_EPOCH, shutdownFramework: { frameworkId } });
      frameworks.clear();
    }), { numRuns: 200 * RUNS, seed: SEED });

    t.doesNotThrow(() => assertRunning(agent, 'orbit agent'), 'the agent is alive');
    // Calm heartbeats (a random interval may have been tiny), then one good launch, sent again on
    // the current stream until it is done: the fuzz may have cut the stream, and the agent comes
    // back on a new one.
    const finished = () => statuses.some((s) => s.taskId === 'after-the-fuzz' && s.state === 'TASK_FINISHED');
    await eventually('the good task to finish', async () => {
      if (finished()) return true;
      stream!.write({ epoch: MAX_EPOCH, registered: { agentId: 'agent-fuzzed', heartbeatIntervalSeconds: 15 } });
      stream!.write({ epoch: MAX_EPOCH, runTask: validRun('after-the-fuzz') });
      await new Promise((resolve) => setTimeout(resolve, 500));
      return finished();
    }, 20_000).catch((err: Error) => {
      t.comment(`the agent said:\n${agent.stdout().slice(-3000)}\n${agent.stderr().slice(-3000)}\nstatuses: ${JSON.stringify(statuses.slice(-10))}`);
      throw err;
    });
    t.pass('the agent still runs a task');
    const health = await testFetch(`http://127.0.0.1:${httpPort}/health`);
    t.equal(health.status, 200, 'and answers /health');
    t.doesNotThrow(() => assertRunning(agent, 'orbit agent'), 'the agent is still alive');
  });
}
