// Orbit dashboard: a small line chart drawn as inline SVG, sized to its container, with a hover
// cursor and tooltip. Knows nothing about the cluster: it plots samples through `series`.
import { esc, fmtClock } from './format.js';

/** The chart shows the shortest of these windows (minutes) that holds every sample. */
const SPANS_MIN = [5, 15, 30, 60];

const COLOR = (kind) => `var(--${kind})`;

/** The window to show, in ms: 5, 15, 30 or 60 minutes back from `now`. */
export function chartSpan(samples, now) {
  const oldest = samples[0]?.time ?? now;
  return (SPANS_MIN.find((m) => now - oldest <= m * 60_000) ?? 60) * 60_000;
}

/** A round axis maximum at or above v (at least 4). */
export function niceMax(v) {
  if (v <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** A legend entry for a series kind (its colour comes from the CSS variable --KIND). */
export function legendItem(kind, label) {
  return `<span><i style="background:${COLOR(kind)}"></i>${esc(label)}</span>`;
}

/**
 * Draws samples into `el`. Options:
 * - samples (oldest first, each with `time`), now, span (ms shown back from now);
 * - series: [{ kind, label, value(sample) → number, show(sample) → tooltip text }];
 * - yMax, fmtY(v) for the axis; area: fill under the lines;
 * - hover: the time under the pointer, or undefined; onHover(time | undefined) when it moves.
 */
export function lineChart(el, { samples: all, now, span, series, yMax, fmtY, area, hover, onHover }) {
  const w = Math.max(200, el.clientWidth);
  const h = Math.max(80, el.clientHeight);
  const pad = { l: 44, r: 8, t: 8, b: 20 };
  const end = now;
  const start = end - span;
  const x = (t) => pad.l + ((t - start) / span) * (w - pad.l - pad.r);
  const y = (v) => pad.t + (1 - Math.min(v, yMax) / yMax) * (h - pad.t - pad.b);
  const samples = all.filter((s) => s.time >= start);
  let out = '';
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    out += `<line class="grid" x1="${pad.l}" x2="${w - pad.r}" y1="${y(v)}" y2="${y(v)}"/><text class="axis" x="${pad.l - 6}" y="${y(v) + 4}" text-anchor="end">${esc(fmtY(v))}</text>`;
  }
  const spanMin = span / 60_000;
  const step = spanMin <= 5 ? 1 : spanMin <= 15 ? 5 : spanMin <= 30 ? 10 : 15;
  for (let minutes = spanMin; minutes >= 0; minutes -= step) {
    const anchor = minutes === spanMin ? 'start' : minutes === 0 ? 'end' : 'middle';
    out += `<text class="axis" x="${x(end - minutes * 60_000)}" y="${h - 4}" text-anchor="${anchor}">${minutes === 0 ? 'now' : `−${minutes}m`}</text>`;
  }
  if (samples.length === 0) {
    out += `<text class="empty" x="${(w + pad.l) / 2}" y="${h / 2}" text-anchor="middle">collecting samples…</text>`;
  }
  for (const s of series) {
    const pts = samples.map((p) => [x(p.time).toFixed(1), y(s.value(p)).toFixed(1)]);
    if (pts.length === 0) continue;
    if (pts.length === 1) pts.push([x(end).toFixed(1), pts[0][1]]);
    const line = pts.map((p) => p.join(',')).join(' ');
    if (area) out += `<polygon class="area" style="fill:${COLOR(s.kind)}" points="${pts[0][0]},${y(0)} ${line} ${pts[pts.length - 1][0]},${y(0)}"/>`;
    out += `<polyline class="line" style="stroke:${COLOR(s.kind)}" points="${line}"/>`;
  }
  let tip = '';
  if (hover !== undefined && samples.length > 0) {
    const near = samples.reduce((best, p) => (Math.abs(p.time - hover) < Math.abs(best.time - hover) ? p : best));
    const cx = x(near.time);
    out += `<line class="cursor" x1="${cx}" x2="${cx}" y1="${pad.t}" y2="${h - pad.b}"/>`;
    const side = cx > w * 0.6 ? `right:${(w - cx + 8).toFixed(0)}px` : `left:${(cx + 8).toFixed(0)}px`;
    tip = `<div class="tip" style="${side};top:${pad.t}px"><div class="muted">${fmtClock(near.time)}</div>${series.map((s) => `<div><i style="background:${COLOR(s.kind)}"></i>${esc(s.label)} ${esc(s.show(near))}</div>`).join('')}</div>`;
  }
  el.innerHTML = `<svg viewBox="0 0 ${w} ${h}" data-samples="${samples.length}">${out}</svg>${tip}`;
  el.onmousemove = (ev) => {
    const rect = el.getBoundingClientRect();
    const frac = (ev.clientX - rect.left - pad.l) / (rect.width - pad.l - pad.r);
    onHover(frac >= 0 && frac <= 1 ? start + frac * span : undefined);
  };
  el.onmouseleave = () => onHover(undefined);
}
