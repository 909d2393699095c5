/**
 * Status updates, at least once and in order per task: each task has a queue; only its head is
 * in flight; the head is resent (10 s, doubling to 10 min by default) until the framework's
 * acknowledgement names its uuid. Stale or duplicate acknowledgements are ignored.
 *
 * Across agent crashes too: every change of a queue goes to `persist` (the checkpoint) before
 * anything is sent, so an update is on disk before it is first sent, and a restarted agent
 * `restore`s its queues and resends their heads, with the same uuids, once it is registered.
 */
import type { Clock, TimerHandle } from '../common/clock.js';
import { doublingBackoffMs } from '../common/backoff.js';
import type { TaskStatus } from '../common/tasks.js';

export interface StatusUpdateOptions {
  clock: Clock;
  /** Sends a status to the master; false when there is no connection (it will be resent). */
  send: (status: TaskStatus) => boolean;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /**
   * Saves a task's queue (oldest first; empty once all is acknowledged) durably before it returns.
   * Called on every enqueue (before the send) and every acknowledgement.
   */
  persist?: (frameworkId: string, taskId: string, queue: readonly TaskStatus[]) => void;
}

interface Stream {
  queue: TaskStatus[];
  attempt: number;
  timer: TimerHandle | undefined;
}

const key = (frameworkId: string, taskId: string) => `${frameworkId}/${taskId}`;

export class StatusUpdateManager {
  private readonly streams = new Map<string, Stream>();
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;

  constructor(private readonly options: StatusUpdateOptions) {
    this.retryBaseMs = options.retryBaseMs ?? 10_000;
    this.retryMaxMs = options.retryMaxMs ?? 600_000;
  }

  /** Queues an update (it must carry a uuid); sends it now when it is the task's head. */
  enqueue(status: TaskStatus): void {
    const k = key(status.frameworkId, status.taskId);
    let stream = this.streams.get(k);
    if (!stream) {
      stream = { queue: [], attempt: 0, timer: undefined };
      this.streams.set(k, stream);
    }
    stream.queue.push(status);
    this.options.persist?.(status.frameworkId, status.taskId, stream.queue);
    if (stream.queue.length === 1) this.sendHead(stream);
  }

  /**
   * Puts back a task's queue read from the checkpoint, without sending it (resendAll does, once
   * the agent is registered). Updates already queued for the task (there should be none) stay
   * ahead of it.
   */
  restore(frameworkId: string, taskId: string, queue: readonly TaskStatus[]): void {
    if (queue.length === 0) return;
    const k = key(frameworkId, taskId);
    const stream = this.streams.get(k) ?? { queue: [], attempt: 0, timer: undefined };
    stream.queue.push(...queue);
    this.streams.set(k, stream);
  }

  /**
   * Takes an acknowledgement; returns the acknowledged update, or undefined when the uuid is not
   * the head of the task's queue (stale, duplicate or unknown: ignored).
   */
  acknowledge(frameworkId: string, taskId: string, uuid: string): TaskStatus | undefined {
    const k = key(frameworkId, taskId);
    const stream = this.streams.get(k);
    const head = stream?.queue[0];
    if (!stream || !head || head.uuid !== uuid) return undefined;
    stream.timer?.cancel();
    stream.timer = undefined;
    stream.queue.shift();
    stream.attempt = 0;
    this.options.persist?.(frameworkId, taskId, stream.queue);
    if (stream.queue.length === 0) this.streams.delete(k);
    else this.sendHead(stream);
    return head;
  }

  /** Resends every head now (after a reconnect), restarting their backoff. */
  resendAll(): void {
    for (const stream of this.streams.values()) {
      stream.timer?.cancel();
      stream.attempt = 0;
      this.sendHead(stream);
    }
  }

  /** Updates not yet acknowledged, oldest first per task. */
  pending(): TaskStatus[] {
    return [...this.streams.values()].flatMap((s) => s.queue);
  }

  /** True while a task has updates waiting for acknowledgement. */
  hasPending(frameworkId: string, taskId: string): boolean {
    return this.streams.has(key(frameworkId, taskId));
  }

  /** Forgets a framework's updates (the framework is gone); a no-op when it has none. */
  dropFramework(frameworkId: string): void {
    for (const [k, stream] of this.streams) {
      const head = stream.queue[0];
      if (head?.frameworkId !== frameworkId) continue;
      stream.timer?.cancel();
      this.streams.delete(k);
      this.options.persist?.(frameworkId, head.taskId, []);
    }
  }

  /** Cancels every retry timer. */
  stop(): void {
    for (const stream of this.streams.values()) stream.timer?.cancel();
  }

  private sendHead(stream: Stream): void {
    const head = stream.queue[0];
    if (!head) return;
    this.options.send(head);
    const delay = doublingBackoffMs(stream.attempt, this.retryBaseMs, this.retryMaxMs);
    stream.attempt++;
    stream.timer = this.options.clock.setTimer(delay, () => this.sendHead(stream));
  }
}
