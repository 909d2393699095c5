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

/**
 * Node runs a timer asked for more than this (2³¹−1 ms, about 24.8 days) after 1 ms instead, with
 * only a warning; the system clock chains timers for longer waits (a week's failover timeout).
 */
export const MAX_NODE_TIMER_MS = 2 ** 31 - 1;

/** The host's one-shot timers, injectable so the chaining can be tested without waiting weeks. */
export interface HostTimers {
  setTimeout(fn: () => void, ms: number): { unref?(): unknown };
  clearTimeout(handle: { unref?(): unknown }): void;
}

const nodeTimers: HostTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Runs `fn` once after `ms`, however long: a wait past MAX_NODE_TIMER_MS is a chain of shorter
 * timers, and Infinity never fires. A negative or NaN delay runs it at once, as Node does (callers
 * check their durations where they enter; a timer is no place to throw).
 */
export function hostTimer(ms: number, fn: () => void, timers: HostTimers = nodeTimers): TimerHandle {
  let left = ms >= 0 ? ms : 0;
  let handle: { unref?(): unknown } | undefined;
  let cancelled = false;
  const arm = (): void => {
    const step = Math.min(left, MAX_NODE_TIMER_MS);
    left -= step;
    handle = timers.setTimeout(() => {
      if (cancelled) return;
      if (left > 0) arm();
      else fn();
    }, step);
    handle.unref?.();
  };
  arm();
  return {
    cancel: () => {
      cancelled = true;
      if (handle) timers.clearTimeout(handle);
    },
  };
}

/** Runs `fn` every `ms` until cancelled, however long `ms` is (see hostTimer). */
export function hostRepeating(ms: number, fn: () => void, timers: HostTimers = nodeTimers): TimerHandle {
  let current: TimerHandle | undefined;
  let cancelled = false;
  const next = (): void => {
    current = hostTimer(ms, () => {
      if (cancelled) return;
      next();
      fn();
    }, timers);
  };
  next();
  return {
    cancel: () => {
      cancelled = true;
      current?.cancel();
    },
  };
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (ms, fn) => hostTimer(ms, fn),
  setRepeating(ms, fn) {
    if (!(ms >= 1 && ms <= MAX_NODE_TIMER_MS)) return hostRepeating(ms, fn);
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
