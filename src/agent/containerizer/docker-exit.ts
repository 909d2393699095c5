/** How a Docker container ended, in words: the message of a task's terminal status. */

const BYTES_PER_MIB = 1024 * 1024;

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 15: 'SIGTERM' };

/** "exited with code 3", "killed by SIGKILL", "killed: out of memory (limit 32 MiB)", ... */
export function exitMessage(exitCode: number | null, oomKilled: boolean, killed: boolean, memoryLimit: number): string {
  const limit = `${Math.round((memoryLimit / BYTES_PER_MIB) * 10) / 10} MiB`;
  if (oomKilled) return memoryLimit > 0 ? `killed: out of memory (limit ${limit})` : 'killed: out of memory';
  if (exitCode === null) return killed ? 'killed' : 'exited';
  // Docker reports a death by signal N as code 128 + N.
  const signal = exitCode > 128 ? SIGNALS[exitCode - 128] : undefined;
  if (killed) return signal ? `killed by ${signal}` : `killed; exited with code ${exitCode}`;
  // containerd starts watching a container's OOM events only after starting it, so a process the
  // kernel kills in its first milliseconds is reported as a plain SIGKILL: name the limit.
  if (signal === 'SIGKILL' && memoryLimit > 0) return `exited with code ${exitCode} (SIGKILL, not sent by Orbit; the memory limit is ${limit})`;
  return signal ? `exited with code ${exitCode} (${signal})` : `exited with code ${exitCode}`;
}
