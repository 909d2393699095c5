/**
 * What the `orbit services` and `orbit jobs` commands print to and wait on, injected so that tests
 * can run the commands in-process: `processIo` writes to stdout/stderr and waits for SIGINT or
 * SIGTERM.
 */
import { waitForSignal } from '../../common/signals.js';

export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  /** Resolves when a long-running command (`serve`) should stop. */
  waitForStop(): Promise<string>;
}

/** The real process: stdout, stderr, and the first SIGINT or SIGTERM. */
export const processIo: CommandIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  waitForStop: waitForSignal,
};

/** `12s`, `3m04s`, `2h05m` for a duration in ms; `-` for undefined. */
export function shortDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return ms < 10_000 && ms % 1000 !== 0 ? `${(ms / 1000).toFixed(1)}s` : `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Lays rows out in columns padded to the widest cell; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}
