// Orbit dashboard: renders the master's snapshots (GET /stream, server-sent events) and the
// utilisation history (GET /history). Plain ES modules, no build step, no dependencies; the chart
// is inline SVG (chart.js). The snapshot's shape is DashboardSnapshot in
// src/master/http/dashboard-feed.ts.
import { chartSpan, legendItem, lineChart, niceMax } from './chart.js';
import { esc, fmtAge, fmtClock, fmtPair, fmtQty, pct, safeHref, trimNum } from './format.js';

const KINDS = ['cpus', 'mem', 'disk'];
const KIND_LABEL = { cpus: 'CPUs', mem: 'Memory', disk: 'Disk', gpus: 'GPUs' };
const TASK_STATES = ['STAGING', 'STARTING', 'RUNNING', 'KILLING', 'UNREACHABLE', 'FINISHED', 'FAILED', 'KILLED', 'ERROR', 'DROPPED', 'GONE', 'LOST'];
const STATE_TONE = {
  STAGING: 'info', STARTING: 'info', RUNNING: 'good', KILLING: 'warn', UNREACHABLE: 'warn',
  FINISHED: '', FAILED: 'bad', KILLED: '', ERROR: 'bad', DROPPED: 'bad', GONE: 'bad', LOST: 'bad',
};
const TERMINAL = new Set(['FINISHED', 'FAILED', 'KILLED', 'ERROR', 'DROPPED', 'GONE', 'LOST']);
const AGENT_TONE = { active: 'good', disconnected: 'warn', unreachable: 'bad', draining: 'drain', drained: '' };
const EVENT_TONE = {
  'agent-registered': 'good', 'agent-reregistered': 'good', 'agent-reactivated': 'good',
  'agent-disconnected': 'warn', 'agent-unreachable': 'bad', 'agent-gone': 'bad', 'agent-draining': 'drain',
  'framework-subscribed': 'info', 'framework-disconnected': 'warn', 'framework-removed': '', 'task-ended': 'bad',
};
/** A master's role as its /health said: the leader stands out, 'unknown' is one that did not answer. */
const ROLE_TONE = { leader: 'lead', standby: '', candidate: 'info', unknown: 'bad' };
const HOUR_MS = 60 * 60 * 1000;

const view = {
  /** The latest snapshot, and the server time of the latest tick. */
  snap: null,
  now: 0,
  /** Utilisation samples, oldest first, at most an hour's. */
  samples: [],
  /** Where the pointer is over a chart (a sample time), for the tooltip. */
  hover: undefined,
};

const $ = (id) => document.getElementById(id);
const lastHtml = new WeakMap();
/** Replaces an element's content only when it changed, so hover and selection survive quiet ticks. */
function setHtml(el, html) {
  if (!el || lastHtml.get(el) === html) return;
  el.innerHTML = html;
  lastHtml.set(el, html);
}

/** A bar of used (solid) and offered (faint) out of total. */
function bar(kind, used, total, offered = 0) {
  const u = pct(used, total);
  const o = Math.min(100 - u, pct(offered, total));
  return `<div class="bar"><span class="k-${kind}" style="width:${u.toFixed(1)}%"></span>${o > 0 ? `<span class="k-${kind} offered" style="width:${o.toFixed(1)}%"></span>` : ''}</div>`;
}

const pill = (text, tone) => `<span class="pill ${tone || ''}">${esc(text)}</span>`;

function healthCell(healthy) {
  if (healthy === true) return '<span class="health good">healthy</span>';
  if (healthy === false) return '<span class="health bad">unhealthy</span>';
  return '<span class="health none"></span>';
}

function capNote(shown, total, noun) {
  return shown < total ? `showing ${shown.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} ${noun}` : '';
}

// ---- sections -----------------------------------------------------------------------------

/** Whether the masters need no card: one master (embedded, or alone in HA), and healthy. */
function mastersCompact(masters) {
  return masters.length <= 1 && masters.every((m) => m.healthy);
}

