import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { ManualClock } from '../../src/common/clock.js';
import {
  buildTask,
  formatResources,
  OrbitCallError,
  SchedulerClient,
  SubscriptionError,
  type Offer,
  type SchedulerClientOptions,
  type SubscribedInfo,
  type TaskStatus,
} from '../../src/framework-sdk/index.js';
import { MAX_OFFERS_PER_DECLINE } from '../../src/framework-sdk/scheduler-client.js';
import { freePorts } from '../helpers/cli.js';
import { FakeScheduler, once, until } from '../helpers/fake-scheduler.js';

/** The longest reconnect backoff of a setup() client: advancing its clock this far re-subscribes. */
const RECONNECT_MAX_MS = 200;

/**
 * A fake master and a client of it on a manual clock; both are closed when the test ends.
 * `masters` makes the client's master list from the fake's address.
 */
async function setup(
  t: Test,
  options: Partial<SchedulerClientOptions> = {},
  before?: (fake: FakeScheduler) => void,
  masters = (fake: string): string => fake,
): Promise<{ fake: FakeScheduler; client: SchedulerClient; clock: ManualClock }> {
  const fake = new FakeScheduler();
  before?.(fake);
  const master = masters(await fake.listen());
  const clock = new ManualClock();
  const client = new SchedulerClient({ master, framework: { name: 'test-fw' }, reconnectBaseMs: 50, reconnectMaxMs: RECONNECT_MAX_MS, clock, ...options });
  t.teardown(() => {
    client.close();
    fake.close();
  });
  return { fake, client, clock };
}

const resource = (name: string, scalar: number) => ({ name, type: 'SCALAR' as const, scalar, role: '*' });

t.test('start() subscribes and resolves with the framework id', async (t) => {
  const { fake, client } = await setup(t);
  t.equal(client.frameworkId, undefined, 'has no framework id before subscribing');
  const [info] = await Promise.all([client.start(), once(client, 'subscribed')]);
  t.same(info, { frameworkId: 'fw-1', streamId: 'stream-1', heartbeatIntervalMs: 60_000, masterId: 'master-1', resubscribed: false });
  t.equal(client.frameworkId, 'fw-1', 'remembers the framework id');
  t.ok(client.subscribed, 'is subscribed');
  const framework = fake.subscriptions[0]?.framework;
  t.equal(framework?.name, 'test-fw', 'sends the framework name');
  t.same(framework?.roles, ['*'], "subscribes with role '*' by default");
  t.equal(framework?.failoverTimeoutSeconds, 7 * 24 * 3600, 'asks for a one-week failover timeout by default');
  t.equal(framework?.id, '', 'asks for a new framework');
});

t.test('a call before the subscription rejects clearly', async (t) => {
  const { client } = await setup(t);
  const err = await client.decline(['offer-1']).catch((e: unknown) => e);
  t.type(err, OrbitCallError);
  t.match(err, { code: 'UNAVAILABLE', message: /not subscribed/ });
});

t.test('offers arrive decoded into domain offers', async (t) => {
  const { fake, client } = await setup(t);
  await client.start();
  const got = once<[Offer[]]>(client, 'offers');
  fake.send({
    offers: {
      offers: [{
        id: 'offer-1', frameworkId: 'fw-1', agentId: 'agent-1', hostname: 'host-1', role: '*',
        resources: [resource('cpus', 2), resource('mem', 1024), { name: 'ports', type: 'RANGES', ranges: [{ begin: 31000, end: 31001 }] }],
        attributes: [{ name: 'rack', value: 'r1' }],
      }],
    },
  });
  const [[offer]] = await got;
  t.equal(offer?.id, 'offer-1');
  t.equal(offer?.agentId, 'agent-1');
  t.equal(formatResources(offer?.resources ?? []), 'cpus:2;mem:1024;ports:[31000-31001]', 'decodes the resources');
  t.same(offer?.attributes, [{ name: 'rack', value: 'r1' }], 'decodes the attributes');
  const rescind = once<[string]>(client, 'rescind');
  fake.send({ rescind: { offerId: 'offer-1' } });
  t.same(await rescind, ['offer-1'], 'emits rescinds by offer id');
});

