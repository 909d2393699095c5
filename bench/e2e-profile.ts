/**
 * Summarises a V8 .cpuprofile (from node --cpu-prof) by self time per function: the top N
 * functions with their file and line, ms and share of the samples.
 *
 *   node dist/bench/e2e-profile.js FILE.cpuprofile [--top 25] [--inclusive]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

import type { CpuProfile, ProfileNode } from './state-profile.js';

export interface SelfTime {
  name: string;
  ms: number;
  share: number;
}

function frameName(node: ProfileNode): string {
  const f = node.callFrame;
  const file = f.url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/');
  return `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim();
}

/**
 * Time by function (name, file and line), largest first: self time, or with `inclusive` the time
 * with the function anywhere on the stack (counted once per sample), for functions whose name
 * matches `only`.
 */
export function selfTimes(path: string, inclusive = false, only?: RegExp): { total: number; rows: SelfTime[] } {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const us = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!node) return;
    total += dt;
    const names = new Set<string>();
    for (let n: ProfileNode | undefined = node; n; n = inclusive ? byId.get(parent.get(n.id) ?? -1) : undefined) names.add(frameName(n));
    for (const name of names) if (!only || only.test(name)) us.set(name, (us.get(name) ?? 0) + dt);
  });
  const rows = [...us].map(([name, t]) => ({ name, ms: t / 1000, share: t / total })).sort((a, b) => b.ms - a.ms);
  return { total: total / 1000, rows };
}

/** The top `n` rows as text lines; with `inclusive`, Orbit's own functions (dist/src) by inclusive time. */
export function formatSelfTimes(path: string, n: number, inclusive = false): string[] {
  const { total, rows } = selfTimes(path, inclusive, inclusive ? /dist\/src\// : undefined);
  return [
    `${inclusive ? "inclusive time by Orbit function" : 'self time by function'}, ${path} (${(total / 1000).toFixed(1)} s sampled):`,
    ...rows.slice(0, n).map((r) => `  ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}`),
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const file = argv.find((a) => a.endsWith('.cpuprofile'));
  const i = argv.indexOf('--top');
  if (!file) {
    console.error('usage: node dist/bench/e2e-profile.js FILE.cpuprofile [--top 25]');
    process.exit(1);
  }
  for (const line of formatSelfTimes(file, i >= 0 ? Number(argv[i + 1]) : 25, argv.includes('--inclusive'))) console.log(line);
}
