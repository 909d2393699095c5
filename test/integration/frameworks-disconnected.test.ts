// The services and jobs frameworks while their master is away (a restart or a failover), against
// a scripted master (FakeScheduler) on a manual clock: they know they are disconnected and since
// when, their APIs and the `orbit services|jobs` commands say so instead of presenting last known
// health as current, and a cron run that falls due meanwhile starts as soon as they are back.
import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { ManualClock } from '../../src/common/clock.js';
import type { MasterConnection } from '../../src/frameworks/common/master-connection.js';
import { JobsFramework } from '../../src/frameworks/jobs/jobs-framework.js';
import { startJobsApi } from '../../src/frameworks/jobs/jobs-api.js';
import { ServicesFramework } from '../../src/frameworks/services/services-framework.js';
import { startServicesApi } from '../../src/frameworks/services/services-api.js';
import type { RunningApi } from '../../src/frameworks/common/api-server.js';
import { tempDir } from '../helpers/cluster.js';
import { orbit } from '../helpers/commands.js';
import { FakeScheduler, until } from '../helpers/fake-scheduler.js';

/** The frameworks' longest reconnect backoff: advancing the clock this far re-subscribes. */
const RECONNECT_MAX_MS = 200;
const FAST = { reconnectBaseMs: 50, reconnectMaxMs: RECONNECT_MAX_MS, pendingRefuseSeconds: 1, idleRefuseSeconds: 30, failoverTimeoutMs: 60_000 };
/** Local time, like cron: 15 January 2024 at h:mi:s. */
const at = (h: number, mi: number, s = 0) => new Date(2024, 0, 15, h, mi, s).getTime();

const scalar = (name: string, value: number) => ({ name, type: 'SCALAR' as const, scalar: value, role: '*' });
const offerEvent = (id: string) => ({
  offers: { offers: [{ id, frameworkId: 'fw-1', agentId: 'agent-1', hostname: 'h1', role: '*', resources: [scalar('cpus', 4), scalar('mem', 4096)], attributes: [] }] },
});
let updates = 0;
const statusEvent = (taskId: string, state: 'TASK_RUNNING' | 'TASK_FINISHED', reason: 'REASON_NONE' | 'REASON_RECONCILIATION' = 'REASON_NONE') => ({
  update: { status: { taskId, frameworkId: 'fw-1', agentId: 'agent-1', state, source: 'SOURCE_AGENT' as const, reason, message: '', timestamp: 1, uuid: `uuid-${++updates}`, ...(state === 'TASK_FINISHED' ? { exitCode: 0 } : {}) } },
});
/** The task ids the framework launched, in order. */
const launched = (fake: FakeScheduler): string[] =>
  fake.callsOf('Accept').flatMap((a) => (a['operations'] as { launch?: { tasks: { taskId: string }[] } }[]).flatMap((o) => o.launch?.tasks.map((x) => x.taskId) ?? []));

interface Master {
  fake: FakeScheduler;
  address: string;
  /** Ends the subscription as a dying master does, and refuses re-subscribing until `back()`. */
  goAway(details: string): void;
  back(): void;
}

async function fakeMaster(t: Test): Promise<Master> {
  const fake = new FakeScheduler();
  const address = await fake.listen();
  t.teardown(() => fake.close());
  return {
    fake,
    address,
    goAway(details) {
      fake.refuseSubscribe = { code: grpc.status.UNAVAILABLE, details: 'no leader yet' };
      fake.fail(grpc.status.UNAVAILABLE, details);
    },
    back() {
      fake.refuseSubscribe = undefined;
    },
  };
}

async function getJson<T>(api: RunningApi, path: string): Promise<T> {
  return (await (await fetch(`${api.url}${path}`)).json()) as T;
}

