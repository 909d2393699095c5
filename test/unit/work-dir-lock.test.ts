import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lockWorkDir, WorkDirLockedError } from '../../src/common/work-dir-lock.js';

t.test('a second master on the same work dir is refused, naming the holder', async (t) => {
  const dir = t.testdir();
  const release = lockWorkDir(dir);
  t.throws(() => lockWorkDir(dir), WorkDirLockedError);
  release();
  t.notOk(existsSync(join(dir, 'master.lock')), 'release removes the lock');
  lockWorkDir(dir)();
});

t.test('a lock held by a live process is refused with its pid', async (t) => {
  const dir = t.testdir();
  // PID 1 is always alive.
  writeFileSync(join(dir, 'master.lock'), '1\n');
  t.throws(() => lockWorkDir(dir), /another master \(pid 1\)/);
});

t.test('a lock left by a process that is gone is taken over', async (t) => {
  const dir = t.testdir();
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
  writeFileSync(join(dir, 'master.lock'), `${gone}\n`);
  const release = lockWorkDir(dir);
  release();
  t.pass('taken over');
});

t.test('an agent takes its own lock, beside a master\'s', async (t) => {
  const dir = t.testdir();
  const master = lockWorkDir(dir);
  const agent = lockWorkDir(dir, 'agent');
  t.throws(() => lockWorkDir(dir, 'agent'), /already runs an agent/);
  agent();
  master();
});