/** After the master's id in the header: "single master", or "leader of 3" linking to the Masters card. */
function mastersSummary(masters) {
  if (masters.length === 0) return '';
  if (mastersCompact(masters)) return ' · <span id="masters-summary">single master</span>';
  const unhealthy = masters.filter((m) => !m.healthy).length;
  return ` · <a href="#masters-card" id="masters-summary">leader of ${masters.length}</a>${unhealthy > 0 ? ` <span class="health bad">${unhealthy} unhealthy</span>` : ''}`;
}

function renderHeader(s) {
  const m = s.master;
  setHtml($('master-info'), `master <b>${esc(m.id)}</b>${mastersSummary(s.masters ?? [])} · v${esc(m.version)} · epoch ${esc(m.epoch)} · up <span data-since="${m.startedAt}">${fmtAge(view.now - m.startedAt)}</span>`);
}

/** One master: its address (a link to its HTTP port), role and health; the first is the one serving this page. */
function masterItem(p, index) {
  const href = safeHref(p.httpUrl);
  const address = href ? `<a href="${esc(href)}">${esc(p.address)}</a>` : `<span>${esc(p.address)}</span>`;
  const tone = Object.hasOwn(ROLE_TONE, p.role) ? ROLE_TONE[p.role] : 'bad';
  // The serving master answered just now; for another, checkedAt is when its /health last answered.
  const since = Number(p.checkedAt) || 0;
  const answered = !p.healthy && index > 0
    ? `<span class="muted">last answered <span data-since="${since}">${fmtAge(view.now - since)}</span> ago</span>` : '';
  return `<div class="peer${p.role === 'leader' ? ' leader' : ''}" data-master-id="${esc(p.masterId)}" data-role="${esc(p.role)}" data-healthy="${p.healthy ? 'true' : 'false'}">
      <div class="peer-head"><span class="mono" title="${esc(p.address)}">${address}</span>${pill(p.role, tone)}</div>
      <div class="peer-foot">${healthCell(p.healthy)} ${answered}</div>
      ${p.problem ? `<div class="problem">${esc(p.problem)}</div>` : ''}
      <div class="id">${esc(p.masterId)}${index === 0 ? ' · this page' : ''}</div>
    </div>`;
}

function renderMasters(s) {
  const masters = s.masters ?? [];
  const card = $('masters-card');
  card.hidden = mastersCompact(masters);
  if (card.hidden) return;
  const unhealthy = masters.filter((m) => !m.healthy).length;
  $('count-masters').textContent = String(masters.length);
  setHtml($('masters-note'), unhealthy > 0 ? pill(`${unhealthy} unhealthy`, 'bad') : 'all healthy');
  setHtml($('masters'), masters.map(masterItem).join(''));
}

function resourceTile(kind, s) {
  const r = s.summary.resources;
  const used = r.used[kind] ?? 0;
  const total = r.total[kind] ?? 0;
  const offered = r.offered[kind] ?? 0;
  return `<div class="tile" data-kind="${kind}">
    <div class="label">${KIND_LABEL[kind]}</div>
    <div class="value">${esc(fmtPair(kind, used, total))}</div>
    ${bar(kind, used, total, offered)}
    <div class="foot"><span>${trimNum(pct(used, total), 1)}% used</span>${offered > 0 ? `<span>· ${esc(fmtQty(kind, offered))} offered</span>` : ''}</div>
  </div>`;
}

