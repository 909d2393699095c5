/**
 * Who a process task runs as on the agent's host (DESIGN.md "Security": tasks never run as root
 * unless a rule allows it). A task that names a user runs as that user; one that names none runs
 * as the agent's task user (`orbit agent --task-user`, default `nobody`), checked once at start:
 * root only with `--allow-root-task-user`. Users come from /etc/passwd: a name listed there, or a
 * numeric uid (listed or not). A task gets the uid and primary gid and no supplementary groups.
 *
 * The checks here are pure functions of the passwd text and of file modes, so they are tested
 * without switching users; the few reads of /etc/passwd and of directories are the thin shell.
 */
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { nameProblem } from '../common/names.js';

/** The task user of an agent started without `--task-user`. */
export const DEFAULT_TASK_USER = 'nobody';

/** Where users are looked up. */
export const PASSWD_FILE = '/etc/passwd';

/** The largest uid Linux hands out ((uid_t)-1 means "no change" to setuid). */
const MAX_UID = 2 ** 32 - 2;

/** A user a task can run as: the name it was asked for, its uid and its primary gid. */
export interface TaskUser {
  name: string;
  uid: number;
  gid: number;
}

/** What `checkTaskUser` decided: the user, or why it is refused (one line, for the flag's error). */
export type TaskUserVerdict = { ok: true; user: TaskUser } | { ok: false; reason: string };

/**
 * The user `user` (a name, or a numeric uid) in the text of /etc/passwd. A numeric uid that is not
 * listed is still a user, with its gid the same number (as `docker run --user 1234` treats it).
 * Undefined for a name that is not listed. Pure.
 */
export function findUser(passwd: string, user: string): TaskUser | undefined {
  const numeric = /^\d+$/.test(user);
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === undefined || uid === undefined || gid === undefined || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) continue;
    if (name === user || (numeric && Number(uid) === Number(user))) return { name: user, uid: Number(uid), gid: Number(gid) };
  }
  return numeric && Number(user) <= MAX_UID ? { name: user, uid: Number(user), gid: Number(user) } : undefined;
}

/**
 * Checks an agent's task user: a valid user name (names.ts' rule) that /etc/passwd lists, or a
 * numeric uid; uid 0, by whatever name, only when `allowRoot`. Pure.
 */
export function checkTaskUser(value: string, passwd: string, allowRoot: boolean): TaskUserVerdict {
  if (value === '') return { ok: false, reason: 'name a user (default nobody)' };
  const problem = nameProblem('user', value);
  if (problem !== undefined) return { ok: false, reason: problem };
  if (/^\d+$/.test(value) && Number(value) > MAX_UID) return { ok: false, reason: `uid ${value} is out of range (at most ${MAX_UID})` };
  const user = findUser(passwd, value);
  if (user === undefined) return { ok: false, reason: `user '${value}' is not in ${PASSWD_FILE} (name a user listed there, or a numeric uid)` };
  if (user.uid === 0 && !allowRoot) {
    return { ok: false, reason: `'${value}' is uid 0: every process task that names no user would run as root on this machine; pass --allow-root-task-user to allow that` };
  }
  return { ok: true, user };
}

/** The text of /etc/passwd ('' when it cannot be read: then only numeric uids are users). */
export function readPasswd(path = PASSWD_FILE): Promise<string> {
  return readFile(path, 'utf8').catch(() => '');
}

/** `user` (a name, or a numeric uid) from /etc/passwd; rejects naming it when it is not there. */
export async function lookupUser(user: string): Promise<TaskUser> {
  const found = findUser(await readPasswd(), user);
  if (found === undefined) throw new Error(`user ${user} is not in ${PASSWD_FILE}`);
  return found;
}

/** The permission bits `permits` tests. */
export const READ = 4;
export const WRITE = 2;
export const EXECUTE = 1;

/**
 * Whether `user`, with no supplementary groups, has `bit` on a file of this mode and owner, as the
 * kernel decides it: the owner's bits for its owner, else the group's for its group, else the
 * others'. Root may do anything, but execute (or search) only what has some x bit. Pure.
 */
export function permits(file: Pick<Stats, 'mode' | 'uid' | 'gid'>, user: Pick<TaskUser, 'uid' | 'gid'>, bit: number): boolean {
  if (user.uid === 0) return bit !== EXECUTE || (file.mode & 0o111) !== 0;
  const shift = file.uid === user.uid ? 6 : file.gid === user.gid ? 3 : 0;
  return ((file.mode >> shift) & bit) !== 0;
}

/** A directory that keeps a user from reaching a path, with what makes it so. */
export interface BlockedDirectory {
  dir: string;
  /** Its permission bits, e.g. 0o700. */
  mode: number;
  uid: number;
}

/**
 * The first directory above `path` (from `/` down; `path` itself is not checked) that `user`
 * may not search, or undefined when it can reach `path`. One it cannot even stat blocks it too.
 */
export async function blockedDirectory(path: string, user: Pick<TaskUser, 'uid' | 'gid'>): Promise<BlockedDirectory | undefined> {
  const dirs: string[] = [];
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    dirs.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of dirs) {
    const s = await stat(dir).catch(() => undefined);
    if (s === undefined) return { dir, mode: 0, uid: -1 };
    if (!permits(s, user, EXECUTE)) return { dir, mode: s.mode & 0o7777, uid: s.uid };
  }
  return undefined;
}

/** "user nobody (uid 65534)". */
export function describeUser(user: TaskUser): string {
  return /^\d+$/.test(user.name) ? `uid ${user.uid}` : `user ${user.name} (uid ${user.uid})`;
}