t.test('an update with a uuid is acknowledged after the listeners ran', async (t) => {
  const { fake, client } = await setup(t);
  await client.start();
  const seen: string[] = [];
  client.on('update', (s: TaskStatus) => seen.push(`update ${s.taskId} ${s.state}`));
  fake.on('call', (method: string) => seen.push(method));
  const status = (taskId: string, uuid: string) => ({
    taskId, frameworkId: 'fw-1', agentId: 'agent-1', state: 'TASK_RUNNING' as const, source: 'SOURCE_AGENT' as const,
    reason: 'REASON_NONE' as const, message: '', timestamp: 1_700_000_000, uuid,
  });
  fake.send({ update: { status: status('task-a', '') } }); // master-made: nothing to acknowledge
  fake.send({ update: { status: status('task-b', 'uuid-b') } });
  await until(() => fake.callsOf('Acknowledge').length === 1, 'the acknowledgement');
  t.same(seen, ['update task-a RUNNING', 'update task-b RUNNING', 'Acknowledge'], 'acknowledges only the status with a uuid, after the listener');
  t.match(fake.callsOf('Acknowledge')[0], {
    header: { frameworkId: 'fw-1', streamId: 'stream-1' },
    agentId: 'agent-1',
    taskId: 'task-b',
    uuid: 'uuid-b',
  });
});

t.test('updates handled in the same tick are acknowledged in one call, each exactly once', async (t) => {
  const { fake, client } = await setup(t);
  await client.start();
  const status = (taskId: string, uuid: string) => ({
    taskId, frameworkId: 'fw-1', agentId: `agent-${taskId}`, state: 'TASK_RUNNING' as const, source: 'SOURCE_AGENT' as const,
    reason: 'REASON_NONE' as const, message: '', timestamp: 1_700_000_000, uuid,
  });
  const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
  for (const id of ids) fake.send({ update: { status: status(id, `uuid-${id}`) } });
  type Ack = { agentId: string; taskId: string; uuid: string };
  const acked = () =>
    fake.callsOf('Acknowledge').flatMap((c) => (c.taskId ? [c as unknown as Ack] : (c.acks as Ack[])));
  await until(() => acked().length === ids.length, 'every acknowledgement');
  await new Promise((r) => setTimeout(r, 50));
  t.same(
    acked().map((a) => `${a.agentId} ${a.taskId} ${a.uuid}`),
    ids.map((id) => `agent-${id} ${id} uuid-${id}`),
    'every update acknowledged once, in order, naming its agent',
  );
  for (const c of fake.callsOf('Acknowledge')) {
    const n = (c.acks as Ack[]).length;
    t.ok(c.taskId ? n === 0 : n > 1, 'one acknowledgement goes in the call fields, several in acks');
  }
});

t.test('a batch of events is handled event by event, in order; a nested batch is ignored', async (t) => {
  const { fake, client } = await setup(t);
  await client.start();
  const seen: string[] = [];
  client.on('update', (s) => seen.push(`update ${s.taskId}`));
  client.on('rescind', (id) => seen.push(`rescind ${id}`));
  client.on('heartbeat', () => seen.push('heartbeat'));
  const update = (taskId: string) => ({
    update: { status: { taskId, frameworkId: 'fw-1', agentId: 'agent-1', state: 'TASK_RUNNING' as const, source: 'SOURCE_AGENT' as const, reason: 'REASON_NONE' as const, message: '', timestamp: 1, uuid: `uuid-${taskId}` } },
  });
  fake.send({ batch: { events: [update('a'), { rescind: { offerId: 'offer-1' } }, { batch: { events: [update('nested')] } }, update('b'), { heartbeat: {} }] } });
  await until(() => seen.length === 4, 'the four events');
  t.same(seen, ['update a', 'rescind offer-1', 'update b', 'heartbeat'], 'in the order sent, the nested batch skipped');
  await until(() => fake.callsOf('Acknowledge').length > 0, 'the acknowledgements');
  await new Promise((r) => setTimeout(r, 50));
  const acked = fake.callsOf('Acknowledge').flatMap((c) => (c.taskId ? [c.taskId as string] : (c.acks as { taskId: string }[]).map((a) => a.taskId)));
  t.same(acked, ['a', 'b'], 'both updates of the batch acknowledged, nothing from the nested one');
});

t.test('an ERROR inside a batch stops the client; the events after it are not handled', async (t) => {
  const { fake, client } = await setup(t);
  await client.start();
  const error = once<[SubscriptionError]>(client, 'error');
  const rescinds: string[] = [];
  client.on('rescind', (id) => rescinds.push(id));
  fake.send({ batch: { events: [{ rescind: { offerId: 'before' } }, { error: { message: 'framework torn down', reason: 'ERROR_FRAMEWORK_REMOVED' } }, { rescind: { offerId: 'after' } }] } });
  t.match((await error)[0], { details: 'framework torn down', reason: 'FRAMEWORK_REMOVED' });
  await new Promise((r) => setTimeout(r, 50));
  t.same(rescinds, ['before'], 'the event before the error was handled, the one after was not');
  t.notOk(client.subscribed, 'is no longer subscribed');
});

