/**
 * The durability contract end to end: a master whose work dir is on a full file system refuses
 * `orbit weights set` with an error naming the write and exits non-zero; once there is space
 * again and it restarts, the weights are what they were before the failed call. The work dir is a
 * small tmpfs the test mounts (and unmounts) itself.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { spawnMaster } from '../helpers/agent-cli.js';
import { cliBuildProblem, runOrbit } from '../helpers/cli.js';
import { tempDir } from '../helpers/cluster.js';

const problem = cliBuildProblem();
if (problem) t.fail(problem);

/** Mounts a tmpfs of `size` at a fresh dir, unmounted at teardown; fails the test when it cannot (it needs root). */
function smallFileSystem(t: Tap.Test, size: string): string {
  const dir = tempDir(t, 'orbit-full-disk-');
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (mounted.status !== 0) throw new Error(`cannot mount a tmpfs at ${dir} (this test needs root): ${mounted.stderr.trim()}`);
  t.teardown(() => void spawnSync('umount', [dir]));
  return dir;
}

/** Writes zeros to `path` until the file system is full. */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

t.test('on a full disk, orbit weights set is refused naming the write, the master exits 1, and a restart has the weights as before', async (t) => {
  const disk = smallFileSystem(t as unknown as Tap.Test, '4m');
  const workDir = join(disk, 'master');
  mkdirSync(workDir);
  const m = await spawnMaster(t, { workDir });
  const [first, master] = [m.process, m.address];
  const roles = async () => JSON.parse((await runOrbit(t, ['roles', '--json', '--master', master])).stdout) as { role: string; weight: number }[];

  t.equal((await runOrbit(t, ['weights', 'set', 'analytics', '2', '--master', master])).code, 0, 'a weight is set while there is room');

  fill(join(disk, 'filler'));
  // One change whose record is larger than any slack left in the log's last page (its roles
  // applied all or none), so the file system has to find space it no longer has.
  const many = Array.from({ length: 60 }, (_, i) => [`role-${String(i).padStart(3, '0')}-${'x'.repeat(110)}`, '3']).flat();
  const refused = await runOrbit(t, ['weights', 'set', 'analytics', '3', ...many, '--master', master]);
  t.not(refused.code, 0, 'orbit weights set fails');
  t.match(refused.stderr, /^orbit: the master did not make the change: the registry write 'set weight' failed .*ENOSPC/, `naming the write (${refused.stderr.trim()})`);
  const exit = await first.exited;
  t.equal(exit.code, 1, 'the master exits non-zero');
  t.match(first.stderr(), /registry write 'set weight' failed/, 'and says which write failed');

  rmSync(join(disk, 'filler'));
  await m.restart();
  const after = await roles();
  t.equal(after.find((r) => r.role === 'analytics')?.weight, 2, 'the weight is what it was before the failed call');
  t.notOk(after.some((r) => r.role.startsWith('role-')), 'and none of the failed call reached the registry');
});
