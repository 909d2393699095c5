/**
 * The shell that wraps every process task, so that a task outlives its agent and its exit status
 * outlives the task. The wrapper leads the task's session and process group; it
 *  1. waits for `go` on its stdin: the agent writes it once the wrapper's pid is checkpointed, so a
 *     task never runs unrecorded (an agent that dies first closes the pipe and the wrapper quits);
 *  2. runs the command in the foreground, stdin from /dev/null, output to the sandbox files;
 *  3. writes the command's `$?` atomically to EXIT_STATUS_FILE in the sandbox, where a restarted
 *     agent finds it;
 *  4. dies the way the command did: `$?` above 128 is a death by signal `$? - 128`, which it
 *     re-raises on itself, so a parent that is still there sees the same signal.
 * SIGTERM, SIGINT, SIGHUP and SIGQUIT are trapped (not ignored: the command gets them with their
 * default action) so that a kill of the whole group leaves the wrapper alive to record the status.
 * One that arrives before the command starts is recorded as the command's death by it, and the
 * command never runs.
 */
import { constants } from 'node:os';
import { access, stat } from 'node:fs/promises';
import { constants as fs } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { blockedDirectory, EXECUTE, permits, type TaskUser } from '../task-user.js';

/** The file in the sandbox that holds the task's exit status once it has ended. */
export const EXIT_STATUS_FILE = '.orbit-exit-status';

/** Exit status of a wrapper told nothing (its agent died before checkpointing it). */
export const WRAPPER_NOT_STARTED = 125;

const SCRIPT = `exit_file=$1; shift
record() { printf '%s\\n' "$1" > "$exit_file.tmp" && mv -f "$exit_file.tmp" "$exit_file"; }
die() { record $((128 + $1)); trap - TERM INT HUP QUIT; kill -$1 $$; exit $((128 + $1)); }
trap 'die 15' TERM; trap 'die 2' INT; trap 'die 1' HUP; trap 'die 3' QUIT
IFS= read -r go || exit ${WRAPPER_NOT_STARTED}
[ "$go" = go ] || exit ${WRAPPER_NOT_STARTED}
trap ':' TERM INT HUP QUIT
"$@" </dev/null
code=$?
record "$code"
if [ "$code" -gt 128 ] && [ "$code" -lt 160 ]; then
  trap - TERM INT HUP QUIT
  kill -$((code - 128)) $$
fi
exit "$code"`;

/** The program and arguments that run `argv` under the wrapper, recording into `exitFile`. */
export function wrapperArgv(exitFile: string, argv: readonly string[]): [string, string[]] {
  return ['/bin/sh', ['-c', SCRIPT, 'orbit-task', exitFile, ...argv]];
}

/** The name of signal `n` (15 → SIGTERM), or undefined when there is none. */
function signalName(n: number): string | undefined {
  return Object.entries(constants.signals).find(([, value]) => value === n)?.[0];
}

/** What an exit status from the wrapper's file means: a code, or a death by signal. */
export function decodeExitStatus(status: number): { exitCode: number | null; message: string } {
  const signal = status > 128 && status < 160 ? signalName(status - 128) : undefined;
  if (signal !== undefined) return { exitCode: null, message: `killed by ${signal}` };
  return { exitCode: status, message: `exited with code ${status}` };
}

/** A message for an exit the agent saw itself (the wrapper re-raises the task's signal). */
export function exitMessage(code: number | null, signal: NodeJS.Signals | null): string {
  if (code !== null) return `exited with code ${code}`;
  return signal !== null ? `killed by ${signal}` : 'exited';
}

/**
 * The program's path as exec would find it (PATH from `env`, relative paths from `cwd`), or the
 * errno exec would fail with: the wrapper spawns fine either way, so the launch checks first.
 * With `user`, it is checked as that user (no supplementary groups) would exec it, not as the agent.
 */
export async function resolveProgram(program: string, env: Record<string, string>, cwd: string, user?: Pick<TaskUser, 'uid' | 'gid'>): Promise<{ path: string } | { error: 'ENOENT' | 'EACCES' }> {
  const check = async (path: string): Promise<'ok' | 'ENOENT' | 'EACCES'> => {
    const s = await stat(path).catch(() => undefined);
    if (s === undefined) return 'ENOENT';
    if (!s.isFile()) return 'EACCES';
    if (user !== undefined) return permits(s, user, EXECUTE) && (await blockedDirectory(path, user)) === undefined ? 'ok' : 'EACCES';
    return access(path, fs.X_OK).then(() => 'ok' as const, () => 'EACCES' as const);
  };
  if (program.includes('/')) {
    const path = resolve(cwd, program);
    const verdict = await check(path);
    return verdict === 'ok' ? { path } : { error: verdict };
  }
  let error: 'ENOENT' | 'EACCES' = 'ENOENT';
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    const path = resolve(cwd, join(dir, program));
    const verdict = await check(path);
    if (verdict === 'ok') return { path };
    if (verdict === 'EACCES') error = 'EACCES';
  }
  return { error };
}
