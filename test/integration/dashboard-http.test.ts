// The dashboard's HTTP side on a real master: GET /history, GET /events, GET /stream (server-sent
// events), the page and its files, without a browser (dashboard-browser.test.ts has one).
import t from 'tap';
import type { ClusterStateView } from '../../src/common/state-view.js';
import { buildTask, takeResources } from '../../src/framework-sdk/index.js';
import type { DashboardSnapshot } from '../../src/master/http/dashboard-feed.js';
import type { RecordedEvent, UtilisationSample } from '../../src/master/history.js';
import { startMaster } from '../../src/master/master.js';
import { eventually, FAST_MASTER, OfferPool, startAgentForTest, tempDir, updatesUntil } from '../helpers/cluster.js';
import { SchedulerClient } from '../../src/framework-sdk/index.js';
import { testMasterSecurity } from '../helpers/pki.js';
import { testFetch } from '../helpers/http-client.js';

/** Reads server-sent events from a fetch body: `next()` resolves with the next event. */
class EventReader {
  private buffer = '';
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  async next(): Promise<{ event: string; data: string }> {
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const frame = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (event && data !== undefined) return { event, data };
        continue;
      }
      const { value, done } = await this.reader.read();
      if (done) throw new Error('the stream ended');
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  /** The next `snapshot` event, skipping ticks. */
  async snapshot(): Promise<DashboardSnapshot> {
    for (;;) {
      const e = await this.next();
      if (e.event === 'snapshot') return JSON.parse(e.data) as DashboardSnapshot;
    }
  }

  cancel(): Promise<void> {
    return this.reader.cancel();
  }
}

