/**
 * What an agent does with the master's answers to its registration: a refusal it cannot fix by
 * trying again stops it for good (and `orbit agent` with it, non-zero, saying why); any other is
 * retried; a heartbeat interval out of bounds is replaced; a list of masters is tried in order.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { startAgent, type RunningAgent } from '../../src/agent/agent.js';
import { ProcessContainerizer } from '../../src/agent/containerizer/process.js';
import { ManualClock } from '../../src/common/clock.js';
import { orbitV1 } from '../../src/common/proto.js';
import { parseResources } from '../../src/common/resources.js';
import type { AgentMessage__Output } from '../../src/gen/orbit/v1/AgentMessage.js';
import type { ErrorReason__Output } from '../../src/gen/orbit/v1/ErrorReason.js';
import type { MasterMessage } from '../../src/gen/orbit/v1/MasterMessage.js';
import { cliBuildProblem, freePorts, spawnOrbit, within } from '../helpers/cli.js';
import { eventually, sleep, tempDir, type TestLike } from '../helpers/cluster.js';
import { AGENT, testServerCredentials } from '../helpers/pki.js';

/** What a fake master answers each registration with, by how many came before it. */
type Answer = (registrations: number) => MasterMessage;

interface FakeMaster {
  address: string;
  /** Registrations and re-registrations received, over all streams. */
  registrations: number;
  heartbeats: number;
}

/** An AgentLink server that answers every (re-)registration with `answer`. */
async function fakeMaster(t: TestLike, answer: Answer): Promise<FakeMaster> {
  const fake: FakeMaster = { address: '', registrations: 0, heartbeats: 0 };
  const server = new grpc.Server();
  server.addService(orbitV1().AgentLink.service, {
    Connect(call: grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage>) {
      const take = (m: AgentMessage__Output): void => {
        if (m.message === 'register' || m.message === 'reregister') call.write(answer(fake.registrations++));
        if (m.message === 'heartbeat') fake.heartbeats++;
        if (m.message === 'batch') m.batch?.messages.forEach(take);
      };
      call.on('data', take);
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', testServerCredentials(), (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  fake.address = `127.0.0.1:${port}`;
  return fake;
}

const registered = (heartbeatIntervalSeconds = 15): MasterMessage => ({ epoch: '1', registered: { agentId: 'agent-1', heartbeatIntervalSeconds } });
const refused = (reason: ErrorReason__Output | number, message = 'no'): MasterMessage => ({ epoch: '1', refused: { reason: reason as ErrorReason__Output, message } });

/** An agent of `master` on a manual clock (its registration backoff is at most 500 ms). */
async function agentOf(t: TestLike, master: string): Promise<{ agent: RunningAgent; clock: ManualClock }> {
  const clock = new ManualClock();
  const agent = await startAgent({
    security: AGENT,
    master,
    workDir: tempDir(t),
    httpPort: 0,
    hostname: 'refused',
    resources: parseResources('cpus:1;mem:256'),
    containerizers: [new ProcessContainerizer()],
    backoffBaseMs: 50,
    backoffMaxMs: 500,
    clock,
  });
  t.teardown(() => agent.stop());
  return { agent, clock };
}

t.test('a refusal registering again cannot fix stops the agent for good, saying why in one line', async (t) => {
  for (const reason of ['AGENT_GONE', 'AGENT_RESOURCES_SHRANK'] as const) {
    const fake = await fakeMaster(t, () => refused(`ERROR_${reason}`, 'start it with a fresh --work-dir'));
    const { agent, clock } = await agentOf(t, fake.address);
    const refusal = await agent.refused;
    t.strictSame(refusal, { reason, line: `the master refused this agent for good (${reason}): start it with a fresh --work-dir` }, `${reason}: the refusal`);
    await t.rejects(agent.registered(1_000), { message: refusal.line }, `${reason}: registered() rejects with the line`);
    clock.advance(60_000); // far past any backoff
    await sleep(100); // time for a registration to arrive, if one were sent
    t.equal(fake.registrations, 1, `${reason}: it did not register again`);
    t.notOk(agent.link.isConnected, `${reason}: not connected`);
  }
});

t.test('any other refusal is retried after the backoff', async (t) => {
  const cases: [string, MasterMessage][] = [
    ['a protocol violation', refused('ERROR_PROTOCOL_VIOLATION')],
    ['a reason this build does not know', refused(999)],
    ['no reason at all', refused('ERROR_REASON_UNKNOWN')],
  ];
  for (const [what, first] of cases) {
    const fake = await fakeMaster(t, (n) => (n === 0 ? first : registered()));
    const { agent, clock } = await agentOf(t, fake.address);
    await eventually(`${what}: refused once`, () => fake.registrations === 1);
    await eventually(`${what}: registers again`, () => {
      clock.advance(100);
      return agent.link.isConnected;
    });
    t.equal(fake.registrations, 2, `${what}: one more registration`);
    t.equal(agent.agentId(), 'agent-1');
  }
});

t.test('a heartbeat interval out of bounds (NaN) has the agent heartbeat every 15 s', async (t) => {
  const fake = await fakeMaster(t, () => registered(NaN));
  const { agent, clock } = await agentOf(t, fake.address);
  await agent.registered();
  clock.advance(14_999);
  await sleep(50);
  t.equal(fake.heartbeats, 0, 'none before 15 s');
  clock.advance(1);
  await eventually('the first heartbeat', () => fake.heartbeats === 1);
  clock.advance(15_000);
  await eventually('the second heartbeat', () => fake.heartbeats === 2);
});

t.test('an agent given two masters registers with the second when the first cannot be reached', async (t) => {
  const fake = await fakeMaster(t, () => registered());
  const [dead] = await freePorts(1);
  const { agent, clock } = await agentOf(t, `127.0.0.1:${dead},${fake.address}`);
  await eventually('registered with the second master', () => {
    clock.advance(100);
    return agent.link.isConnected;
  });
  t.equal(agent.link.master, fake.address);
});

t.test('orbit agent exits 1 with the line when the master refuses it for good', async (t) => {
  const problem = cliBuildProblem();
  if (problem) {
    t.fail(problem);
    return;
  }
  const fake = await fakeMaster(t, () => refused('ERROR_AGENT_GONE', 'this agent was marked gone by an operator'));
  const [httpPort] = await freePorts(1);
  const agent = spawnOrbit(t, ['agent', '--master', fake.address, '--work-dir', tempDir(t), '--http-port', String(httpPort!), '--containerizers', 'simulated', '--resources', 'cpus:1;mem:256', '--log-level', 'silent']);
  const exit = await within(agent.exited, 15_000);
  t.equal(exit === 'timed out' ? 'still running' : exit.code, 1, 'exits 1');
  t.match(agent.stderr(), /^orbit: the master refused this agent for good \(AGENT_GONE\): this agent was marked gone by an operator\n$/, 'says why in one line, no stack');
});