t.test('explicit acknowledgements in one tick share a call and its outcome', async (t) => {
  const { fake, client } = await setup(t, { autoAcknowledge: false });
  await client.start();
  await Promise.all([
    client.acknowledge({ agentId: 'agent-1', taskId: 'a', uuid: 'u1' }),
    client.acknowledge({ agentId: 'agent-1', taskId: 'b', uuid: 'u2' }),
    client.acknowledge({ agentId: 'agent-1', taskId: 'c' }), // no uuid: nothing to send
  ]);
  t.equal(fake.callsOf('Acknowledge').length, 1, 'one call for both');
  t.equal((fake.callsOf('Acknowledge')[0]?.acks as unknown[]).length, 2);
  fake.failures.set('Acknowledge', { code: grpc.status.FAILED_PRECONDITION, details: 'stale stream', reason: 'STALE_STREAM' });
  const outcomes = await Promise.allSettled([
    client.acknowledge({ agentId: 'agent-1', taskId: 'd', uuid: 'u3' }),
    client.acknowledge({ agentId: 'agent-1', taskId: 'e', uuid: 'u4' }),
  ]);
  t.same(outcomes.map((o) => o.status), ['rejected', 'rejected'], 'a failed call rejects every acknowledgement in it');
  t.match((outcomes[0] as PromiseRejectedResult).reason, { code: 'FAILED_PRECONDITION', reason: 'STALE_STREAM' });
});

t.test('no acknowledgement when autoAcknowledge is off', async (t) => {
  const { fake, client } = await setup(t, { autoAcknowledge: false });
  await client.start();
  const got = once<[TaskStatus]>(client, 'update');
  fake.send({ update: { status: { taskId: 'task-a', frameworkId: 'fw-1', agentId: 'agent-1', state: 'TASK_FINISHED', uuid: 'u1', exitCode: 0 } } });
  const [s] = await got;
  t.match(s, { state: 'FINISHED', uuid: 'u1', exitCode: 0 }, 'decodes the status');
  await client.acknowledge(s);
  t.equal(fake.callsOf('Acknowledge').length, 1, 'only the explicit acknowledgement was sent');
});

t.test('calls carry the framework id and stream id', async (t) => {
  const { fake, client } = await setup(t);
  await client.start();
  const offer: Offer = { id: 'offer-1', frameworkId: 'fw-1', agentId: 'agent-1', hostname: 'h', role: '*', resources: [], attributes: [] };
  const task = buildTask({ taskId: 't1', offer, resources: 'cpus:0.1;mem:32', command: 'true' });
  await client.launch(offer, [task], { refuseSeconds: 2 });
  await client.decline(['offer-2']);
  await client.revive();
  await client.suppress(['a']);
  await client.kill('t1', 'agent-1', 1500);
  await client.reconcile();
  await client.reconcile([{ taskId: 't1' }]);
  for (const c of fake.calls) t.same(c.request.header, { frameworkId: 'fw-1', streamId: 'stream-1' }, `${c.method} carries the header`);
  t.match(fake.callsOf('Accept')[0], {
    offerIds: ['offer-1'],
    operations: [{ launch: { tasks: [{ taskId: 't1', agentId: 'agent-1', command: { shell: true, value: 'true' } }] } }],
    filters: { refuseSeconds: 2 },
  }, 'launch sends one LAUNCH operation');
  t.match(fake.callsOf('Decline')[0], { offerIds: ['offer-2'], filters: null }, 'decline without filters leaves the default');
  t.match(fake.callsOf('Suppress')[0], { roles: ['a'] });
  t.match(fake.callsOf('Kill')[0], { taskId: 't1', agentId: 'agent-1', killGraceSeconds: 1.5 });
  t.same(fake.callsOf('Reconcile').map((r) => r['tasks']), [[], [{ taskId: 't1', agentId: '' }]], 'reconciles implicitly, then explicitly');
});

