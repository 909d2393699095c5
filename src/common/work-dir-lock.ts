/**
 * One process per work or state dir: two masters appending to one registry would corrupt it, two
 * agents would both recover the same containers, two framework servers would fight over one
 * state file. The lock is a file holding the owner's PID, created exclusively; a lock left by a
 * process that is gone (a crash, kill -9) is taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';

export class WorkDirLockedError extends Error {
  override readonly name = 'WorkDirLockedError';
  constructor(message: string, readonly pid: number) {
    super(message);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Locks this process holds: a file naming our own PID that is not in here is a stale one. */
const held = new Set<string>();

/**
 * Takes `DIR/OWNER.lock`; returns its release. Throws WorkDirLockedError when a live process
 * (this one included) holds it.
 */
export function lockWorkDir(workDir: string, owner = 'master'): () => void {
  mkdirSync(workDir, { recursive: true });
  const path = resolve(join(workDir, `${owner}.lock`));
  const article = /^[aeiou]/.test(owner) ? 'an' : 'a';
  if (held.has(path)) throw new WorkDirLockedError(`this process already runs ${article} ${owner} on ${workDir}`, process.pid);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      held.add(path);
      return () => {
        held.delete(path);
        rmSync(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new WorkDirLockedError(`another ${owner} (pid ${holder}) is using ${workDir}`, holder);
      }
      rmSync(path, { force: true });
    }
  }
  throw new WorkDirLockedError(`cannot take the lock ${path}`, 0);
}
