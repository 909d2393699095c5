/**
 * One framework process per state dir (`serve.lock`, through the shared work-dir lock), with the
 * error the framework commands report.
 */
import { lockWorkDir, WorkDirLockedError } from '../../common/work-dir-lock.js';

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

/** Takes the state dir's lock; returns the release function. Throws StateDirLockedError. */
export function lockStateDir(stateDir: string): () => void {
  try {
    return lockWorkDir(stateDir, 'serve');
  } catch (err) {
    if (err instanceof WorkDirLockedError) throw new StateDirLockedError(stateDir, err.pid);
    throw err;
  }
}