t.test("a call's gRPC error becomes an OrbitCallError with the code, the message and the master's typed reason", async (t) => {
  const cases: [string, { code: grpc.status; details: string; reason?: 'INVALID_ARGUMENT' | 'LIMIT_EXCEEDED' | 'STALE_STREAM' }, object][] = [
    ['a malformed field', { code: grpc.status.INVALID_ARGUMENT, details: 'operations[0].launch.tasks[0].task_id: bad', reason: 'INVALID_ARGUMENT' }, { code: 'INVALID_ARGUMENT', reason: 'INVALID_ARGUMENT' }],
    ['a cap', { code: grpc.status.INVALID_ARGUMENT, details: 'operations: too many', reason: 'LIMIT_EXCEEDED' }, { code: 'INVALID_ARGUMENT', reason: 'LIMIT_EXCEEDED' }],
    ['a stale stream', { code: grpc.status.FAILED_PRECONDITION, details: 'not the current stream', reason: 'STALE_STREAM' }, { code: 'FAILED_PRECONDITION', reason: 'STALE_STREAM' }],
    ['a status without details', { code: grpc.status.INTERNAL, details: 'something broke' }, { code: 'INTERNAL', reason: undefined }],
  ];
  const { fake, client } = await setup(t);
  await client.start();
  for (const [what, failure, want] of cases) {
    fake.failures.set('Accept', failure);
    const err = await client.accept(['offer-1'], []).catch((e: unknown) => e);
    t.type(err, OrbitCallError, what);
    t.match(err, { call: 'Accept', details: failure.details, ...want }, what);
  }
});

t.test('re-subscribes with the same framework id after the backoff when the stream fails', async (t) => {
  const { fake, client, clock } = await setup(t);
  await client.start();
  const disconnected = once<[string]>(client, 'disconnected');
  const resubscribed = once<[SubscribedInfo]>(client, 'subscribed');
  fake.fail(grpc.status.UNAVAILABLE, 'master going away');
  t.match((await disconnected)[0], /UNAVAILABLE: master going away/, 'says why it disconnected');
  t.equal(fake.subscriptions.length, 1, 'waits for the backoff');
  clock.advance(RECONNECT_MAX_MS);
  const [info] = await resubscribed;
  t.match(info, { resubscribed: true, streamId: 'stream-2' }, 'gets a new stream id');
  t.equal(fake.subscriptions[1]?.framework?.id, 'fw-1', 're-subscribes with the framework id');
  await client.revive();
  t.same(fake.callsOf('Revive')[0]?.header, { frameworkId: 'fw-1', streamId: 'stream-2' }, 'calls use the new stream id');
});

t.test('re-subscribes when no event arrives within 3 heartbeat intervals; any event restarts the count', async (t) => {
  const { fake, client, clock } = await setup(t, {}, (f) => (f.heartbeatSeconds = 1));
  await client.start();
  let disconnects = 0;
  client.on('disconnected', () => disconnects++);
  clock.advance(2_900);
  const heartbeat = once(client, 'heartbeat');
  fake.send({ heartbeat: {} });
  await heartbeat;
  clock.advance(2_900);
  t.equal(disconnects, 0, 'a heartbeat 2.9 s in keeps the stream for 3 s more');
  const disconnected = once<[string]>(client, 'disconnected');
  clock.advance(100);
  t.match((await disconnected)[0], /no event from the master in 3000 ms/);
  const subscribed = once(client, 'subscribed');
  clock.advance(RECONNECT_MAX_MS);
  await subscribed;
  t.equal(fake.subscriptions.length, 2, 'subscribed again');
});

t.test('a heartbeat interval outside 0.1 s to 1 hour is taken as 15 s', async (t) => {
  const cases: [number, number][] = [
    [60, 60_000],
    [0.1, 100],
    [3600, 3_600_000],
    [0.05, 15_000],
    [0, 15_000],
    [7200, 15_000],
    [NaN, 15_000],
    [Infinity, 15_000],
  ];
  for (const [seconds, ms] of cases) {
    const { client } = await setup(t, {}, (f) => (f.heartbeatSeconds = seconds));
    t.equal((await client.start()).heartbeatIntervalMs, ms, `${seconds} s`);
    client.close();
  }
});

t.test('with several masters, subscribes to the next when one cannot be reached', async (t) => {
  const [dead] = await freePorts(1);
  const { fake, client, clock } = await setup(t, {}, undefined, (live) => `127.0.0.1:${dead},${live}`);
  const disconnected = once<[string]>(client, 'disconnected');
  const started = client.start();
  t.match((await disconnected)[0], /UNAVAILABLE/, 'the first master does not answer');
  clock.advance(RECONNECT_MAX_MS);
  t.match(await started, { frameworkId: 'fw-1' }, 'subscribed with the second');
  t.equal(fake.subscriptions.length, 1);
});

