/**
 * Reconciliation: a framework asks for the latest state of its tasks (explicit: listed ids;
 * implicit: all its active tasks). The master answers from its books, with one exception: right
 * after it (re)started it does not know yet what runs on the agents the registry says will come
 * back. A question about a task on such an agent is held (Mesos drops it and lets the framework
 * ask again) and answered once the master knows: when the agent re-registers (the task's real
 * state, or LOST if it does not run it), is marked gone (GONE), or the re-registration window
 * closes (UNREACHABLE). Never LOST for a task that may be running. A framework that reconciled
 * implicitly meanwhile hears of its tasks on each agent as that agent comes back.
 *
 * Answers are not kept: asking again answers again. Each event costs O(what it concerns): an
 * agent's return answers the questions held about it and looks only at its tasks.
 */
import type { AgentBook } from './agents.js';
import type { Effects } from './effects.js';
import type { FrameworkBook } from './frameworks.js';
import { taskKey } from './records.js';
import type { StatusRelay } from './status-relay.js';
import type { TaskBook } from './tasks.js';

/** At most this many explicit questions are held at once; past it, one is not answered (the framework asks again, as with Mesos). */
export const MAX_HELD_RECONCILIATIONS = 100_000;

export interface ReconciliationParts {
  agents: AgentBook;
  frameworks: FrameworkBook;
  tasks: TaskBook;
  relay: StatusRelay;
  effects: Effects;
}

interface Question {
  frameworkId: string;
  taskId: string;
}

export class Reconciliation {
  /** Explicit questions held, per expected agent, by task key (a question asked twice is held once). */
  private readonly held = new Map<string, Map<string, Question>>();
  private heldCount = 0;
  /** Frameworks that reconciled implicitly while agents were still expected. */
  private readonly implicit = new Set<string>();

  constructor(
    private readonly p: ReconciliationParts,
    private readonly maxHeld = MAX_HELD_RECONCILIATIONS,
  ) {}

  /** How many explicit questions wait for their agent. */
  get heldQuestions(): number {
    return this.heldCount;
  }

  /**
   * Answers with the latest state of the listed tasks, or of every active task of the framework
   * when the list is empty; questions about tasks on agents still expected back are held.
   */
  reconcile(frameworkId: string, list: readonly { taskId: string; agentId: string }[]): void {
    const { tasks, relay, agents } = this.p;
    if (list.length === 0) {
      for (const task of tasks.ofFramework(frameworkId)) relay.send(relay.latest(task, 'RECONCILIATION'));
      if (agents.isWaiting()) this.implicit.add(frameworkId);
      return;
    }
    let dropped = 0;
    for (const { taskId, agentId } of list) {
      if (this.answer(frameworkId, taskId, agentId) === 'wait' && !this.hold(agentId, frameworkId, taskId)) dropped += 1;
    }
    if (dropped > 0) {
      this.p.effects.log.warn({ frameworkId, dropped, held: this.heldCount }, `reconciliation: ${this.maxHeld} questions already wait for agents to re-register; these get no answer (the framework asks again)`);
    }
  }

  /**
   * The master now knows what an expected agent runs (it re-registered) or that it never will
   * (marked gone): the questions held about it are answered, and frameworks that reconciled
   * implicitly hear of their tasks on it. A no-op for an agent nothing waits for.
   */
  agentSettled(agentId: string): void {
    const questions = this.held.get(agentId);
    const answered = new Set<string>();
    if (this.implicit.size > 0) {
      for (const task of this.p.tasks.onAgent(agentId).values()) {
        if (!this.implicit.has(task.frameworkId) || !this.isListening(task.frameworkId)) continue;
        this.p.relay.send(this.p.relay.latest(task, 'RECONCILIATION'));
        answered.add(taskKey(task.frameworkId, task.spec.taskId));
      }
    }
    if (!questions) return;
    this.held.delete(agentId);
    this.heldCount -= questions.size;
    for (const [key, q] of questions) {
      if (answered.has(key) || !this.isListening(q.frameworkId)) continue;
      // Re-decided with the same function, now that the agent is not waited for.
      if (this.answer(q.frameworkId, q.taskId, agentId) === 'wait') this.hold(agentId, q.frameworkId, q.taskId);
    }
  }

  /** The re-registration window closed: every question still held is answered (UNREACHABLE, as the agents now are). */
  windowClosed(): void {
    this.implicit.clear();
    for (const agentId of [...this.held.keys()]) this.agentSettled(agentId);
  }

  /** One explicit question: answered now, or 'wait' when its agent is still expected back. */
  private answer(frameworkId: string, taskId: string, agentId: string): 'answered' | 'wait' {
    const { tasks, relay, agents, effects } = this.p;
    const task = tasks.get(frameworkId, taskId) ?? tasks.lastEnded(frameworkId, taskId);
    if (task) {
      relay.send(relay.latest(task, 'RECONCILIATION'));
      return 'answered';
    }
    const expected = agentId ? agents.expected(agentId) : undefined;
    if (expected?.waiting) return 'wait';
    const unknown = { taskId, frameworkId, agentId, source: 'MASTER' as const, timestamp: effects.clock.now() };
    if (expected || agents.get(agentId)?.state === 'unreachable') {
      relay.send({ ...unknown, state: 'UNREACHABLE', reason: 'AGENT_UNREACHABLE', message: `reconciliation: agent '${agentId}' is unreachable` });
    } else if (agents.isGone(agentId)) {
      relay.send({ ...unknown, state: 'GONE', reason: 'AGENT_REMOVED', message: `reconciliation: agent '${agentId}' is gone` });
    } else {
      relay.sendUnknown(frameworkId, taskId, agentId, 'reconciliation: the master knows no such task');
    }
    return 'answered';
  }

  /** Holds a question until its agent is settled; false (nothing held) when MAX_HELD_RECONCILIATIONS are held. */
  private hold(agentId: string, frameworkId: string, taskId: string): boolean {
    let questions = this.held.get(agentId);
    const key = taskKey(frameworkId, taskId);
    if (questions?.has(key)) return true;
    if (this.heldCount >= this.maxHeld) return false;
    if (!questions) this.held.set(agentId, (questions = new Map()));
    questions.set(key, { frameworkId, taskId });
    this.heldCount += 1;
    return true;
  }

  /** A framework that can still be told (not removed while its question waited). */
  private isListening(frameworkId: string): boolean {
    const framework = this.p.frameworks.get(frameworkId);
    return framework !== undefined && framework.state !== 'removed';
  }
}
