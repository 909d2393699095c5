/**
 * `orbit tasks [--framework ID] [--state S]`: active and recently completed tasks, newest first;
 * `orbit task TASK_ID`: everything the master knows about one task, status history included.
 * Both read Operator.GetState, so tasks of removed frameworks are found too.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { AgentView, ClusterStateView, FrameworkView, TaskView } from '../common/state-view.js';
import { TASK_STATES, type TaskState } from '../common/tasks.js';
import { masterOption, numberFlag, UsageError } from './common.js';
import { fetchState, masterFrom } from './operator-call.js';
import { clusterStateToJson } from './state-json.js';
import { formatAge, formatTable, healthText, printJson, taskStartedAt } from './status-command.js';

/** Tasks listed when --limit is not given. */
export const DEFAULT_TASK_LIMIT = 200;

/** A task with where it belongs. */
export interface FoundTask {
  task: TaskView;
  framework: FrameworkView;
  frameworkStatus: 'active' | 'disconnected' | 'removed';
  /** Undefined when the master no longer knows the agent. */
  agent: AgentView | undefined;
}

/** Every framework the master knows, live ones first, with its status. */
function allFrameworks(state: ClusterStateView): { framework: FrameworkView; status: FoundTask['frameworkStatus'] }[] {
  return [
    ...state.frameworks.map((framework) => ({ framework, status: framework.active ? ('active' as const) : ('disconnected' as const) })),
    ...state.completedFrameworks.map((framework) => ({ framework, status: 'removed' as const })),
  ];
}

/** Every task (active and completed, of live and removed frameworks) with its framework and agent. */
export function allTasks(state: ClusterStateView): FoundTask[] {
  const agents = new Map(state.agents.map((a) => [a.id, a]));
  return allFrameworks(state).flatMap(({ framework, status }) =>
    [...framework.tasks, ...framework.completedTasks].map((task) => ({ task, framework, frameworkStatus: status, agent: agents.get(task.agentId) })),
  );
}

/**
 * The task with this id, in the given framework if named. A UsageError when there is none, or
 * when several frameworks have a task by that id and none was named.
 */
export function findTask(state: ClusterStateView, taskId: string, frameworkId?: string): FoundTask {
  if (frameworkId !== undefined) requireFramework(state, frameworkId);
  const matches = allTasks(state).filter((f) => f.task.id === taskId && (frameworkId === undefined || f.framework.id === frameworkId));
  const [first] = matches;
  if (!first) throw new UsageError(`unknown task '${taskId}'${frameworkId ? ` in framework '${frameworkId}'` : ''}: the master knows no such task (active or recently completed)`);
  if (matches.length > 1) {
    throw new UsageError(`task id '${taskId}' is used in ${matches.length} frameworks (${matches.map((m) => m.framework.id).join(', ')}); name one with --framework`);
  }
  return first;
}

function requireFramework(state: ClusterStateView, frameworkId: string): void {
  if (!allFrameworks(state).some(({ framework }) => framework.id === frameworkId)) {
    throw new UsageError(`unknown framework '${frameworkId}': orbit frameworks --all lists them`);
  }
}

/** Parses `--state running,staging` (any case, `TASK_` prefix allowed) into known states. */
export function parseStates(text: string): TaskState[] {
  const states = text.split(',').map((s) => s.trim().toUpperCase().replace(/^TASK_/, '')).filter(Boolean);
  if (states.length === 0) throw new UsageError(`--state: expected one of ${TASK_STATES.join(', ')}`);
  for (const s of states) {
    if (!(TASK_STATES as readonly string[]).includes(s)) throw new UsageError(`--state: unknown state '${s}'; expected one of ${TASK_STATES.join(', ')}`);
  }
  return states as TaskState[];
}

/** Newest first: by start time; a task that has not reported yet is the newest of all. */
function newestFirst(a: FoundTask, b: FoundTask): number {
  return (taskStartedAt(b.task) ?? Infinity) - (taskStartedAt(a.task) ?? Infinity);
}

export interface TaskFilter {
  frameworkId?: string;
  states?: TaskState[];
}

/** The tasks a filter selects, newest first. Unknown framework → UsageError. */
export function selectTasks(state: ClusterStateView, filter: TaskFilter): FoundTask[] {
  if (filter.frameworkId !== undefined) requireFramework(state, filter.frameworkId);
  return allTasks(state)
    .filter((f) => filter.frameworkId === undefined || f.framework.id === filter.frameworkId)
    .filter((f) => !filter.states || filter.states.includes(f.task.state))
    .sort(newestFirst);
}

