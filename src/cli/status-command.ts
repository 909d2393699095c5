/**
 * `orbit status`: the cluster as the master sees it (Operator.GetState), as three aligned tables
 * (agents, frameworks, tasks) or, with --json, as the same JSON that GET /state serves. Also the
 * table and time helpers the other operator commands share.
 */
import type { Command } from 'commander';
import type { ClusterStateView, TaskView } from '../common/state-view.js';
import { masterOption } from './common.js';
import { fetchState, masterFrom } from './operator-call.js';
import { clusterStateToJson } from './state-json.js';

/** Lays rows out in columns padded to the widest cell; the last column is not padded. */
export function formatTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd())
    .join('\n');
}

const orDash = (s: string): string => s || '-';

/** A duration as operators read it: `42s`, `5m 3s`, `2h 10m`, `3d 4h`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** When the master accepted the task's launch. */
export function taskStartedAt(task: TaskView): number | undefined {
  return task.createdAt || task.statuses[0]?.timestamp;
}

/** `healthy`, `unhealthy`, or `-` for a task without a health check. */
export function healthText(healthy: boolean | undefined): string {
  return healthy === undefined ? '-' : healthy ? 'healthy' : 'unhealthy';
}

/** Prints a value as indented JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function section(title: string, header: string[], rows: string[][]): string {
  return `${title}\n${rows.length === 0 ? '  (none)' : formatTable(header, rows)}\n`;
}

/** The three human tables for `orbit status`. */
export function formatState(state: ClusterStateView): string {
  const started = state.startedAt > 0 ? new Date(state.startedAt).toISOString() : 'unknown';
  const agents = state.agents.map((a) => [
    a.id,
    a.hostname,
    a.address ? `${a.address}:${a.httpPort}` : '-',
    a.status,
    orDash(a.resources),
    orDash(a.used),
    orDash(a.attributes),
  ]);
  const frameworks = state.frameworks.map((f) => [
    f.id,
    f.name,
    f.roles.join(','),
    f.active ? 'active' : 'disconnected',
    String(f.tasks.length),
    String(f.completedTasks.length),
    orDash(f.used),
  ]);
  const task = (t: TaskView): string[] => [
    t.id,
    t.name,
    t.frameworkId,
    orDash(t.agentId),
    t.state,
    healthText(t.healthy),
    orDash(t.resources),
  ];
  const tasks = state.frameworks.flatMap((f) => [...f.tasks.map(task), ...f.completedTasks.map(task)]);
  return [
    `master ${state.masterId} (version ${state.version || 'unknown'}, epoch ${state.epoch}, started ${started})\n`,
    section('AGENTS', ['ID', 'HOSTNAME', 'HTTP', 'STATUS', 'RESOURCES', 'USED', 'ATTRIBUTES'], agents),
    section('FRAMEWORKS', ['ID', 'NAME', 'ROLES', 'STATUS', 'TASKS', 'COMPLETED', 'USED'], frameworks) +
      (state.completedFrameworks.length > 0 ? `  (${state.completedFrameworks.length} removed framework(s) not shown; see --json)\n` : ''),
    section('TASKS', ['ID', 'NAME', 'FRAMEWORK', 'AGENT', 'STATE', 'HEALTH', 'RESOURCES'], tasks),
  ].join('\n');
}

/** Adds `orbit status [--json] --master HOST:PORT`. */
export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description("show the cluster's agents, frameworks and tasks")
    .addOption(masterOption())
    .option('--json', 'print the state as JSON (the shape of the master’s GET /state)')
    .action(async (opts: { master?: string; json?: boolean }) => {
      const state = clusterStateToJson(await fetchState(masterFrom(opts.master)));
      if (opts.json) printJson(state);
      else process.stdout.write(formatState(state));
    });
}
