/**
 * Crash-safe small files: a write lands whole or not at all (temp file, fsync, rename, fsync of
 * the directory), so a reader after a crash sees the old content or the new, never a torn mix.
 * Synchronous on purpose: a checkpoint must be on disk before the agent acts on it, and these
 * files are a few kilobytes.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Suffix of a write in progress; a leftover one is the trace of a crash and is ignored. */
export const TEMP_SUFFIX = '.tmp';

/** Flushes a directory's entries (a rename or a new file in it) to disk. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Creates `dir` and any missing parents, each made durable in its parent; a no-op when it exists. */
export function ensureDir(dir: string): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  ensureDir(parent);
  mkdirSync(dir);
  fsyncDir(parent);
}

/** Replaces `path` with `text` atomically and durably; creates the directory if needed. */
export function writeFileAtomic(path: string, text: string): void {
  const dir = dirname(path);
  ensureDir(dir);
  const temp = `${path}${TEMP_SUFFIX}`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  fsyncDir(dir);
}

/** Suffix of a directory being removed; a leftover one is the trace of a crash and is removed. */
export const REMOVING_SUFFIX = '.removing';

/**
 * Removes `path` (a file, or a directory with everything in it) durably; a no-op when it does not
 * exist. A directory is first renamed aside, so a crash midway never leaves half of it in place.
 */
export function removeDurably(path: string): void {
  if (!existsSync(path)) return;
  const aside = `${path}${REMOVING_SUFFIX}`;
  rmSync(aside, { recursive: true, force: true });
  renameSync(path, aside);
  fsyncDir(dirname(path));
  rmSync(aside, { recursive: true, force: true });
}