function renderTiles(s) {
  const a = s.summary.agents;
  const agentsTotal = Object.values(a).reduce((x, y) => x + y, 0);
  const agentChips = ['disconnected', 'unreachable', 'draining', 'drained'].filter((k) => a[k] > 0).map((k) => pill(`${a[k]} ${k}`, AGENT_TONE[k])).join('');
  const f = s.summary.frameworks;
  const t = s.summary.tasks;
  const taskChips = TASK_STATES.filter((st) => st !== 'RUNNING' && t[st] > 0 && !['FINISHED', 'KILLED'].includes(st))
    .map((st) => pill(`${t[st]} ${st.toLowerCase()}${TERMINAL.has(st) ? ' recently' : ''}`, STATE_TONE[st])).join('');
  const kinds = (s.summary.resources.total.gpus ?? 0) > 0 ? [...KINDS, 'gpus'] : KINDS;
  setHtml($('tiles'), `${kinds.map((k) => resourceTile(k, s)).join('')}
    <div class="tile"><div class="label">Agents</div>
      <div class="value"><span id="tile-agents-active">${a.active}</span> <span class="of">active of ${agentsTotal}</span></div>
      <div class="foot">${agentChips || '<span>all active</span>'}</div></div>
    <div class="tile"><div class="label">Frameworks</div>
      <div class="value">${f.active} <span class="of">connected</span></div>
      <div class="foot">${f.disconnected > 0 ? pill(`${f.disconnected} disconnected`, 'warn') : ''}${f.removed > 0 ? `<span>${f.removed} removed</span>` : ''}</div></div>
    <div class="tile"><div class="label">Tasks</div>
      <div class="value"><span id="count-running">${t.RUNNING}</span> <span class="of">running</span></div>
      <div class="foot">${taskChips || `<span>${s.summary.activeTasks} active</span>`}</div></div>`);
}

function resCell(kind, used, total) {
  return `<td class="res"><div class="nums"><span>${esc(fmtPair(kind, used, total))}</span><b>${trimNum(pct(used, total), 0)}%</b></div>${bar(kind, used, total)}</td>`;
}

function attrs(text) {
  if (!text) return '<span class="muted">–</span>';
  return `<div class="attrs">${text.split(';').map((a) => `<span class="attr">${esc(a)}</span>`).join('')}</div>`;
}

function renderAgents(s) {
  const { rows, total } = s.agents;
  $('count-agents').textContent = String(total);
  setHtml($('agents-note'), esc(capNote(rows.length, total, 'agents (those needing a look first)')));
  if (total === 0) {
    setHtml($('agents'), '<div class="empty-note">No agents yet. Start one with <code>orbit agent --master HOST:5050 --work-dir DIR</code>.</div>');
    return;
  }
  const body = rows.map((a) => `<tr data-agent-id="${esc(a.id)}">
      <td><div>${esc(a.hostname)}</div><div class="id">${esc(a.id)}</div></td>
      <td>${pill(a.status, AGENT_TONE[a.status])}</td>
      ${KINDS.map((k) => resCell(k, a.used[k] ?? 0, a.total[k] ?? 0)).join('')}
      <td class="num">${a.tasks}</td>
      <td>${attrs(a.attributes)}</td>
      <td class="sub">${a.http ? esc(a.http) : '–'}</td>
    </tr>`).join('');
  setHtml($('agents'), `<table><thead><tr><th>Agent</th><th>Status</th><th>CPUs</th><th>Memory</th><th>Disk</th><th class="num">Tasks</th><th>Attributes</th><th>HTTP</th></tr></thead><tbody>${body}</tbody></table>`);
}

function taskChipsOf(counts) {
  const parts = TASK_STATES.filter((st) => counts[st] > 0).map((st) => pill(`${counts[st]} ${st.toLowerCase()}`, STATE_TONE[st]));
  return parts.length ? `<div class="chips">${parts.join('')}</div>` : '<span class="muted">no tasks</span>';
}

