/**
 * Summarises a V8 CPU profile (`node --cpu-prof` writes them) by self time per function:
 *
 *   node dist/bench/state-profile.js DIR/CPU.*.cpuprofile [--top 25]
 *
 * Prints each function's self time and share of the samples, heaviest first, with its file and
 * line; `(garbage collector)`, `(program)` and `(idle)` are V8's own buckets.
 */
import { readFileSync } from 'node:fs';

/** A V8 .cpuprofile, as node --cpu-prof writes it (the parts read here). */
export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  fn: string;
  where: string;
  ms: number;
  share: number;
}

/** Self time per function (by name and location), heaviest first; `idle` excluded from the shares. */
export function selfTimes(profile: CpuProfile): SelfTime[] {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const ms = new Map<string, { fn: string; where: string; us: number }>();
  let busyUs = 0;
  profile.samples.forEach((id, i) => {
    const node = byNode.get(id);
    if (!node) return;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const f = node.callFrame;
    const fn = f.functionName || '(anonymous)';
    const where = f.url ? `${f.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const key = `${fn} ${where}`;
    const entry = ms.get(key) ?? { fn, where, us: 0 };
    entry.us += delta;
    ms.set(key, entry);
    if (fn !== '(idle)') busyUs += delta;
  });
  return [...ms.values()]
    .sort((a, b) => b.us - a.us)
    .map((e) => ({ fn: e.fn, where: e.where, ms: e.us / 1000, share: e.fn === '(idle)' ? NaN : e.us / busyUs }));
}

/** Self time summed by file (node_modules by package), heaviest first. */
export function selfTimesByFile(profile: CpuProfile): { file: string; ms: number }[] {
  const byFile = new Map<string, number>();
  for (const t of selfTimes(profile)) {
    if (t.fn === '(idle)') continue;
    const path = t.where.replace(/:\d+$/, '');
    const file = path === '' ? t.fn : path.startsWith('node_modules/') ? path.split('/').slice(0, path.startsWith('node_modules/@') ? 3 : 2).join('/') : path.startsWith('node:') ? 'node: (core)' : path;
    byFile.set(file, (byFile.get(file) ?? 0) + t.ms);
  }
  return [...byFile].map(([file, ms]) => ({ file, ms })).sort((a, b) => b.ms - a.ms);
}

/** The heaviest `top` files as printable lines. */
export function profileFiles(path: string, top = 15): string[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  return selfTimesByFile(profile).slice(0, top).map((f) => `  ${f.ms.toFixed(0).padStart(8)} ms  ${f.file}`);
}

/** The heaviest `top` functions as printable lines. */
export function profileSummary(path: string, top = 25): string[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const times = selfTimes(profile);
  const wallMs = (profile.endTime - profile.startTime) / 1000;
  const busy = times.filter((t) => t.fn !== '(idle)').reduce((s, t) => s + t.ms, 0);
  return [
    `${path}: ${(wallMs / 1000).toFixed(1)} s profiled, ${(busy / 1000).toFixed(1)} s not idle`,
    ...times.slice(0, top).map((t) => `  ${t.ms.toFixed(0).padStart(8)} ms ${Number.isNaN(t.share) ? '      ' : `${(t.share * 100).toFixed(1).padStart(5)}%`}  ${t.fn}  ${t.where}`),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--top');
  const top = i >= 0 ? Number(argv[i + 1]) : 25;
  for (const file of argv.filter((a, n) => !a.startsWith('--') && argv[n - 1] !== '--top')) {
    console.log(profileSummary(file, top).join('\n'));
    if (argv.includes('--by-file')) console.log(['by file:', ...profileFiles(file, top)].join('\n'));
  }
}
