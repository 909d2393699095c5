/**
 * `orbit frameworks`: the frameworks with their roles, status, dominant share (of their roles,
 * from the allocator) and task counts by state; `orbit framework teardown ID` ends one (its tasks
 * are killed and its id retired).
 */
import type { Command } from 'commander';
import type { ClusterStateView, FrameworkView } from '../common/state-view.js';
import { TASK_STATES, type TaskState } from '../common/tasks.js';
import { masterOption } from './common.js';
import { fetchState, masterFrom, teardownFramework } from './operator-call.js';
import { clusterStateToJson } from './state-json.js';
import { formatAge, formatTable, printJson } from './status-command.js';

export type FrameworkStatus = 'active' | 'disconnected' | 'removed';

/** A framework as `orbit frameworks --json` prints it: its GET /state view plus status and share. */
export interface FrameworkListing extends FrameworkView {
  status: FrameworkStatus;
  /** The largest dominant share among its roles, and that role. */
  dominantShare: number;
  dominantRole: string;
}

/** Active and completed tasks by state, in the order of TASK_STATES: `RUNNING:3 FINISHED:1`. */
export function taskCounts(f: FrameworkView): string {
  const counts = new Map<TaskState, number>();
  for (const t of [...f.tasks, ...f.completedTasks]) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
  return TASK_STATES.filter((s) => counts.has(s)).map((s) => `${s}:${counts.get(s)}`).join(' ') || '-';
}

/** The frameworks to list: live ones, and with `all` the removed ones too. */
export function frameworkListings(state: ClusterStateView, all: boolean): FrameworkListing[] {
  const shares = new Map(state.roles.map((r) => [r.role, r.dominantShare]));
  const listing = (f: FrameworkView, status: FrameworkStatus): FrameworkListing => {
    let dominantShare = 0;
    let dominantRole = '';
    for (const role of f.roles) {
      const share = status === 'removed' ? 0 : (shares.get(role) ?? 0);
      if (share > dominantShare || !dominantRole) [dominantShare, dominantRole] = [share, role];
    }
    return { ...f, status, dominantShare, dominantRole };
  };
  return [
    ...state.frameworks.map((f) => listing(f, f.active ? 'active' : 'disconnected')),
    ...(all ? state.completedFrameworks.map((f) => listing(f, 'removed')) : []),
  ];
}

export function formatFrameworks(list: FrameworkListing[], removedHidden: number, now = Date.now()): string {
  const hint = removedHidden > 0 ? `${removedHidden} removed framework(s) not shown; --all lists them\n` : '';
  if (list.length === 0) return `no frameworks subscribed\n${hint}`;
  const rows = list.map((f) => [
    f.id,
    f.name,
    f.roles.join(',') || '-',
    f.status,
    f.dominantRole ? `${(f.dominantShare * 100).toFixed(1)}% (${f.dominantRole})` : '-',
    String(f.tasks.length), // active ones; BY STATE counts the completed ones kept too
    taskCounts(f),
    f.used || '-',
    f.registeredAt > 0 ? formatAge(now - f.registeredAt) : '-',
  ]);
  return `${formatTable(['ID', 'NAME', 'ROLES', 'STATUS', 'SHARE', 'TASKS', 'BY STATE', 'USED', 'AGE'], rows)}\n${hint}`;
}

/** Adds `orbit frameworks [--all] [--json]` and `orbit framework teardown FRAMEWORK_ID`. */
export function registerFrameworkCommands(program: Command): void {
  program
    .command('frameworks')
    .description('list the frameworks: roles, status, dominant share and their tasks by state')
    .addOption(masterOption())
    .option('--all', 'also list removed frameworks (torn down, or failed over too late)')
    .option('--json', 'print the frameworks as JSON (as in GET /state, plus status and dominantShare)')
    .action(async (opts: { master?: string; all?: boolean; json?: boolean }) => {
      const state = clusterStateToJson(await fetchState(masterFrom(opts.master)));
      const list = frameworkListings(state, opts.all ?? false);
      if (opts.json) printJson(list);
      else process.stdout.write(formatFrameworks(list, opts.all ? 0 : state.completedFrameworks.length));
    });

  const framework = program.command('framework').description('act on one framework');
  framework
    .command('teardown <framework-id>')
    .description('tear a framework down: its tasks are killed and its id may not subscribe again')
    .addOption(masterOption())
    .option('--json', 'print the outcome as JSON')
    .action(async (frameworkId: string, opts: { master?: string; json?: boolean }) => {
      const message = await teardownFramework(masterFrom(opts.master), frameworkId);
      if (opts.json) printJson({ frameworkId, message });
      else process.stdout.write(`${message}\n`);
    });
}
