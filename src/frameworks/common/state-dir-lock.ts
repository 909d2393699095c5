/**
 * One framework process per state dir: `serve.lock` holds the owner's PID, created exclusively.
 * A lock whose PID is no longer alive is stale and taken over.
 */
import { openSync, readFileSync, rmSync, writeSync, closeSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';

/** Another live process serves from this state dir. */
export class StateDirLockedError extends Error {
  override readonly name = 'StateDirLockedError';
  constructor(
    readonly stateDir: string,
    readonly pid: number,
  ) {
    super(`the state dir ${stateDir} is in use by process ${pid}; stop it first or use another --state-dir`);
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

/** Lock files this process holds (a file naming our own PID but not in here is a stale one from an earlier process). */
const held = new Set<string>();

/** Takes the state dir's lock; returns the release function. Throws StateDirLockedError. */
export function lockStateDir(stateDir: string): () => void {
  mkdirSync(stateDir, { recursive: true });
  const path = resolve(stateDir, 'serve.lock');
  if (held.has(path)) throw new StateDirLockedError(stateDir, process.pid);
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
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new StateDirLockedError(stateDir, pid);
      rmSync(path, { force: true }); // stale
    }
  }
  throw new Error(`cannot take the lock ${path}`);
}
