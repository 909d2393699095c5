/**
 * An in-process agent that can be stopped (its tasks left running, as after a crash) and started
 * again on the same work dir, for recovery tests. Every agent started here is shut down at teardown.
 */
import { startAgent, type AgentOptions, type RunningAgent } from '../../src/agent/agent.js';
import type { Containerizer } from '../../src/agent/containerizer/containerizer.js';
import { ProcessContainerizer } from '../../src/agent/containerizer/process.js';
import { parseResources } from '../../src/common/resources.js';
import type { ClusterStateView, TaskView } from '../../src/common/state-view.js';
import type { SchedulerClient, TaskStatus } from '../../src/framework-sdk/index.js';
import { tempDir, type TestLike } from './cluster.js';
import { AGENT } from './pki.js';
import { testFetch } from './http-client.js';

export const RECOVERY_RESOURCES = 'cpus:2;mem:1024;disk:1024;ports:[31000-31009]';

export interface RestartableAgent {
  workDir: string;
  /** The agent running now (the last started). */
  current(): RunningAgent;
  /**
   * Starts an agent on the work dir; `containerizers` makes fresh ones each time (a restarted
   * agent has no memory of the last one's). Rejects as startAgent does (a corrupt checkpoint).
   */
  start(overrides?: Partial<AgentOptions>): Promise<RunningAgent>;
}

/** An agent of `masterAddress` that tests stop and start again; fast retries, process tasks. */
export function restartableAgent(t: TestLike, masterAddress: string, containerizers: () => Containerizer[] = () => [new ProcessContainerizer({ pollIntervalMs: 50 })]): RestartableAgent {
  const workDir = tempDir(t, 'orbit-agent-');
  let current: RunningAgent | undefined;
  return {
    workDir,
    current() {
      if (!current) throw new Error('no agent started yet');
      return current;
    },
    async start(overrides = {}) {
      const agent = await startAgent({
        security: AGENT,
        master: masterAddress,
        workDir,
        httpPort: 0,
        hostname: 'recovering',
        resources: parseResources(RECOVERY_RESOURCES),
        containerizers: containerizers(),
        backoffBaseMs: 50,
        backoffMaxMs: 500,
        statusRetryBaseMs: 300,
        statusRetryMaxMs: 2_000,
        ...overrides,
      });
      t.teardown(() => agent.shutdown());
      current = agent;
      return agent;
    },
  };
}

/** How many status updates the agent has not had acknowledged (its GET /state). */
export async function pendingUpdates(agent: RunningAgent): Promise<number> {
  const state = (await (await testFetch(`http://127.0.0.1:${agent.httpPort}/state`)).json()) as { pendingUpdates: number };
  return state.pendingUpdates;
}

/** Records every update a framework receives, in order, for invariant checks at the end. */
export class UpdateLog {
  readonly all: TaskStatus[] = [];

  constructor(client: SchedulerClient) {
    client.on('update', (s) => this.all.push(s));
  }

  /** The updates of one task, in order. */
  of(taskId: string): TaskStatus[] {
    return this.all.filter((s) => s.taskId === taskId);
  }

  /** The states the task's updates carried, in order. */
  states(taskId: string): string[] {
    return this.of(taskId).map((s) => s.state);
  }

  /** The distinct terminal updates of a task (a resend of the same uuid counts once). */
  terminals(taskId: string): TaskStatus[] {
    const terminal = new Set(['FINISHED', 'FAILED', 'KILLED', 'ERROR', 'DROPPED', 'GONE', 'LOST']);
    const seen = new Map<string, TaskStatus>();
    for (const s of this.of(taskId)) if (terminal.has(s.state)) seen.set(s.uuid ?? `${s.state}:${s.source}:${s.timestamp}`, s);
    return [...seen.values()];
  }
}

/** Every task the master shows, active or completed, of live and removed frameworks. */
export function allTasks(state: ClusterStateView): TaskView[] {
  return [...state.frameworks, ...state.completedFrameworks].flatMap((f) => [...f.tasks, ...f.completedTasks]);
}

/**
 * Problems with the invariants after a test: every task launched reached exactly one terminal
 * state that the framework saw (unless listed in `running`), and nothing is left allocated on any
 * agent when no task runs. Empty when all is well.
 */
export function invariantProblems(state: ClusterStateView, log: UpdateLog, launched: readonly string[], running: readonly string[] = []): string[] {
  const problems: string[] = [];
  for (const taskId of launched) {
    const terminals = log.terminals(taskId);
    if (running.includes(taskId)) {
      if (terminals.length > 0) problems.push(`${taskId} should still run but the framework saw ${terminals.map((s) => s.state).join(', ')}`);
    } else if (terminals.length !== 1) {
      problems.push(`${taskId}: the framework saw ${terminals.length} terminal updates (${terminals.map((s) => `${s.state}/${s.uuid ?? s.source}`).join(', ')}), expected exactly one`);
    }
  }
  if (running.length === 0) {
    for (const agent of state.agents) if (agent.used !== '') problems.push(`agent ${agent.id} still has ${agent.used} allocated`);
  }
  return problems;
}
