/** How a Docker container ended, in words: the message of a task's terminal status. */

const BYTES_PER_MIB = 1024 * 1024;

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 15: 'SIGTERM' };

/** "exited with code 3", "killed by SIGKILL", "killed: out of memory (limit 32 MiB)", ... */
export function exitMessage(exitCode: number | null, oomKilled: boolean, killed: boolean, memoryLimit: number): string {
  if (oomKilled) {
    const limit = memoryLimit > 0 ? ` (limit ${Math.round((memoryLimit / BYTES_PER_MIB) * 10) / 10} MiB)` : '';
    return `killed: out of memory${limit}`;
  }
  if (exitCode === null) return killed ? 'killed' : 'exited';
  // Docker reports a death by signal N as code 128 + N.
  const signal = exitCode > 128 ? SIGNALS[exitCode - 128] : undefined;
  if (killed) return signal ? `killed by ${signal}` : `killed; exited with code ${exitCode}`;
  return signal ? `exited with code ${exitCode} (${signal})` : `exited with code ${exitCode}`;
}
