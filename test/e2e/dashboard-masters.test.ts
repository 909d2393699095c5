// The dashboard's masters in headless Chromium (as dashboard-browser.test.ts runs it), 800 px wide:
// an embedded master says "single master" in its header and shows no Masters card; three masters
// in HA on a real etcd show in the leader's card, the leader first and marked, each healthy; a
// member that does not answer (a key written straight into etcd, its strings hostile) shows as
// unhealthy with why and when it last answered, every string as text; a standby stopped cleanly
// leaves the card. Screenshots are kept (their paths are printed) so a person can look.
import t from 'tap';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { clusterKeys, type MasterAddress } from '../../src/common/etcd-client.js';
import type { ClusterStateView } from '../../src/common/state-view.js';
import { startMaster, type RunningMaster } from '../../src/master/master.js';
import { startHaMasters } from '../helpers/ha.js';
import { eventually, FAST_MASTER, tempDir } from '../helpers/cluster.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { testFetch } from '../helpers/http-client.js';
import { testMasterSecurity } from '../helpers/pki.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const WIDTH = 800;
const DASHBOARD = { historySampleMs: 200, dashboardStreamMs: 300 };

const text = async (page: Page, selector: string): Promise<string> => ((await page.textContent(selector)) ?? '').trim();

/** What the Masters card shows, in order (page-side code as a string: no DOM types here). */
interface ShownMaster {
  id: string;
  role: string;
  healthy: string;
  leader: boolean;
  href: string | null;
  text: string;
}
const SHOWN_MASTERS = `[...document.querySelectorAll('#masters .peer')].map((el) => ({
  id: el.getAttribute('data-master-id'), role: el.getAttribute('data-role'), healthy: el.getAttribute('data-healthy'),
  leader: el.classList.contains('leader'), href: el.querySelector('a')?.getAttribute('href') ?? null, text: el.textContent.replace(/\\s+/g, ' ').trim(),
}))`;
const shownMasters = (page: Page): Promise<ShownMaster[]> => page.evaluate(SHOWN_MASTERS) as Promise<ShownMaster[]>;

/** Whether the page is wider than the window (something does not fit). */
const overflows = (page: Page): Promise<boolean> => page.evaluate('document.documentElement.scrollWidth > window.innerWidth') as Promise<boolean>;

/** Takes a full-page screenshot into a new temp dir, kept for a person to look at; its path. */
async function screenshot(page: Page, name: string): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'orbit-dashboard-')), name);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** A page logged in to `master` with an API token, as an operator would, collecting problems. */
async function openDashboard(context: BrowserContext, master: RunningMaster, problems: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  const { token } = await master.security.tokens!.create({ ttlMs: 3_600_000, description: 'browser test', nowMs: Date.now(), pin: master.security.pki!.pin, api: { principal: 'operator:viewer' } });
  await page.goto(`https://127.0.0.1:${master.httpPort}/login?token=${token}`);
  try {
    await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
  } catch (err) {
    throw new Error(`the dashboard did not render (${problems.join('; ') || 'no errors seen'})`, { cause: err });
  }
  return page;
}