/** Advances the clock past the reconnect backoff until the framework is subscribed again. */
async function resubscribe(clock: ManualClock, connection: () => MasterConnection): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (connection().state !== 'connected') {
    if (Date.now() > deadline) throw new Error('did not re-subscribe');
    clock.advance(RECONNECT_MAX_MS);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('the services framework says it is disconnected, and since when, until it is back', async (t) => {
  const master = await fakeMaster(t);
  const clock = new ManualClock(at(10, 30));
  const fw = new ServicesFramework({ master: master.address, stateDir: tempDir(t, 'orbit-services-'), clock, ...FAST });
  const api = await startServicesApi(fw, '127.0.0.1', 0);
  t.teardown(async () => {
    fw.stop();
    await api.close();
  });
  t.match(fw.connection, { state: 'disconnected', since: at(10, 30), reason: 'not subscribed yet' }, 'not connected before the first subscription');
  await fw.start();
  t.same(fw.connection, { state: 'connected', since: at(10, 30), masterId: 'master-1' });

  fw.deploy({ id: 'web', instances: 2, command: 'sleep 600', resources: { cpus: 0.1, mem: 64 } });
  master.fake.send(offerEvent('offer-1'));
  await until(() => launched(master.fake).length === 2, 'two instances launched');
  for (const id of launched(master.fake)) master.fake.send(statusEvent(id, 'TASK_RUNNING'));
  await until(() => fw.list()[0]?.healthy === 2, 'both running');
  t.match(await getJson(api, '/v1/apps'), { apps: [{ id: 'web', healthy: 2 }], master: { state: 'connected', since: at(10, 30) } }, 'the API says it is connected');
  const connected = await orbit(['services', 'list', '--api', api.url]);
  t.notMatch(connected.out, /disconnected|last known/, 'the list warns of nothing while connected');

  clock.advance(5_000);
  master.goAway('master restarting');
  await until(() => fw.connection.state === 'disconnected', 'the framework to notice');
  t.match(fw.connection, { state: 'disconnected', since: at(10, 30, 5), reason: /UNAVAILABLE: master restarting/ }, 'disconnected since the stream ended, saying why');

  clock.advance(20_000); // a re-subscription attempt is refused meanwhile
  await until(() => master.fake.subscriptions.length >= 2, 'an attempt to re-subscribe');
  await until(() => (fw.connection as { reason?: string }).reason?.includes('no leader yet') === true, 'the newer reason');
  t.equal(fw.connection.since, at(10, 30, 5), 'a failed attempt to re-subscribe does not move the start of the outage');

  await t.test('the API reports the outage next to the last known health', async (t) => {
    const list = await getJson<{ master: MasterConnection }>(api, '/v1/apps');
    t.match(list, { apps: [{ id: 'web', healthy: 2 }], master: { state: 'disconnected', since: at(10, 30, 5), reason: /no leader yet/ } });
    t.match(await getJson(api, '/v1/apps/web'), { id: 'web', healthy: 2, master: { state: 'disconnected', since: at(10, 30, 5) } });
    t.match(await getJson(api, '/health'), { status: 'ok', master: { state: 'disconnected' } });
  });

  await t.test('orbit services list and show warn first, and mark the health counts last known', async (t) => {
    const list = await orbit(['services', 'list', '--api', api.url]);
    t.equal(list.error, undefined);
    t.match(list.out, /^warning: disconnected from the master since 2024-01-15 \d\d:30:05 UTC, \S+ ago \(UNAVAILABLE: no leader yet\); what follows is as last known\nID\s+STATUS/);
    t.match(list.out, /\nweb\s+running\s+1\s+2\/2 \(last known\)\s+2\s+sleep 600/);
    const show = await orbit(['services', 'show', 'web', '--api', api.url]);
    t.match(show.out, /^warning: disconnected from the master since .*\napp web: running, version 1, 2\/2 healthy, 2 running \(last known\)\n/);
    const json = JSON.parse((await orbit(['services', 'list', '--api', api.url, '--json'])).out) as { apps: unknown[]; master: MasterConnection };
    t.match(json, { apps: [{ id: 'web' }], master: { state: 'disconnected', since: at(10, 30, 5) } }, 'list --json carries the connection too');
    const showJson = JSON.parse((await orbit(['services', 'show', 'web', '--api', api.url, '--json'])).out) as { master: MasterConnection };
    t.match(showJson.master, { state: 'disconnected' }, 'and show --json');
  });

  await t.test('--wait does not take last known health for current', async (t) => {
    const r = await orbit(['services', 'scale', 'web', '2', '--api', api.url, '--wait', '--timeout', '0.3']);
    t.match(r.error?.message, /^web is not running with every instance healthy after 0\.3 s; the services framework is disconnected from the master since .* \(UNAVAILABLE: no leader yet\) \(see: orbit services show web\)$/);
  });

  await t.test('once re-subscribed it says connected again, and the warning goes', async (t) => {
    master.back();
    await resubscribe(clock, () => fw.connection);
    t.match(fw.connection, { state: 'connected', masterId: 'master-1' });
    t.ok(fw.connection.since > at(10, 30, 25), 'connected since the re-subscription');
    const list = await orbit(['services', 'list', '--api', api.url]);
    t.match(list.out, /^ID\s+STATUS/);
    t.notMatch(list.out, /last known/);
  });
});

t.test('the jobs framework while the master is away', async (t) => {
  async function startJobs(t: Test, start: number) {
    const master = await fakeMaster(t);
    const clock = new ManualClock(start);
    const fw = new JobsFramework({ master: master.address, stateDir: tempDir(t, 'orbit-jobs-'), clock, tickMs: 250, ...FAST });
    const api = await startJobsApi(fw, '127.0.0.1', 0);
    t.teardown(async () => {
      fw.stop();
      await api.close();
    });
    await fw.start();
    return { master, clock, fw, api };
  }

  await t.test('a cron run that falls due while disconnected starts as soon as the framework is subscribed again', async (t) => {
    const { master, clock, fw, api } = await startJobs(t, at(10, 30, 30));
    fw.submit({ id: 'tick', schedule: '* * * * *', tasks: [{ id: 'say', command: 'echo tick' }] });
    master.goAway('master restarting');
    await until(() => fw.connection.state === 'disconnected', 'the framework to notice');

    clock.advance(30_000); // 10:31:00, the fire, 30 s into the outage
    const [run] = fw.listRuns();
    t.match(run, { jobId: 'tick', trigger: 'schedule', createdAt: at(10, 31), state: 'RUNNING' }, 'the run starts at its time, not skipped');
    t.same(run!.tasks.map((x) => x.state), ['QUEUED'], 'its task is queued for the first offers');
    t.equal(fw.scheduled()[0]?.skipped, 0, 'no fire skipped');
    t.equal(fw.scheduled()[0]?.nextRunAt, at(10, 32));

    const runs = await getJson<{ master: MasterConnection }>(api, '/v1/runs');
    t.match(runs.master, { state: 'disconnected', since: at(10, 30, 30), reason: /UNAVAILABLE/ }, 'GET /v1/runs says since when the framework is disconnected');
    t.match(await getJson(api, `/v1/runs/${run!.runId}`), { runId: run!.runId, master: { state: 'disconnected' } }, 'so does GET /v1/runs/:id');
    t.match(await getJson(api, '/v1/jobs'), { jobs: [{ spec: { id: 'tick' } }], master: { state: 'disconnected' } }, 'and GET /v1/jobs');
    const shown = await orbit(['jobs', 'runs', '--api', api.url]);
    t.match(shown.out, /^warning: disconnected from the master since 2024-01-15 \d\d:30:30 UTC, \S+ ago \(UNAVAILABLE: [^)]*\); what follows is as last known\nSCHEDULED JOB/, 'orbit jobs runs warns first');
    t.match((await orbit(['jobs', 'status', run!.runId, '--api', api.url])).out, /^warning: disconnected from the master since .*\nrun tick-\S+ of job tick: RUNNING/, 'and orbit jobs status');
    const json = JSON.parse((await orbit(['jobs', 'runs', '--api', api.url, '--json'])).out) as { master: MasterConnection };
    t.match(json.master, { state: 'disconnected', since: at(10, 30, 30) }, 'runs --json carries the connection');

    master.back();
    const revivesBefore = master.fake.callsOf('Revive').length;
    await resubscribe(clock, () => fw.connection);
    const backAt = clock.now();
    // From here the clock stands still: no tick and no backoff is needed for the run to launch.
    await until(() => master.fake.callsOf('Revive').length > revivesBefore, 'offers revived on re-subscribing');
    master.fake.send(offerEvent('offer-1'));
    await until(() => launched(master.fake).length === 1, 'the queued task launched');
    t.equal(clock.now(), backAt, 'launched at the first offers, with no clock advance');
    t.equal(launched(master.fake)[0], `${run!.runId}.say.1`);
    t.equal(fw.run(run!.runId).tasks[0]!.attempts[0]!.launchedAt, backAt);
    t.notMatch((await orbit(['jobs', 'runs', '--api', api.url])).out, /disconnected/, 'the warning is gone');
  });

  /** A job firing each minute whose run (triggered at 10:30:30) is RUNNING when the master goes away. */
  async function runningWhenMasterGoes(t: Test) {
    const jobs = await startJobs(t, at(10, 30, 30));
    const { master, clock, fw } = jobs;
    fw.submit({ id: 'minutely', schedule: '* * * * *', tasks: [{ id: 'work', command: 'sleep 50' }] });
    const { runId } = fw.trigger('minutely');
    master.fake.send(offerEvent('offer-1'));
    await until(() => launched(master.fake).length === 1, 'the first run launched');
    const taskId = `${runId}.work.1`;
    master.fake.send(statusEvent(taskId, 'TASK_RUNNING'));
    await until(() => fw.run(runId!).tasks[0]!.attempts[0]!.state === 'RUNNING', 'running');
    master.goAway('master restarting');
    await until(() => fw.connection.state === 'disconnected', 'the framework to notice');
    clock.advance(30_000); // 10:31:00: the fire, while the first run may have ended unseen
    return { ...jobs, runId: runId!, taskId };
  }

  await t.test('a fire whose previous run may have ended unseen is held, and starts the moment that run is known to have ended', async (t) => {
    const { master, clock, fw, api, runId, taskId } = await runningWhenMasterGoes(t);
    t.equal(fw.listRuns().length, 1, 'no second run while the first may still be going');
    t.match(fw.scheduled()[0], { heldFireAt: at(10, 31), skipped: 0, nextRunAt: at(10, 32) }, 'the fire is held, not skipped');
    t.match((await orbit(['jobs', 'runs', '--api', api.url])).out, new RegExp(`\\nminutely: the run due at 2024-01-15 \\d\\d:31:00 is held until the master says whether ${runId} has ended\\n`));

    master.back();
    await resubscribe(clock, () => fw.connection);
    t.equal(fw.listRuns().length, 1, 'still held: reconciliation has not answered yet');
    const now = clock.now();
    master.fake.send(statusEvent(taskId, 'TASK_FINISHED')); // the agent's update, held while the master was away
    await until(() => fw.listRuns().length === 2, 'the held run started');
    const [second, first] = fw.listRuns();
    t.equal(first!.state, 'SUCCEEDED');
    t.match(second, { jobId: 'minutely', trigger: 'schedule', createdAt: now }, 'started on the update, with no clock advance');
    t.match(fw.scheduled()[0], { skipped: 0, nextRunAt: at(10, 32) });
    t.equal(fw.scheduled()[0]?.heldFireAt, undefined);
  });

  await t.test('a held fire is skipped when reconciliation says the previous run is still going', async (t) => {
    const { master, clock, fw, taskId } = await runningWhenMasterGoes(t);
    master.back();
    await resubscribe(clock, () => fw.connection);
    master.fake.send(statusEvent(taskId, 'TASK_RUNNING', 'REASON_RECONCILIATION'));
    await until(() => fw.scheduled()[0]?.heldFireAt === undefined, 'the held fire decided');
    t.equal(fw.listRuns().length, 1, 'no second run');
    t.equal(fw.scheduled()[0]?.skipped, 1, 'the fire is skipped, as it would have been had the framework been connected');
  });
});
