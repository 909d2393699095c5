/**
 * The frameworks book: every framework record, the removed ones kept for operators, the retired
 * ids, and the failover timers of disconnected frameworks. The only writer of FrameworkRecords;
 * moves go through `transition`, which checks the framework state machine.
 */
import type { FrameworkInfo } from '../common/cluster.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { frameworkTransitionAllowed, type FrameworkState } from './framework-lifecycle.js';
import type { FrameworkRecord } from './records.js';

/** How many removed frameworks /state keeps showing (Mesos keeps 50). */
export const COMPLETED_FRAMEWORKS_KEPT = 50;

export class FrameworkBook {
  private readonly frameworks = new Map<string, FrameworkRecord>();
  /** Removed frameworks, oldest first, bounded. */
  private readonly removedKept: FrameworkRecord[] = [];
  /** Ids torn down or failed over too late: they may not subscribe again. */
  private readonly retired = new Set<string>();
  private readonly failoverTimers = new Map<string, TimerHandle>();

  constructor(private readonly clock: Clock) {}

  get(id: string): FrameworkRecord | undefined {
    return this.frameworks.get(id);
  }

  has(id: string): boolean {
    return this.frameworks.has(id);
  }

  values(): IterableIterator<FrameworkRecord> {
    return this.frameworks.values();
  }

  get size(): number {
    return this.frameworks.size;
  }

  /** Removed frameworks kept for /state, oldest first. */
  completed(): readonly FrameworkRecord[] {
    return this.removedKept;
  }

  isRetired(id: string): boolean {
    return this.retired.has(id);
  }

  /** After a restart: the registry says this id was retired. */
  restoreRetired(id: string): void {
    this.retired.add(id);
  }

  /** A framework the master learns of without a subscription (the registry, an agent): `disconnected`. */
  adopt(info: FrameworkInfo, now: number): FrameworkRecord {
    const record: FrameworkRecord = { info, state: 'disconnected', streamId: undefined, registeredAt: now, disconnectedAt: now };
    this.frameworks.set(info.id, record);
    return record;
  }

  /** A new framework, subscribed on `streamId`. */
  add(info: FrameworkInfo, streamId: string, now: number): FrameworkRecord {
    const record: FrameworkRecord = { info, state: 'subscribed', streamId, registeredAt: now, disconnectedAt: undefined };
    this.frameworks.set(info.id, record);
    return record;
  }

  /** A subscription (again) on a new stream, with the info it sent. */
  subscribed(framework: FrameworkRecord, info: FrameworkInfo, streamId: string): void {
    this.transition(framework, 'subscribed');
    framework.info = info;
    framework.streamId = streamId;
    framework.disconnectedAt = undefined;
    this.cancelFailover(framework.info.id);
  }

  disconnected(framework: FrameworkRecord, now: number): void {
    this.transition(framework, 'disconnected');
    framework.streamId = undefined;
    framework.disconnectedAt = now;
  }

  /** Retires a framework: its id may not come back; the record is kept a while for /state. Returns the record dropped to make room, if any. */
  removed(framework: FrameworkRecord): FrameworkRecord | undefined {
    this.transition(framework, 'removed');
    framework.streamId = undefined;
    this.cancelFailover(framework.info.id);
    this.frameworks.delete(framework.info.id);
    this.retired.add(framework.info.id);
    this.removedKept.push(framework);
    return this.removedKept.length > COMPLETED_FRAMEWORKS_KEPT ? this.removedKept.shift() : undefined;
  }

  /** Runs `fn` once `ms` have passed unless cancelled (a re-subscription); replaces an earlier timer. */
  armFailover(id: string, ms: number, fn: () => void): void {
    this.cancelFailover(id);
    this.failoverTimers.set(id, this.clock.setTimer(ms, () => {
      this.failoverTimers.delete(id);
      fn();
    }));
  }

  cancelFailover(id: string): void {
    this.failoverTimers.get(id)?.cancel();
    this.failoverTimers.delete(id);
  }

  /** Cancels every timer. Idempotent. */
  stop(): void {
    for (const t of this.failoverTimers.values()) t.cancel();
    this.failoverTimers.clear();
  }

  private transition(framework: FrameworkRecord, to: FrameworkState): void {
    if (!frameworkTransitionAllowed(framework.state, to)) throw new Error(`framework '${framework.info.id}': ${framework.state} cannot become ${to}`);
    framework.state = to;
  }
}
