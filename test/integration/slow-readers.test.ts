import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createLogger } from '../../src/common/logging.js';
import { orbitV1 } from '../../src/common/proto.js';
import type { Event__Output } from '../../src/gen/orbit/v1/Event.js';
import { startMaster, type RunningMaster } from '../../src/master/master.js';
import { WIRE_LIMITS } from '../../src/master/rpc/wire-limits.js';
import { eventually, tempDir, type TestLike } from '../helpers/cluster.js';
import { parseMetrics, sample } from '../helpers/metrics-text.js';
import { FRAME, grpcData, grpcHeaders, RawH2 } from '../helpers/raw-h2.js';
import { AGENT, testChannel, testMasterSecurity } from '../helpers/pki.js';
import { testFetch } from '../helpers/http-client.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** The JS heap plus Buffers (queued messages are Buffers), after a full GC, in MiB. */
function memoryMiB(): number {
  gc();
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return (heapUsed + arrayBuffers) / 2 ** 20;
}

const SMALL_BOUND = 256 * 1024;
const ENHANCE_YOUR_CALM = 0xb;
const v1 = orbitV1();
type Header = { frameworkId: string; streamId: string };

interface Master {
  master: RunningMaster;
  /** The master's log lines at warn and above, as objects. */
  warnings: Record<string, unknown>[];
  cuts(kind: 'framework' | 'agent'): Promise<number>;
}

/** A master with `bound` on each stream's unsent queue (undefined: the default, 16 MiB). */
async function masterWithBound(t: TestLike, bound?: number): Promise<Master> {
  const warnings: Record<string, unknown>[] = [];
  const destination = { write: (line: string) => warnings.push(JSON.parse(line) as Record<string, unknown>) };
  const logger = createLogger('master', 'warn', { pretty: false, destination });
  const master = await startMaster({ security: testMasterSecurity(), ip: '127.0.0.1', port: 0, httpPort: 0, workDir: tempDir(t), logger, wireLimits: bound === undefined ? {} : { maxStreamQueueBytes: bound } });
  t.teardown(() => master.stop());
  const cuts = async (kind: string) => {
    const text = await (await testFetch(`http://127.0.0.1:${master.httpPort}/metrics`)).text();
    return sample(parseMetrics(text), 'orbit_streams_cut_total', { kind }) ?? NaN;
  };
  return { master, warnings, cuts };
}

function schedulerClient(t: TestLike, master: RunningMaster) {
  const client = new v1.Scheduler(master.address, testChannel());
  t.teardown(() => client.close());
  return client;
}

const unary = <Req>(call: (req: Req, cb: (err: grpc.ServiceError | null) => void) => unknown, req: Req) =>
  new Promise<grpc.ServiceError | null>((resolve) => call(req, resolve));

/** A framework that reads its SUBSCRIBED event and then never opens its flow-control window again. */
async function stalledSubscriber(master: RunningMaster): Promise<{ raw: RawH2; header: Header }> {
  const raw = await RawH2.open(master.port);
  const request = v1.Scheduler.service.Subscribe.requestSerialize({ framework: { name: 'stalled', roles: ['*'], hostname: 'test', user: 'test' } });
  raw.send(Buffer.concat([grpcHeaders(1, '/orbit.v1.Scheduler/Subscribe'), grpcData(1, request)]));
  const first = await eventually('SUBSCRIBED', () => raw.received(FRAME.DATA, 1)[0]);
  const event = v1.Scheduler.service.Subscribe.responseDeserialize(first.payload.subarray(5)) as Event__Output;
  return { raw, header: event.subscribed! };
}

/** Reconciles 1,000 unknown tasks per call (about 120 KB of UPDATE events) until `done`, a call fails, or `maxCalls`. */
async function floodWithUpdates(client: InstanceType<typeof v1.Scheduler>, header: Header, done: () => boolean, maxCalls = 400): Promise<number> {
  const tasks = Array.from({ length: 1000 }, (_, i) => ({ taskId: `ghost-${i}`, agentId: '' }));
  let calls = 0;
  while (!done() && calls < maxCalls) {
    if (await unary(client.Reconcile.bind(client), { header, tasks })) break;
    calls++;
  }
  return calls;
}

