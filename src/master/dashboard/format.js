// Orbit dashboard: formatting shared by the page and its chart. Pure functions, no DOM.

/** Escapes text for HTML. */
export function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/** A number with at most `digits` decimals and thousands separators. */
export function trimNum(n, digits = 2) {
  if (!Number.isFinite(n)) return '0';
  return Number(n.toFixed(digits)).toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** A quantity of one kind: MiB become GiB or TiB when large. */
export function fmtQty(kind, value) {
  if (kind === 'mem' || kind === 'disk') {
    if (value >= 1024 * 1024) return `${trimNum(value / 1024 / 1024, 1)} TiB`;
    if (value >= 1024) return `${trimNum(value / 1024, 1)} GiB`;
    return `${trimNum(value, 0)} MiB`;
  }
  return trimNum(value, 2);
}

/** "used / total" sharing the total's unit: "1.5 / 8 GiB". */
export function fmtPair(kind, used, total) {
  if (kind === 'mem' || kind === 'disk') {
    const div = total >= 1024 * 1024 ? 1024 * 1024 : total >= 1024 ? 1024 : 1;
    const unit = div === 1 ? 'MiB' : div === 1024 ? 'GiB' : 'TiB';
    return `${trimNum(used / div, 1)} / ${trimNum(total / div, 1)} ${unit}`;
  }
  return `${trimNum(used, 2)} / ${trimNum(total, 2)}`;
}

/** used / total in percent, 0 when there is no total. */
export function pct(used, total) {
  return total > 0 ? Math.min(100, (100 * used) / total) : 0;
}

/** A duration: `42s`, `5m 3s`, `2h 10m`, `3d 4h`. */
export function fmtAge(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** A time of day, 24-hour: `13:05:09`. */
export function fmtClock(ms) {
  return new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
}

/** `url` when it is an http(s) URL, to be linked to; '' for anything else (what etcd holds is not trusted to be one). */
export function safeHref(url) {
  return typeof url === 'string' && /^https?:\/\/[^\s"'<>]+$/i.test(url) ? url : '';
}
