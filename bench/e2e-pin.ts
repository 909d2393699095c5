/**
 * Pinning for the end-to-end benchmark: bench/lib/cluster.ts pins the processes it starts; these
 * pin the benchmark process itself (every thread of it) and start plain node scripts pinned.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';

/** True when taskset exists and there is more than one core to choose from. */
export const CAN_PIN = spawnSync('taskset', ['-V']).status === 0 && cpus().length > 1;

/** Pins every thread of this process to `core`; false when the machine cannot. */
export function pinSelf(core: number): boolean {
  if (!CAN_PIN) return false;
  return spawnSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** Starts `node [nodeArgs] script [args]`, pinned to `core` when the machine can. */
export function spawnNodePinned(script: string, args: string[], core: number | undefined, nodeArgs: string[] = []): ChildProcess {
  const node = [process.execPath, ...nodeArgs, script, ...args];
  const [cmd, ...argv] = core !== undefined && CAN_PIN ? ['taskset', '-c', String(core), ...node] : node;
  return spawn(cmd!, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
}