function renderFrameworks(s) {
  const { rows, total } = s.frameworks;
  $('count-frameworks').textContent = String(total);
  setHtml($('frameworks-note'), esc(capNote(rows.length, total, 'frameworks')));
  const shares = new Map(s.roles.map((r) => [r.role, r.share]));
  if (total === 0) {
    setHtml($('frameworks'), '<div class="empty-note">No frameworks subscribed. Try <code>orbit run --process -- echo hello</code>.</div>');
  } else {
    const body = rows.map((f) => {
      const roleShares = f.roles.map((r) => ({ role: r, share: shares.get(r) ?? 0 }));
      const top = roleShares.reduce((best, x) => (x.share > best.share ? x : best), { role: '', share: 0 });
      return `<tr data-framework-id="${esc(f.id)}">
        <td><div>${esc(f.name)}</div><div class="id">${esc(f.id)}${f.principal ? ` · ${esc(f.principal)}` : ''}</div></td>
        <td>${pill(f.active ? 'connected' : 'disconnected', f.active ? 'good' : 'warn')}</td>
        <td>${f.roles.map((r) => `<span class="attr">${esc(r)}</span>`).join(' ')}</td>
        <td class="res"><div class="nums"><span>${top.role ? esc(top.role) : ''}</span><b>${trimNum(top.share * 100, 1)}%</b></div>${bar('cpus', top.share, 1)}</td>
        <td>${taskChipsOf(f.tasks)}</td>
        <td class="sub">${KINDS.filter((k) => (f.used[k] ?? 0) > 0).map((k) => `${KIND_LABEL[k]} ${esc(fmtQty(k, f.used[k]))}`).join(' · ') || '–'}</td>
        <td class="sub"><span data-since="${f.registeredAt}">${fmtAge(view.now - f.registeredAt)}</span></td>
      </tr>`;
    }).join('');
    setHtml($('frameworks'), `<table><thead><tr><th>Framework</th><th>Status</th><th>Roles</th><th>Dominant share</th><th>Tasks</th><th>Using</th><th>Age</th></tr></thead><tbody>${body}</tbody></table>`);
  }
  const roles = s.roles.filter((r) => r.role);
  setHtml($('roles'), roles.length === 0 ? '' : `<div class="roles">${roles.map((r) =>
    `<div class="role" data-role="${esc(r.role)}"><b>${esc(r.role)}</b> <span class="muted">weight ${trimNum(r.weight, 2)} · share</span> ${trimNum(r.share * 100, 1)}%</div>`).join('')}</div>`);
}

function taskRows(rows, withMessage) {
  return rows.map((t) => `<tr data-task-id="${esc(t.id)}" data-state="${esc(t.state)}">
      <td><div class="mono">${esc(t.id)}</div>${t.name && t.name !== t.id ? `<div class="sub">${esc(t.name)}</div>` : ''}</td>
      <td>${pill(t.state, STATE_TONE[t.state])}${withMessage && t.message ? `<div class="sub">${esc(t.message)}</div>` : ''}</td>
      <td>${healthCell(t.healthy)}</td>
      <td><div>${esc(t.framework || t.frameworkId)}</div></td>
      <td><div>${esc(t.hostname || '–')}</div><div class="id">${esc(t.agentId)}</div></td>
      <td class="sub">${withMessage ? `ended ${fmtClock(t.updatedAt)}` : `<span data-since="${t.createdAt}">${fmtAge(view.now - t.createdAt)}</span>`}</td>
      <td class="sub mono">${esc(t.resources)}</td>
    </tr>`).join('');
}

const TASK_HEAD = (last) => `<thead><tr><th>Task</th><th>State</th><th>Health</th><th>Framework</th><th>Agent</th><th>${last}</th><th>Resources</th></tr></thead>`;

function renderTasks(s) {
  const { rows, total, completed } = s.tasks;
  $('count-tasks').textContent = String(total);
  setHtml($('tasks-note'), esc(capNote(rows.length, total, 'active tasks, newest first')));
  setHtml($('tasks'), total === 0
    ? '<div class="empty-note">No active tasks.</div>'
    : `<table>${TASK_HEAD('Age')}<tbody>${taskRows(rows, false)}</tbody></table>`);
  $('completed-count').textContent = completed.length ? `(${completed.length} most recent)` : '(none yet)';
  setHtml($('completed'), completed.length === 0 ? '' : `<table>${TASK_HEAD('Ended')}<tbody>${taskRows(completed, true)}</tbody></table>`);
}

