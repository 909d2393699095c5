// The dashboard in headless Chromium (Debian's `chromium`, driven by playwright-core) against a
// real master with three agents and a framework's tasks: no console errors, counts that match
// GET /state, a task launched during the test appearing without a reload. The screenshot it takes
// is kept (its path is printed) so a person can look.
import t from 'tap';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { ClusterStateView } from '../../src/common/state-view.js';
import { buildTask, SchedulerClient, takeResources, type TaskSpec } from '../../src/framework-sdk/index.js';
import { startMaster } from '../../src/master/master.js';
import { eventually, FAST_MASTER, OfferPool, startAgentForTest, tempDir, updatesUntil } from '../helpers/cluster.js';
import { testMasterSecurity } from '../helpers/pki.js';
import { testFetch } from '../helpers/http-client.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

const text = async (page: Page, selector: string): Promise<string> => ((await page.textContent(selector)) ?? '').trim();

if (!existsSync(CHROMIUM)) {
  t.fail(`${CHROMIUM} is missing: install it with 'apt-get install -y chromium' (.ci/run does)`);
} else {
  t.test('the dashboard in a real browser', async (t) => {
    const master = await startMaster({ security: testMasterSecurity(), ip: '127.0.0.1', port: 0, httpPort: 0, workDir: tempDir(t), ...FAST_MASTER, historySampleMs: 200, dashboardStreamMs: 300 });
    t.teardown(() => master.stop());
    const base = `https://127.0.0.1:${master.httpPort}`;
    const state = async (): Promise<ClusterStateView> => (await (await testFetch(`${base}/state`)).json()) as ClusterStateView;

    const specs = [
      { hostname: 'alpha.dc1', attributes: 'rack:r1;zone:a', resources: 'cpus:4;mem:8192;disk:20480;ports:[31000-31009]' },
      { hostname: 'beta.dc1', attributes: 'rack:r1;zone:b', resources: 'cpus:4;mem:8192;disk:20480;ports:[31000-31009]' },
      { hostname: 'gamma.dc1', attributes: 'rack:r2;zone:a', resources: 'cpus:2;mem:4096;disk:10240;ports:[31000-31009]' },
    ];
    const agents = [];
    for (const spec of specs) {
      const agent = await startAgentForTest(t, master.address, spec);
      await agent.registered(10_000);
      agents.push(agent);
    }
    const [alpha, beta, gamma] = agents.map((a) => a.agentId());

    const fw = new SchedulerClient({ master: master.address, framework: { name: 'web-services', roles: ['*'], failoverTimeoutMs: 60_000 }, reconnectBaseMs: 50 });
    t.teardown(() => fw.close());
    const pool = new OfferPool(fw);
    await fw.start();
    /** Launches sleeping process tasks on one agent and waits for them to run. */
    const launch = async (agentId: string, names: string[], resources = 'cpus:1;mem:1024;disk:2048'): Promise<TaskSpec[]> => {
      const offer = await pool.take((o) => o.agentId === agentId);
      const tasks = names.map((name) => buildTask({ offer, name, resources: takeResources(offer, resources)!, process: true, command: 'sleep 60' }));
      const running = tasks.map((task) => updatesUntil(fw, task.taskId, 'RUNNING'));
      await fw.launch(offer, tasks);
      await Promise.all(running);
      return tasks;
    };
    await launch(alpha!, ['api-1', 'api-2']);
    await launch(beta!, ['worker-1'], 'cpus:2;mem:2048');
    master.core.drainAgent(gamma!);

    const profile = tempDir(t, 'orbit-chromium-');
    const context: BrowserContext = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      viewport: { width: 1440, height: 1000 },
      // The master's certificate is signed by the test cluster's CA, which the browser does not know.
      ignoreHTTPSErrors: true,
    });
    t.teardown(() => context.close());
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
    });

    // As an operator would: an API token, once, through /login; the cookie it sets opens the rest.
    const { token } = await master.security.tokens!.create({ ttlMs: 3_600_000, description: 'browser test', nowMs: Date.now(), pin: master.security.pki!.pin, api: { principal: 'operator:viewer' } });
    await page.goto(`${base}/login?token=${token}`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
    t.equal(new URL(page.url()).pathname, '/', 'the login went on to the dashboard');

    await t.test('the counts and rows match GET /state', async (t) => {
      const s = await state();
      const active = s.frameworks.flatMap((f) => f.tasks);
      t.equal(await text(page, '#count-agents'), String(s.agents.length), 'agents');
      t.equal(await text(page, '#count-frameworks'), String(s.frameworks.length), 'frameworks');
      t.equal(await text(page, '#count-tasks'), String(active.length), 'active tasks');
      t.equal(await text(page, '#count-running'), String(active.filter((x) => x.state === 'RUNNING').length), 'running tasks');
      const agentRows = await page.$$eval('tr[data-agent-id]', (rows) => rows.map((r) => r.getAttribute('data-agent-id')));
      t.same([...agentRows].sort(), s.agents.map((a) => a.id).sort(), 'a row per agent');
      const taskRows = await page.$$eval('#tasks tr[data-task-id]', (rows) => rows.map((r) => r.getAttribute('data-task-id')));
      t.same([...taskRows].sort(), active.map((x) => x.id).sort(), 'a row per active task');
      const gammaStatus = await text(page, `tr[data-agent-id="${gamma}"] .pill`);
      t.equal(gammaStatus, s.agents.find((a) => a.id === gamma)!.status, 'the drained agent says so');
      t.equal(gammaStatus, 'drained');
      t.match(await text(page, `tr[data-agent-id="${alpha}"]`), 'alpha.dc1');
      t.match(await text(page, `tr[data-agent-id="${alpha}"]`), 'rack:r1');
      t.match(await text(page, `tr[data-agent-id="${alpha}"]`), '2 / 4', 'alpha uses 2 of its 4 cpus');
      t.match(await text(page, '#tiles'), '4 / 10', 'the cluster uses 4 of its 10 cpus');
      t.match(await text(page, '#events'), 'gamma.dc1 draining', 'the drain is in the recent events');
    });

    await t.test('a task launched now appears without a reload', async (t) => {
      // Page-side code is given as strings: this project compiles without the DOM types.
      await page.evaluate('window.orbitNoReload = true');
      const [task] = await launch(beta!, ['launched-during-test'], 'cpus:0.5;mem:256');
      await page.waitForSelector(`#tasks tr[data-task-id="${task!.taskId}"][data-state="RUNNING"]`, { timeout: 10_000 });
      t.equal(await page.evaluate('window.orbitNoReload === true'), true, 'the page was not reloaded');
      const s = await state();
      await eventually('the task count to follow', async () => (await text(page, '#count-tasks')) === String(s.frameworks.flatMap((f) => f.tasks).length));
      t.pass('the active task count follows /state');
    });

    await t.test('the utilisation chart draws the samples', async (t) => {
      await page.waitForFunction("Number(document.querySelector('#chart-util svg')?.getAttribute('data-samples') ?? 0) >= 2", undefined, { timeout: 10_000 });
      t.ok(await page.$('#chart-util svg polyline'), 'a line is drawn');
      t.ok(await page.$('#chart-tasks svg polygon'), 'the running-tasks area is drawn');
    });

    await t.test('no console errors, failed requests or page errors', async (t) => {
      const shots = mkdtempSync(join(tmpdir(), 'orbit-dashboard-')); // kept for a person to look at
      const path = join(shots, 'dashboard.png');
      await page.screenshot({ path, fullPage: true });
      t.comment(`dashboard screenshot: ${path}`);
      t.same(problems, [], 'none');
    });
  });
}
