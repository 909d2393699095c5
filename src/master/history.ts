/**
 * The dashboard's memory: utilisation samples over the last hour in a ring buffer, and the most
 * recent cluster events in a bounded list. Both are fixed-size, so a master that runs for months
 * holds the same few hundred kilobytes. No timers here: the caller samples (operator-surface.ts).
 */
import type { ClusterEvent } from './metrics-port.js';
import type { Scalars } from '../common/scalars.js';
import type { ClusterSummary } from './cluster-summary.js';

/** How often the master samples utilisation by default. */
export const HISTORY_SAMPLE_MS = 5_000;
/** How far back the samples reach. */
export const HISTORY_SPAN_MS = 60 * 60 * 1000;
/** How many recent cluster events are kept. */
export const EVENTS_KEPT = 500;

/** One point of the utilisation chart. */
export interface UtilisationSample {
  /** Milliseconds since the epoch. */
  time: number;
  used: Scalars;
  total: Scalars;
  runningTasks: number;
  activeTasks: number;
  activeAgents: number;
}

/** A cluster event with its place in the list: `seq` grows by one per event, from 1. */
export interface RecordedEvent extends ClusterEvent {
  seq: number;
}

/** The sample a summary makes at `time`. */
export function sampleOf(summary: ClusterSummary, time: number): UtilisationSample {
  return {
    time,
    used: { ...summary.resources.used },
    total: { ...summary.resources.total },
    runningTasks: summary.tasks.RUNNING,
    activeTasks: summary.activeTasks,
    activeAgents: summary.agents.active,
  };
}

/** A fixed-capacity FIFO: pushing past capacity overwrites the oldest entry. */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`ring capacity must be at least 1, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count < this.capacity) {
      this.items[(this.start + this.count) % this.capacity] = item;
      this.count += 1;
    } else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** The newest entry; undefined when empty. */
  last(): T | undefined {
    return this.count === 0 ? undefined : this.items[(this.start + this.count - 1) % this.capacity];
  }

  /** Oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.items[(this.start + i) % this.capacity] as T);
    return out;
  }

  /** The newest `n` entries, newest first. */
  newest(n: number): T[] {
    const out: T[] = [];
    for (let i = this.count - 1; i >= 0 && out.length < n; i--) out.push(this.items[(this.start + i) % this.capacity] as T);
    return out;
  }
}

export interface ClusterHistoryOptions {
  sampleIntervalMs?: number;
  spanMs?: number;
  eventsKept?: number;
}

/** Utilisation samples and recent events. */
export class ClusterHistory {
  readonly sampleIntervalMs: number;
  private readonly samples: Ring<UtilisationSample>;
  private readonly recent: Ring<RecordedEvent>;
  private seq = 0;

  constructor(options: ClusterHistoryOptions = {}) {
    this.sampleIntervalMs = options.sampleIntervalMs ?? HISTORY_SAMPLE_MS;
    this.samples = new Ring(Math.max(1, Math.ceil((options.spanMs ?? HISTORY_SPAN_MS) / this.sampleIntervalMs)));
    this.recent = new Ring(options.eventsKept ?? EVENTS_KEPT);
  }

  addSample(sample: UtilisationSample): void {
    this.samples.push(sample);
  }

  /** Samples oldest first; with `since`, only those taken after it. */
  samplesSince(since = 0): UtilisationSample[] {
    const all = this.samples.toArray();
    return since > 0 ? all.filter((s) => s.time > since) : all;
  }

  latestSample(): UtilisationSample | undefined {
    return this.samples.last();
  }

  /** Records an event, numbering it. */
  addEvent(event: ClusterEvent): RecordedEvent {
    this.seq += 1;
    const recorded = { ...event, seq: this.seq };
    this.recent.push(recorded);
    return recorded;
  }

  /** The newest `limit` events, newest first. */
  events(limit = EVENTS_KEPT): RecordedEvent[] {
    return this.recent.newest(limit);
  }

  /** How many events were ever recorded (the last seq). */
  get eventCount(): number {
    return this.seq;
  }
}
