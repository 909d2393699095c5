/**
 * Time, injected. Pure code takes `now` as an argument; the I/O shells take a Clock so tests can
 * substitute a manual one and advance it instead of sleeping.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms`; the handle cancels it (a no-op once it ran). */
  setTimer(ms: number, fn: () => void): TimerHandle;
  /** Runs `fn` every `ms` until cancelled. */
  setRepeating(ms: number, fn: () => void): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
  setRepeating(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref?.();
    return { cancel: () => clearInterval(t) };
  },
};

/** A clock that only moves when told; timers fire in due order inside `advance`. */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new Map<number, { due: number; every?: number; fn: () => void }>();

  constructor(start = 1_700_000_000_000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { due: this.current + ms, fn });
    return { cancel: () => this.timers.delete(id) };
  }

  setRepeating(ms: number, fn: () => void): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { due: this.current + ms, every: Math.max(1, ms), fn });
    return { cancel: () => this.timers.delete(id) };
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      let next: [number, { due: number; every?: number; fn: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].due <= end && (!next || entry[1].due < next[1].due)) next = entry;
      }
      if (!next) break;
      const [id, timer] = next;
      this.current = timer.due;
      if (timer.every) timer.due += timer.every;
      else this.timers.delete(id);
      timer.fn();
    }
    this.current = end;
  }
}
