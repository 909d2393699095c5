import t from 'tap';
import { agentInfoToProto } from '../../src/common/codec.js';
import { orbitV1 } from '../../src/common/proto.js';
import { parseResources } from '../../src/common/resources.js';
import type { AgentMessage } from '../../src/gen/orbit/v1/AgentMessage.js';
import type { MasterMessage__Output } from '../../src/gen/orbit/v1/MasterMessage.js';
import { eventually, startMasterForTest } from '../helpers/cluster.js';
import { testChannel, AGENT } from '../helpers/pki.js';

const info = (hostname: string) =>
  agentInfoToProto({ id: '', hostname, resources: parseResources('cpus:1;mem:256'), attributes: [], httpPort: 0, containerizers: ['simulated'] });

/** A raw AgentLink stream to the master, recording what it answers (batches taken apart). */
function rawAgent(t: { teardown(fn: () => unknown): void }, address: string) {
  const client = new (orbitV1().AgentLink)(address, testChannel(AGENT));
  const call = client.Connect();
  const received: MasterMessage__Output[] = [];
  let ended = false;
  call.on('data', (m: MasterMessage__Output) => received.push(...(m.message === 'batch' ? m.batch!.messages : [m])));
  call.on('error', () => (ended = true));
  call.on('end', () => (ended = true));
  t.teardown(() => {
    call.cancel();
    client.close();
  });
  return { write: (m: AgentMessage) => call.write(m), received, ended: () => ended };
}

t.test('the master takes a batch of agent messages in order, and refuses a batch inside a batch', async (t) => {
  const master = await startMasterForTest(t);

  const agent = rawAgent(t, master.address);
  agent.write({ batch: { messages: [{ register: { info: info('batched'), version: '0.1.0' } }, { heartbeat: { timestamp: Date.now() / 1000 } }] } });
  const registered = await eventually('registered', () => agent.received.find((m) => m.message === 'registered'));
  t.match(registered.registered?.agentId, /^agent-/, 'a register inside a batch registers');

  const nested = rawAgent(t, master.address);
  nested.write({ register: { info: info('nested'), version: '0.1.0' } });
  await eventually('registered', () => nested.received.some((m) => m.message === 'registered'));
  nested.write({ batch: { messages: [{ batch: { messages: [{ heartbeat: { timestamp: 1 } }] } }] } });
  const refused = await eventually('refused', () => nested.received.find((m) => m.message === 'refused'));
  t.match(refused.refused?.message, /batch\.messages.*a batch cannot hold a batch/);
  await eventually('the stream is ended', () => nested.ended());
  t.notOk(agent.ended(), 'the other agent is untouched');
});