function renderEvents(s) {
  const { rows, total } = s.events;
  $('events-count').textContent = total > rows.length ? `latest ${rows.length} of ${total}` : '';
  setHtml($('events'), rows.length === 0
    ? '<li class="empty-note">Nothing has happened yet.</li>'
    : rows.map((e) => {
        const tone = e.type === 'task-ended' && (e.state === 'KILLED') ? 'warn' : EVENT_TONE[e.type] ?? '';
        return `<li class="ev-${tone}" data-event-type="${esc(e.type)}"><time title="${esc(new Date(e.time).toISOString())}">${fmtClock(e.time)}</time><span class="msg">${esc(e.message)}</span></li>`;
      }).join(''));
}

/** Ages tick every second without re-rendering tables. */
function renderAges() {
  for (const el of document.querySelectorAll('[data-since]')) el.textContent = fmtAge(view.now - Number(el.getAttribute('data-since')));
  $('updated').textContent = view.now ? `updated ${fmtClock(view.now)}` : '';
}

function renderCharts() {
  const now = view.now || Date.now();
  const span = chartSpan(view.samples, now);
  const common = { samples: view.samples, now, span, hover: view.hover, onHover: (time) => { view.hover = time; renderCharts(); } };
  const util = (kind) => (p) => pct(p.used[kind] ?? 0, p.total[kind] ?? 0);
  lineChart($('chart-util'), {
    ...common,
    series: KINDS.map((kind) => ({
      kind, label: KIND_LABEL[kind], value: util(kind),
      show: (p) => `${trimNum(util(kind)(p), 1)}% (${fmtPair(kind, p.used[kind] ?? 0, p.total[kind] ?? 0)})`,
    })),
    yMax: 100, fmtY: (v) => `${v}%`, area: false,
  });
  const peak = view.samples.reduce((m, p) => Math.max(m, p.runningTasks), 0);
  lineChart($('chart-tasks'), {
    ...common,
    series: [{ kind: 'tasks', label: 'running', value: (p) => p.runningTasks, show: (p) => `${p.runningTasks} (${p.activeTasks} active)` }],
    yMax: niceMax(peak), fmtY: (v) => trimNum(v, 1), area: true,
  });
  const spanMin = span / 60_000;
  setHtml($('chart-span'), spanMin === 60 ? 'last hour' : `last ${spanMin} minutes`);
  setHtml($('legend'), KINDS.map((k) => legendItem(k, KIND_LABEL[k])).join(''));
}

function addSample(sample) {
  if (!sample) return;
  const last = view.samples[view.samples.length - 1];
  if (last && sample.time <= last.time) return;
  view.samples.push(sample);
  const cutoff = sample.time - HOUR_MS;
  while (view.samples.length > 0 && view.samples[0].time < cutoff) view.samples.shift();
}

// ---- wiring -------------------------------------------------------------------------------

function render() {
  const s = view.snap;
  if (!s) return;
  renderHeader(s);
  renderMasters(s);
  renderTiles(s);
  renderCharts();
  renderEvents(s);
  renderAgents(s);
  renderFrameworks(s);
  renderTasks(s);
  renderAges();
  document.body.dataset.snapshotTime = String(s.time);
  document.body.dataset.ready = 'true';
}

function setLive(state, text) {
  const el = $('live');
  el.dataset.state = state;
  $('live-text').textContent = text;
}

async function loadHistory() {
  try {
    const res = await fetch('/history', { cache: 'no-store' });
    if (!res.ok) return;
    const body = await res.json();
    for (const s of body.samples ?? []) addSample(s);
  } catch {
    // The chart fills in from the stream instead.
  }
}

function connect() {
  const source = new EventSource('/stream');
  source.addEventListener('open', () => setLive('live', 'live'));
  source.addEventListener('error', () => setLive('reconnecting', 'reconnecting…'));
  source.addEventListener('snapshot', (ev) => {
    const snap = JSON.parse(ev.data);
    view.snap = snap;
    view.now = snap.time;
    addSample(snap.sample);
    setLive('live', 'live');
    render();
  });
  source.addEventListener('tick', (ev) => {
    view.now = JSON.parse(ev.data).time;
    renderAges();
    renderCharts();
  });
}

let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(renderCharts, 100);
});

await loadHistory();
connect();
