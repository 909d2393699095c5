/**
 * `orbit status`: the cluster as the master sees it (Operator.GetState), as three aligned tables
 * (agents, frameworks, tasks) or, with --json, as the same JSON that GET /state serves.
 */
import type { Command } from 'commander';
import type { ClusterStateView, TaskView } from '../common/state-view.js';
import { masterOption, resolveMaster, UsageError } from './common.js';
import { fetchState } from './operator-call.js';
import { clusterStateToJson } from './state-json.js';

/** Lays rows out in columns padded to the widest cell; the last column is not padded. */
export function formatTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd())
    .join('\n');
}

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');
const orDash = (s: string): string => s || '-';

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
    yesNo(a.active),
    orDash(a.resources),
    orDash(a.used),
    orDash(a.attributes),
  ]);
  const frameworks = state.frameworks.map((f) => [
    f.id,
    f.name,
    f.roles.join(','),
    yesNo(f.active),
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
    t.healthy === undefined ? '-' : t.healthy ? 'healthy' : 'unhealthy',
    orDash(t.resources),
  ];
  const tasks = state.frameworks.flatMap((f) => [...f.tasks.map(task), ...f.completedTasks.map(task)]);
  return [
    `master ${state.masterId} (version ${state.version || 'unknown'}, epoch ${state.epoch}, started ${started})\n`,
    section('AGENTS', ['ID', 'HOSTNAME', 'HTTP', 'ACTIVE', 'RESOURCES', 'USED', 'ATTRIBUTES'], agents),
    section('FRAMEWORKS', ['ID', 'NAME', 'ROLES', 'ACTIVE', 'TASKS', 'COMPLETED', 'USED'], frameworks) +
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
      let master: string;
      try {
        master = resolveMaster(opts.master);
      } catch (err) {
        throw new UsageError(err instanceof Error ? err.message : String(err));
      }
      const state = clusterStateToJson(await fetchState(master));
      process.stdout.write(opts.json ? `${JSON.stringify(state, null, 2)}\n` : formatState(state));
    });
}