t.test('a framework that stops reading is cut past the bound, logged and counted, and its memory comes back', async (t) => {
  const { master, warnings, cuts } = await masterWithBound(t);
  const bound = WIRE_LIMITS.maxStreamQueueBytes.default;
  const client = schedulerClient(t, master);
  const baseline = memoryMiB();
  const { raw, header } = await stalledSubscriber(master);
  t.teardown(() => raw.close());

  const cut = () => raw.received(FRAME.RST_STREAM, 1).length > 0;
  const first = await floodWithUpdates(client, header, cut, 80);
  const queued = memoryMiB();
  t.ok(queued - baseline > 6 && !cut(), `${first} calls' updates wait in the master, uncut (${baseline.toFixed(1)} → ${queued.toFixed(1)} MiB)`);
  const calls = first + (await floodWithUpdates(client, header, cut));
  await eventually('the reset', cut);
  t.equal(raw.received(FRAME.RST_STREAM, 1)[0]!.payload.readUInt32BE(0), ENHANCE_YOUR_CALM, `cut after ${calls} calls, with ENHANCE_YOUR_CALM (RESOURCE_EXHAUSTED to a gRPC client)`);
  t.notOk(raw.closed, 'the connection itself stays up');
  const line = warnings.find((w) => String(w['msg']).startsWith('framework stream cut'));
  t.match(line, { frameworkId: header.frameworkId, maxQueueBytes: bound }, 'a warning names the framework and the bound');
  t.ok(Number(line?.['queuedBytes']) > bound * 0.9, `and the queue (${line?.['queuedBytes']} bytes)`);
  t.equal(await cuts('framework'), 1, 'orbit_streams_cut_total{kind="framework"}');
  t.equal(await cuts('agent'), 0);

  // What stays is the core's own (the framework, kept for display, and its master-made updates).
  const after = memoryMiB();
  t.ok(after - baseline < bound / 2 ** 21, `the queue's ${(bound / 2 ** 20).toFixed(0)} MiB are released (${baseline.toFixed(1)} → ${queued.toFixed(1)} → ${after.toFixed(1)} MiB)`);

  const again = await stalledSubscriber(master);
  t.teardown(() => again.raw.close());
  t.ok(again.header.frameworkId, 'the master still takes subscriptions');
});

t.test('a grpc-js subscriber that pauses its stream gets RESOURCE_EXHAUSTED', async (t) => {
  const { master } = await masterWithBound(t, SMALL_BOUND);
  const client = schedulerClient(t, master);
  const call = client.Subscribe({ framework: { name: 'paused', roles: ['*'], hostname: 'test', user: 'test' } });
  const status = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
  const header = await new Promise<Header>((resolve) => {
    call.once('data', (event: Event__Output) => {
      call.pause();
      resolve(event.subscribed!);
    });
  });
  let ended: grpc.ServiceError | undefined;
  void status.then((err) => (ended = err));
  await floodWithUpdates(schedulerClient(t, master), header, () => ended !== undefined);
  const err = await status;
  t.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, `the stream ends with RESOURCE_EXHAUSTED (${err.details})`);
});

t.test('an agent that stops reading is cut past the bound', async (t) => {
  const { master, warnings, cuts } = await masterWithBound(t, SMALL_BOUND);
  const raw = await RawH2.open(master.port, true, AGENT);
  t.teardown(() => raw.close());
  const register = v1.AgentLink.service.Connect.requestSerialize({
    register: { info: { hostname: 'stalled-agent', resources: [{ name: 'cpus', type: 'SCALAR', scalar: 4 }], containerizers: ['simulated'] } },
  });
  raw.send(Buffer.concat([grpcHeaders(1, '/orbit.v1.AgentLink/Connect'), grpcData(1, register, false)]));
  const first = await eventually('REGISTERED', () => raw.received(FRAME.DATA, 1)[0]);
  const registered = v1.AgentLink.service.Connect.responseDeserialize(first.payload.subarray(5)) as { registered?: { agentId: string } };
  const agentId = registered.registered!.agentId;

  // A framework acknowledging updates the agent never sent: each acknowledgement goes to the agent.
  const client = schedulerClient(t, master);
  const subscription = client.Subscribe({ framework: { name: 'acker', roles: ['*'], hostname: 'test', user: 'test' } });
  t.teardown(() => subscription.cancel());
  subscription.on('error', () => undefined);
  const header = await new Promise<Header>((resolve) => subscription.once('data', (e: Event__Output) => resolve(e.subscribed!)));
  const cut = () => raw.received(FRAME.RST_STREAM, 1).length > 0;
  for (let calls = 0; calls < 200 && !cut(); calls++) {
    const acks = Array.from({ length: 1000 }, (_, i) => ({ agentId, taskId: `task-${i}`, uuid: randomUUID() }));
    if (await unary(client.Acknowledge.bind(client), { header, acks })) break;
  }
  await eventually('the reset', cut);
  t.equal(raw.received(FRAME.RST_STREAM, 1)[0]!.payload.readUInt32BE(0), ENHANCE_YOUR_CALM);
  t.match(warnings.find((w) => String(w['msg']).startsWith('agent stream cut')), { agentId }, 'a warning names the agent');
  t.equal(await cuts('agent'), 1, 'orbit_streams_cut_total{kind="agent"}');
});
