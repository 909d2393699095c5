/**
 * Deadlines that come in order (each no earlier than the one before, as offers made with one
 * timeout are), on one timer for the earliest. An allocation cycle makes thousands of offers; a
 * timer each cost the master a timer insertion, a cancellation and garbage per offer.
 *
 * Nothing is removed early: a deadline whose subject is gone fires anyway, and `fire` checks.
 */
import type { Clock, TimerHandle } from '../common/clock.js';

interface Deadline {
  at: number;
  fire: () => void;
}

export class DeadlineQueue {
  private entries: Deadline[] = [];
  /** Entries before this index have fired. */
  private head = 0;
  private timer: TimerHandle | undefined;

  constructor(private readonly clock: Clock) {}

  /** Calls `fire` at `at` (ms since the epoch); an `at` earlier than the last one given is taken as that one. */
  add(at: number, fire: () => void): void {
    const last = this.entries.at(-1);
    this.entries.push({ at: last && last.at > at ? last.at : at, fire });
    if (!this.timer) this.arm();
  }

  /** How many deadlines wait (fired ones excluded). */
  get size(): number {
    return this.entries.length - this.head;
  }

  /** Cancels the timer; nothing fires after. Idempotent. */
  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.entries = [];
    this.head = 0;
  }

  private arm(): void {
    const first = this.entries[this.head];
    if (!first) {
      this.entries = [];
      this.head = 0;
      return;
    }
    this.timer = this.clock.setTimer(Math.max(0, first.at - this.clock.now()), () => {
      this.timer = undefined;
      const now = this.clock.now();
      while (this.head < this.entries.length && this.entries[this.head]!.at <= now) this.entries[this.head++]!.fire();
      // Drop what has fired once it is most of the array (amortised O(1) per deadline).
      if (this.head > 1024 && this.head * 2 > this.entries.length) {
        this.entries = this.entries.slice(this.head);
        this.head = 0;
      }
      this.arm();
    });
  }
}
