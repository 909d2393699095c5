/**
 * `orbit logs TASK_ID [--stderr] [--follow]`: a task's output, read from its agent's HTTP endpoint
 * (`GET /tasks/TASK_ID/stdout?offset=N&framework=ID`), written to stdout as it is. With --follow it
 * keeps reading while the task runs, then prints what is left once the task has ended and exits.
 */
import type { Command } from 'commander';
import type { AgentView } from '../common/state-view.js';
import { isTerminal } from '../common/tasks.js';
import { masterOption, numberFlag, UsageError } from './common.js';
import { fetchState, fetchTasks, masterFrom } from './operator-call.js';
import { clusterStateToJson, tasksToJson } from './state-json.js';
import { findTask } from './tasks-command.js';
import { agentBaseUrl, agentFetch } from './agent-http.js';
import type { Response } from '../common/http-client.js';

/** How often a followed task's output is read while nothing new comes. */
export const FOLLOW_POLL_MS = 250;
/** How often the master is asked whether a followed task has ended. */
export const FOLLOW_STATE_MS = 1_000;
const REQUEST_TIMEOUT_MS = 5_000;

type StreamName = 'stdout' | 'stderr';

/** The agent's base URL, or a UsageError saying why the output cannot be reached. */
export function agentUrl(agent: AgentView | undefined, taskId: string, agentId: string): string {
  if (!agent) throw new UsageError(`task '${taskId}' ran on agent '${agentId || '?'}', which the master no longer knows: its output cannot be reached`);
  if (!agent.httpPort) throw new UsageError(`agent '${agent.id}' (${agent.hostname}) has no HTTP port: its output cannot be read`);
  return agentBaseUrl(agent.address || agent.hostname, agent.httpPort);
}

/** Reads one stream of one task from an offset, and remembers how far it got. */
export class OutputReader {
  offset = 0;
  /** Treat "the agent knows no such task" as no output yet (a followed task still being launched). */
  missingIsEmpty = false;

  constructor(
    private readonly base: string,
    private readonly taskId: string,
    private readonly frameworkId: string,
    private readonly stream: StreamName,
    private readonly write: (chunk: Uint8Array) => void,
  ) {}

  /** Reads what is new and writes it; the byte count. UsageError when the agent cannot serve it. */
  async readOnce(): Promise<number> {
    const url = `${this.base}/tasks/${encodeURIComponent(this.taskId)}/${this.stream}?offset=${this.offset}&framework=${encodeURIComponent(this.frameworkId)}`;
    let res: Response;
    try {
      res = await agentFetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
      throw new UsageError(`cannot reach the agent at ${this.base} for task '${this.taskId}' (${cause})`);
    }
    if (res.status === 404) {
      await res.body?.cancel();
      if (this.missingIsEmpty) return 0;
      throw new UsageError(`the agent at ${this.base} has no ${this.stream} for task '${this.taskId}' (it never started there, or its sandbox was removed)`);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new UsageError(`the agent at ${this.base} answered ${res.status} for task '${this.taskId}': ${text.slice(0, 200)}`);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.length > 0) {
      this.offset += bytes.length;
      this.write(bytes);
    }
    return bytes.length;
  }

  /** Reads until nothing new comes back. */
  async readAll(): Promise<void> {
    while ((await this.readOnce()) > 0) {
      // keep reading: large outputs come in chunks
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface LogsOptions {
  master: string;
  taskId: string;
  frameworkId?: string;
  stream: StreamName;
  follow: boolean;
  write: (chunk: Uint8Array) => void;
  pollMs?: number;
  stateMs?: number;
}

/** Prints a task's output; with `follow`, until the task has ended. */
export async function printLogs(o: LogsOptions): Promise<void> {
  const state = clusterStateToJson(await fetchState(o.master));
  const found = findTask(state, o.taskId, o.frameworkId);
  const reader = new OutputReader(agentUrl(found.agent, o.taskId, found.task.agentId), o.taskId, found.framework.id, o.stream, o.write);
  const following = o.follow && !isTerminal(found.task.state);
  // While it runs, the agent may not have the task yet (just launched): no output so far.
  reader.missingIsEmpty = following;
  await reader.readAll();
  if (!following) return;

  const ended = async (): Promise<boolean> => {
    if (found.frameworkStatus === 'removed') return true;
    try {
      const task = tasksToJson(await fetchTasks(o.master, found.framework.id)).find((t) => t.id === o.taskId);
      return !task || isTerminal(task.state);
    } catch (err) {
      // The framework was removed meanwhile: its tasks have been killed.
      if (err instanceof UsageError && err.reason === 'UNKNOWN_FRAMEWORK') return true;
      throw err;
    }
  };
  let lastCheck = Date.now();
  for (;;) {
    const n = await reader.readOnce();
    if (n > 0) continue;
    if (Date.now() - lastCheck >= (o.stateMs ?? FOLLOW_STATE_MS)) {
      lastCheck = Date.now();
      if (await ended()) break;
    }
    await sleep(o.pollMs ?? FOLLOW_POLL_MS);
  }
  // The task has ended: whatever it wrote last.
  reader.missingIsEmpty = false;
  await reader.readAll();
}

/** Adds `orbit logs TASK_ID [--stderr] [--follow]`. */
export function registerLogsCommand(program: Command): void {
  program
    .command('logs <task-id>')
    .description("print a task's output, read from its agent (stdout by default)")
    .addOption(masterOption())
    .option('--stderr', 'print its stderr instead of its stdout')
    .option('-f, --follow', 'keep printing while the task runs; exit once it has ended')
    .option('--framework <id>', 'the framework, when several have a task by this id')
    .option('--poll <ms>', 'with --follow, how often to read new output', numberFlag('--poll', { min: 10, integer: true }), FOLLOW_POLL_MS)
    .action(async (taskId: string, opts: { master?: string; stderr?: boolean; follow?: boolean; framework?: string; poll: number }) => {
      await printLogs({
        master: masterFrom(opts.master),
        taskId,
        ...(opts.framework !== undefined ? { frameworkId: opts.framework } : {}),
        stream: opts.stderr ? 'stderr' : 'stdout',
        follow: opts.follow ?? false,
        write: (chunk) => process.stdout.write(chunk),
        pollMs: opts.poll,
      });
    });
}
