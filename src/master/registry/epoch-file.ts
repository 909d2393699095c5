/**
 * The embedded registry's epoch: one number in a file, taken one higher at every master start
 * (written to a temp file, fsync'd and renamed, so a crash leaves the old value or the new one,
 * never half of one). Agents ignore commands from an epoch lower than one they have seen, so the
 * file stays where every earlier version kept it: `WORK_DIR/epoch`.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

/** The next epoch after the one in `path` (1 when there is none), made durable before it returns. */
export function takeNextEpoch(path: string): number {
  let last = 0;
  try {
    last = Number(readFileSync(path, 'utf8').trim()) || 0;
  } catch {
    // First start with this file.
  }
  const epoch = last + 1;
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${epoch}\n`);
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
  return epoch;
}
