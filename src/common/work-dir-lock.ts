/**
 * One master (or agent) per work dir: two masters appending to one registry would corrupt it, two
 * agents would both recover the same containers. The lock is a file holding the owner's PID,
 * created exclusively; a lock left by a process that is gone (a crash, kill -9) is taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export class WorkDirLockedError extends Error {
  override readonly name = 'WorkDirLockedError';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock; returns its release. Throws WorkDirLockedError when a live process holds it. */
export function lockWorkDir(workDir: string, owner: 'master' | 'agent' = 'master'): () => void {
  const path = join(workDir, `${owner}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && alive(holder) && holder !== process.pid) {
        throw new WorkDirLockedError(`another ${owner} (pid ${holder}) is using the work dir ${workDir}`);
      }
      if (holder === process.pid) throw new WorkDirLockedError(`this process already runs ${owner === 'agent' ? 'an' : 'a'} ${owner} on the work dir ${workDir}`);
      rmSync(path, { force: true });
    }
  }
  throw new WorkDirLockedError(`cannot take the lock ${path}`);
}