/** Writes or deletes a key through etcd's JSON gateway (no lease: it stays until deleted). */
async function etcdPut(etcd: TestEtcd, key: string, value: string): Promise<void> {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const res = await fetch(`${etcd.endpoint}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64(key), value: b64(value) }) });
  if (!res.ok) throw new Error(`etcd put ${key}: HTTP ${res.status}`);
}
async function etcdDelete(etcd: TestEtcd, key: string): Promise<void> {
  const res = await fetch(`${etcd.endpoint}/v3/kv/deleterange`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(key).toString('base64') }) });
  if (!res.ok) throw new Error(`etcd delete ${key}: HTTP ${res.status}`);
}

if (!existsSync(CHROMIUM)) {
  t.fail(`${CHROMIUM} is missing: install it with 'apt-get install -y chromium' (.ci/run does)`);
} else {
  const context: BrowserContext = await chromium.launchPersistentContext(tempDir(t, 'orbit-chromium-'), {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    viewport: { width: WIDTH, height: 900 },
    // The masters' certificates are signed by the test cluster's CA, which the browser does not know.
    ignoreHTTPSErrors: true,
  });
  t.teardown(() => context.close());

  t.test('an embedded master says "single master" in its header and shows no Masters card', async (t) => {
    const master = await startMaster({ security: testMasterSecurity(), ip: '127.0.0.1', port: 0, httpPort: 0, workDir: tempDir(t), ...FAST_MASTER, ...DASHBOARD });
    t.teardown(() => master.stop());
    const state = (await (await testFetch(`http://127.0.0.1:${master.httpPort}/state`)).json()) as ClusterStateView;
    t.same(state.masters?.map((m) => [m.masterId, m.role, m.healthy]), [[master.masterId, 'leader', true]], '/state lists this master alone, leading');

    const problems: string[] = [];
    const page = await openDashboard(context, master, problems);
    t.teardown(() => page.close());
    t.equal(await text(page, '#masters-summary'), 'single master');
    t.match(await text(page, '#master-info'), `master ${master.masterId} · single master · v`, 'beside its id');
    t.equal(await page.isVisible('#masters-card'), false, 'no card takes space');
    t.equal(await overflows(page), false, `it fits ${WIDTH} px`);
    t.comment(`screenshot: ${await screenshot(page, 'dashboard-embedded.png')}`);
    t.same(problems, [], 'no console errors, failed requests or page errors');
  });

  t.test('masters in HA: the leader first and marked, a silent member unhealthy, a stopped standby gone', async (t) => {
    const etcd = await startEtcd();
    t.teardown(() => etcd.stop());
    const masters = await startHaMasters(t, etcd, 3, DASHBOARD);
    await Promise.race(masters.map((m) => m.leading()));
    const leader = masters.find((m) => m.health().role === 'leader')!;
    const standbys = masters.filter((m) => m !== leader);

    const problems: string[] = [];
    const page = await openDashboard(context, leader, problems);
    t.teardown(() => page.close());
    // The leader asks each master's /health every 2 s; the stream brings what it last saw.
    await page.waitForFunction(`document.querySelectorAll('#masters .peer[data-healthy="true"]').length === 3`, undefined, { timeout: 15_000 });

    await t.test('three masters, the leader first, marked and linked', async (t) => {
      const shown = await shownMasters(page);
      t.same(shown.map((m) => m.id), [leader.masterId, ...shown.slice(1).map((m) => m.id)], 'the leader (this page) first');
      t.same(new Set(shown.map((m) => m.id)), new Set(masters.map((m) => m.masterId)), 'every master');
      t.same(shown.map((m) => [m.role, m.leader, m.healthy]), [['leader', true, 'true'], ['standby', false, 'true'], ['standby', false, 'true']], 'roles; only the leader is highlighted');
      for (const m of masters) {
        const row = shown.find((s) => s.id === m.masterId)!;
        t.equal(row.href, `https://127.0.0.1:${m.httpPort}`, 'the address links to its HTTP port');
        t.match(row.text, m.address, 'and shows its gRPC address');
        t.match(row.text, 'healthy');
        t.notMatch(row.text, 'last answered', 'a healthy master needs no age');
      }
      t.match(shown[0]!.text, 'this page');
      t.equal(await text(page, '#count-masters'), '3');
      t.equal(await text(page, '#masters-note'), 'all healthy');
      t.equal(await text(page, '#masters-summary'), 'leader of 3', 'the header says it leads 3');
      t.equal(await overflows(page), false, `it fits ${WIDTH} px`);
      t.comment(`screenshot: ${await screenshot(page, 'dashboard-masters.png')}`);
    });

    // A member key no master stands behind, its strings hostile: the leader's /health calls to it fail.
    const ghost: MasterAddress = { masterId: 'ghost-<b>x</b>', address: '<img src=x onerror="window.pwned=1">:5050', httpUrl: 'javascript:window.pwned=2' };
    const ghostKey = clusterKeys(leader.security.pki!.cluster).members + 'ghost';
    await etcdPut(etcd, ghostKey, JSON.stringify(ghost));
    t.teardown(() => etcdDelete(etcd, ghostKey).catch(() => undefined));

    await t.test('a member that does not answer is unhealthy, says why and when it last answered, all as text', async (t) => {
      await page.waitForSelector('#masters .peer[data-healthy="false"]', { timeout: 15_000 });
      const shown = await shownMasters(page);
      t.equal(shown.length, 4);
      const row = shown.find((m) => m.id === ghost.masterId);
      t.ok(row, 'its id, as written, round-trips through an attribute');
      t.equal(row?.role, 'unknown');
      t.equal(row?.href, null, 'a javascript: URL is not linked');
      t.match(row?.text ?? '', ghost.address, 'its address shows as text');
      t.match(row?.text ?? '', /unhealthy last answered \d+s ago/);
      t.match(row?.text ?? '', '/health did not answer');
      await page.waitForFunction(`[...document.querySelectorAll('#masters .peer[data-healthy="false"] [data-since]')].some((el) => el.textContent !== '0s')`, undefined, { timeout: 10_000 });
      t.pass('the age counts up between snapshots');
      t.equal(await page.$('#masters img, #masters b'), null, 'no markup from the server became elements');
      t.equal(await page.evaluate('window.pwned'), undefined, 'nor ran');
      t.equal(await text(page, '#masters-note'), '1 unhealthy');
      t.match(await text(page, '#master-info'), 'leader of 4 1 unhealthy');
      t.equal(await overflows(page), false, `it fits ${WIDTH} px with a problem shown`);
      t.comment(`screenshot: ${await screenshot(page, 'dashboard-masters-unhealthy.png')}`);
    });

    await t.test('a standby stopped cleanly leaves the card (its member key is revoked)', async (t) => {
      const stopped = standbys[0]!;
      await stopped.stop();
      await page.waitForFunction(`!document.querySelector('#masters .peer[data-master-id="${stopped.masterId}"]')`, undefined, { timeout: 15_000 });
      const shown = await shownMasters(page);
      t.equal(shown[0]?.id, leader.masterId, 'the leader still first');
      t.same(new Set(shown.map((m) => m.id)), new Set([leader.masterId, standbys[1]!.masterId, ghost.masterId]), 'the rest stay');
      t.equal(await text(page, '#count-masters'), '3');
    });

    await t.test('with the silent member gone too, the card lists the two that answer', async (t) => {
      await etcdDelete(etcd, ghostKey);
      await page.waitForFunction(`document.querySelectorAll('#masters .peer').length === 2`, undefined, { timeout: 15_000 });
      const shown = await shownMasters(page);
      t.same(shown.map((m) => [m.id, m.role, m.healthy]), [[leader.masterId, 'leader', 'true'], [standbys[1]!.masterId, 'standby', 'true']]);
      t.equal(await text(page, '#masters-note'), 'all healthy');
      t.equal(await text(page, '#masters-summary'), 'leader of 2');
      const state = await eventually('/state to agree', async () => {
        const s = (await (await testFetch(`http://127.0.0.1:${leader.httpPort}/state`)).json()) as ClusterStateView;
        return s.masters?.length === 2 ? s : undefined;
      });
      t.same(state.masters?.map((m) => m.masterId), shown.map((m) => m.id), 'the same list, in the same order, as GET /state');
    });

    t.same(problems, [], 'no console errors, failed requests or page errors');
  });
}