t.test('an ERROR event stops the client with its reason: no reconnection', async (t) => {
  const { fake, client, clock } = await setup(t);
  await client.start();
  const error = once<[SubscriptionError]>(client, 'error');
  let disconnects = 0;
  client.on('disconnected', () => disconnects++);
  fake.send({ error: { message: 'framework torn down', reason: 'ERROR_FRAMEWORK_REMOVED' } });
  fake.end();
  const [err] = await error;
  t.type(err, SubscriptionError);
  t.match(err, { reason: 'FRAMEWORK_REMOVED', details: 'framework torn down', code: undefined, message: 'the master ended the subscription: framework torn down' }, 'emits the master’s reason and message');
  clock.advance(60_000); // far past any reconnect backoff
  t.equal(disconnects, 0, 'did not report a disconnect');
  t.notOk(client.subscribed, 'is no longer subscribed');
  t.match(await client.revive().catch((e: unknown) => e), { code: 'UNAVAILABLE', message: /closed/ }, 'refuses calls: it is closed for good');
  t.equal(fake.subscriptions.length, 1, 'did not re-subscribe');
});

t.test('an ERROR event with a reason this SDK does not know still stops the client', async (t) => {
  const { fake, client } = await setup(t);
  await client.start();
  const error = once<[SubscriptionError]>(client, 'error');
  fake.send({ error: { message: 'a newer master says no', reason: 99 as never } });
  t.match((await error)[0], { reason: undefined, details: 'a newer master says no' });
});

t.test('a refused subscription stops the client; the error and start() carry the reason', async (t) => {
  const cases: [string, { code: grpc.status; details: string; reason?: 'UNKNOWN_FRAMEWORK' | 'FRAMEWORK_REMOVED' | 'INVALID_ARGUMENT' }, object][] = [
    ['an unknown framework', { code: grpc.status.NOT_FOUND, details: "unknown framework 'fw-gone'", reason: 'UNKNOWN_FRAMEWORK' }, { code: 'NOT_FOUND', reason: 'UNKNOWN_FRAMEWORK' }],
    ['a retired framework id', { code: grpc.status.FAILED_PRECONDITION, details: "framework 'fw-gone' was torn down", reason: 'FRAMEWORK_REMOVED' }, { code: 'FAILED_PRECONDITION', reason: 'FRAMEWORK_REMOVED' }],
    ['a malformed subscription', { code: grpc.status.INVALID_ARGUMENT, details: 'framework.name: is empty', reason: 'INVALID_ARGUMENT' }, { code: 'INVALID_ARGUMENT', reason: 'INVALID_ARGUMENT' }],
    ['a refusal without status details', { code: grpc.status.PERMISSION_DENIED, details: 'no' }, { code: 'PERMISSION_DENIED', reason: undefined }],
  ];
  for (const [what, refusal, want] of cases) {
    const { fake, client } = await setup(t, { framework: { name: 'test-fw', id: 'fw-gone' } }, (f) => (f.refuseSubscribe = refusal));
    const error = once<[SubscriptionError]>(client, 'error');
    const started = client.start().catch((e: unknown) => e);
    const [err] = await error;
    t.match(err, { details: refusal.details, ...want }, `${what}: the error event`);
    t.match(err.message, `${want['code' as keyof typeof want]}: ${refusal.details}`, `${what}: the message says the code and the master's words`);
    t.equal(await started, err, `${what}: start() rejects with the same error`);
    t.equal(fake.subscriptions.length, 1, `${what}: did not retry`);
  }
});

t.test('teardown() tears the framework down and closes the client', async (t) => {
  const { fake, client, clock } = await setup(t);
  await client.start();
  await client.teardown();
  t.equal(fake.callsOf('Teardown').length, 1);
  t.notOk(client.subscribed);
  clock.advance(60_000);
  t.match(await client.revive().catch((e: unknown) => e), { message: /closed/ }, 'closed for good: it does not re-subscribe');
  t.equal(fake.subscriptions.length, 1);
});

t.test('a decline of more offers than the master takes in one call goes in several, every offer once', async (t) => {
  const { fake, client } = await setup(t);
  await client.start();
  const ids = Array.from({ length: MAX_OFFERS_PER_DECLINE * 2 + 5 }, (_, i) => `offer-${i}`);
  await client.decline(ids, { refuseSeconds: 1 });
  const calls = fake.callsOf('Decline') as { offerIds: string[] }[];
  t.strictSame(calls.map((c) => c.offerIds.length).sort((a, b) => b - a), [MAX_OFFERS_PER_DECLINE, MAX_OFFERS_PER_DECLINE, 5], 'three calls (they may arrive in any order)');
  t.strictSame(calls.flatMap((c) => c.offerIds).sort(), [...ids].sort(), 'each offer once');
});