t.test('the dashboard endpoints on a real master', async (t) => {
  const master = await startMaster({ security: testMasterSecurity(), ip: '127.0.0.1', port: 0, httpPort: 0, workDir: tempDir(t), ...FAST_MASTER, historySampleMs: 100, dashboardStreamMs: 150 });
  t.teardown(() => master.stop());
  const base = `http://127.0.0.1:${master.httpPort}`;
  const getJson = async <T>(path: string): Promise<T> => (await (await testFetch(base + path)).json()) as T;
  const state = () => getJson<ClusterStateView>('/state');

  await t.test('GET /history: samples a few times a second here, oldest first, and ?since= gives newer ones', async (t) => {
    const history = await eventually('three samples', async () => {
      const h = await getJson<{ intervalMs: number; samples: UtilisationSample[] }>('/history');
      return h.samples.length >= 3 ? h : undefined;
    });
    t.equal(history.intervalMs, 100);
    const times = history.samples.map((s) => s.time);
    t.same(times, [...times].sort((a, b) => a - b), 'oldest first');
    t.same(history.samples[0]!.total, { cpus: 0, mem: 0, disk: 0, gpus: 0 }, 'no agents yet');
    const since = times[1]!;
    const newer = await getJson<{ samples: UtilisationSample[] }>(`/history?since=${since}`);
    t.ok(newer.samples.length > 0 && newer.samples.every((s) => s.time > since), 'only samples after ?since');
  });

  const agent = await startAgentForTest(t, master.address, { hostname: 'events-agent', resources: 'cpus:2;mem:1024;disk:1024' });
  await agent.registered(10_000);
  const agentId = agent.agentId();

  await t.test('GET /events: an agent registering shows up, newest first, numbered', async (t) => {
    const body = await eventually('the registration event', async () => {
      const b = await getJson<{ total: number; events: RecordedEvent[] }>('/events');
      return b.events.some((e) => e.type === 'agent-registered') ? b : undefined;
    });
    const registered = body.events.find((e) => e.type === 'agent-registered')!;
    t.equal(registered.agentId, agentId);
    t.match(registered.message, /events-agent/);
    t.ok(registered.time > 0 && registered.seq >= 1);
    t.equal(body.total, Math.max(...body.events.map((e) => e.seq)));
    const limited = await getJson<{ events: RecordedEvent[] }>('/events?limit=1');
    t.equal(limited.events.length, 1);
  });

  await t.test('the samples follow the agent: total cpus 2', async (t) => {
    const h = await eventually('a sample with the agent', async () => {
      const b = await getJson<{ samples: UtilisationSample[] }>('/history');
      return b.samples.at(-1)?.total['cpus'] === 2 ? b : undefined;
    });
    t.equal(h.samples.at(-1)!.activeAgents, 1);
  });

  await t.test('GET /stream: a snapshot at once whose counts match /state, then updates as tasks start', async (t) => {
    const controller = new AbortController();
    t.teardown(() => controller.abort());
    const res = await testFetch(`${base}/stream`, { signal: controller.signal });
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^text\/event-stream/);
    const events = new EventReader(res.body!);
    const first = await events.snapshot();
    const s = await state();
    t.equal(first.agents.total, s.agents.length);
    t.same(first.agents.rows.map((a) => a.id), s.agents.map((a) => a.id));
    t.equal(first.agents.rows[0]!.status, 'active');
    t.same(first.summary.resources.total, { cpus: 2, mem: 1024, disk: 1024, gpus: 0 });
    t.equal(first.frameworks.total, 0);
    t.equal(first.tasks.total, 0);
    t.equal(first.master.id, s.masterId);

    const fw = new SchedulerClient({ master: master.address, framework: { name: 'stream-fw', roles: ['*'], failoverTimeoutMs: 60_000 }, reconnectBaseMs: 50 });
    t.teardown(() => fw.close());
    const pool = new OfferPool(fw);
    await fw.start();
    const offer = await pool.take();
    const task = buildTask({ offer, name: 'streamed', resources: takeResources(offer, 'cpus:0.5;mem:64')!, process: true, command: 'sleep 30' });
    const running = updatesUntil(fw, task.taskId, 'RUNNING');
    await fw.launch(offer, [task]);
    await running;
    const snap = await eventually('a snapshot with the running task', async () => {
      const next = await events.snapshot();
      return next.tasks.rows.some((r) => r.id === task.taskId && r.state === 'RUNNING') ? next : undefined;
    });
    const row = snap.tasks.rows.find((r) => r.id === task.taskId)!;
    t.equal(row.framework, 'stream-fw');
    t.equal(row.hostname, 'events-agent');
    t.equal(row.resources, 'cpus:0.5;mem:64');
    t.equal(snap.frameworks.rows[0]!.tasks.RUNNING, 1);
    t.equal(snap.summary.tasks.RUNNING, 1);
    t.ok(snap.events.rows.some((e) => e.type === 'framework-subscribed'), 'the subscription is in the events');
    await events.cancel();
  });

  await t.test('GET / serves the page, its files with ETags, and 304 when unchanged', async (t) => {
    const page = await testFetch(`${base}/`);
    t.equal(page.status, 200);
    t.match(page.headers.get('content-type'), /^text\/html/);
    const html = await page.text();
    t.match(html, '<script type="module" src="/dashboard/app.js">');
    for (const [path, type] of [['/dashboard/app.js', /^text\/javascript/], ['/dashboard/chart.js', /^text\/javascript/], ['/dashboard/format.js', /^text\/javascript/], ['/dashboard/style.css', /^text\/css/]] as const) {
      const res = await testFetch(base + path);
      t.equal(res.status, 200, path);
      t.match(res.headers.get('content-type'), type);
      const etag = res.headers.get('etag');
      await res.text();
      t.ok(etag, `${path} has an ETag`);
      const again = await testFetch(base + path, { headers: { 'if-none-match': etag! } });
      t.equal(again.status, 304, `${path} is not sent again when unchanged`);
    }
  });

  await t.test('an unknown path is a JSON 404 that lists the endpoints', async (t) => {
    const res = await testFetch(`${base}/nope`);
    t.equal(res.status, 404);
    const body = (await res.json()) as { error: string; endpoints: string[] };
    t.match(body.error, "'/nope'");
    for (const e of ['/', '/state', '/metrics', '/history', '/events', '/stream']) t.ok(body.endpoints.includes(e), `lists ${e}`);
    const post = await testFetch(`${base}/metrics`, { method: 'POST' });
    t.equal(post.status, 405);
    await post.body?.cancel();
  });
});