export function formatTasks(found: FoundTask[], total: number, now = Date.now()): string {
  if (found.length === 0) return 'no tasks\n';
  const rows = found.map(({ task, framework, agent }) => {
    const started = taskStartedAt(task);
    return [
      task.id,
      task.name || '-',
      framework.name,
      agent?.hostname ?? (task.agentId || '-'),
      task.state,
      healthText(task.healthy),
      started !== undefined ? formatAge(now - started) : '-',
      task.resources || '-',
    ];
  });
  const more = total > found.length ? `(${total - found.length} older task(s) not shown; --limit 0 shows all)\n` : '';
  return `${formatTable(['ID', 'NAME', 'FRAMEWORK', 'AGENT', 'STATE', 'HEALTH', 'AGE', 'RESOURCES'], rows)}\n${more}`;
}

/** `orbit task` in words: the task's fields, then its status history, oldest first. */
export function formatTask({ task, framework, frameworkStatus, agent }: FoundTask, now = Date.now()): string {
  const started = taskStartedAt(task);
  const latest = task.statuses.at(-1);
  const fields: [string, string][] = [
    ['task', task.id],
    ['name', task.name || '-'],
    ['state', `${task.state}${task.healthy !== undefined ? ` (${healthText(task.healthy)})` : ''}`],
    ['framework', `${framework.name} (${framework.id}, ${frameworkStatus})`],
    ['agent', agent ? `${agent.hostname} (${agent.id}, ${agent.status}${agent.address ? `, http ${agent.address}:${agent.httpPort}` : ''})` : `${task.agentId || '-'} (no longer known to the master)`],
    ['resources', task.resources || '-'],
    ['container', task.image ? `${task.containerType} ${task.image}` : task.containerType || '-'],
    ['started', started !== undefined ? `${new Date(started).toISOString()} (${formatAge(now - started)} ago)` : '-'],
  ];
  if (latest?.exitCode !== undefined) fields.push(['exit code', String(latest.exitCode)]);
  if (latest?.message) fields.push(['message', latest.message]);
  const width = Math.max(...fields.map(([k]) => k.length));
  const head = fields.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
  const history = task.statuses.map((s) => [
    new Date(s.timestamp).toISOString(),
    s.state,
    s.source,
    s.reason,
    s.healthy === undefined ? '-' : healthText(s.healthy),
    [s.message, s.exitCode !== undefined && !s.message.includes(`code ${s.exitCode}`) ? `[exit code ${s.exitCode}]` : ''].filter(Boolean).join(' ') || '-',
  ]);
  const table = history.length === 0 ? '  (no status yet: the launch was just accepted)' : formatTable(['TIME', 'STATE', 'SOURCE', 'REASON', 'HEALTH', 'MESSAGE'], history);
  return `${head}\n\nSTATUS HISTORY\n${table}\n`;
}

interface TasksFlags {
  master?: string;
  framework?: string;
  state?: string;
  limit: number;
  json?: boolean;
}

/** Adds `orbit tasks` and `orbit task TASK_ID`. */
export function registerTaskCommands(program: Command): void {
  program
    .command('tasks')
    .description('list active and recently completed tasks, newest first')
    .addOption(masterOption())
    .option('--framework <id>', "only this framework's tasks")
    .option('--state <states>', `only tasks in these states, comma-separated (${TASK_STATES.join(', ')})`)
    .addOption(new Option('--limit <n>', 'show at most this many (0: all)').argParser(numberFlag('--limit', { integer: true })).default(DEFAULT_TASK_LIMIT))
    .option('--json', 'print the tasks as JSON (as in GET /state)')
    .action(async (opts: TasksFlags) => {
      const states = opts.state !== undefined ? parseStates(opts.state) : undefined;
      const state = clusterStateToJson(await fetchState(masterFrom(opts.master)));
      const found = selectTasks(state, { ...(opts.framework !== undefined ? { frameworkId: opts.framework } : {}), ...(states ? { states } : {}) });
      const shown = opts.limit > 0 ? found.slice(0, opts.limit) : found;
      if (opts.json) printJson(shown.map((f) => f.task));
      else process.stdout.write(formatTasks(shown, found.length));
    });

  program
    .command('task <task-id>')
    .description('show everything the master knows about one task, with its status history')
    .addOption(masterOption())
    .option('--framework <id>', 'the framework, when several have a task by this id')
    .option('--json', 'print the task, its framework and its agent as JSON')
    .action(async (taskId: string, opts: { master?: string; framework?: string; json?: boolean }) => {
      const state = clusterStateToJson(await fetchState(masterFrom(opts.master)));
      const found = findTask(state, taskId, opts.framework);
      if (opts.json) {
        const { tasks: _t, completedTasks: _c, ...framework } = found.framework;
        printJson({ task: found.task, framework: { ...framework, status: found.frameworkStatus }, agent: found.agent ?? null });
      } else {
        process.stdout.write(formatTask(found));
      }
    });
}
