import t from 'tap';
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ContainerLaunchError, type LaunchRequest } from '../../src/agent/containerizer/containerizer.js';
import { ProcessContainerizer } from '../../src/agent/containerizer/process.js';
import { hostCommandProbe } from '../../src/agent/health/probes.js';
import { blockedDirectory, checkTaskUser, EXECUTE, findUser, permits, READ, WRITE } from '../../src/agent/task-user.js';
import type { CommandSpec } from '../../src/common/tasks.js';
import { processLaunch } from '../helpers/builders.js';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'toor:x:0:0:another root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'app:x:1001:1002::/home/app:/bin/sh',
  'broken line without fields',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  '',
].join('\n');

t.test('checkTaskUser accepts a listed user or a numeric uid, and root only when allowed', async (t) => {
  const cases: [string, string, boolean, { uid: number; gid: number } | RegExp][] = [
    ['a listed name', 'nobody', false, { uid: 65534, gid: 65534 }],
    ['a name whose group differs from its uid', 'app', false, { uid: 1001, gid: 1002 }],
    ['a listed uid, with its listed gid', '1001', false, { uid: 1001, gid: 1002 }],
    ['an unlisted uid, with the same gid', '4242', false, { uid: 4242, gid: 4242 }],
    ['a name that is not listed', 'ghost', false, /^user 'ghost' is not in \/etc\/passwd/],
    ['a name with a space and a bang', 'bad name!', false, /is not a valid user/],
    ['a name that looks like a flag', '-rf', false, /is not a valid user/],
    ['a name that climbs out', '../root', false, /is not a valid user/],
    ['an empty name', '', false, /name a user/],
    ['a uid past the largest', '4294967295', false, /out of range/],
    ['root', 'root', false, /uid 0.*--allow-root-task-user/],
    ['uid 0', '0', false, /uid 0.*--allow-root-task-user/],
    ['another name for uid 0', 'toor', false, /uid 0.*--allow-root-task-user/],
    ['root, allowed', 'root', true, { uid: 0, gid: 0 }],
    ['uid 0, allowed', '0', true, { uid: 0, gid: 0 }],
  ];
  for (const [name, value, allowRoot, expected] of cases) {
    const verdict = checkTaskUser(value, PASSWD, allowRoot);
    if (expected instanceof RegExp) {
      t.notOk(verdict.ok, `${name} is refused`);
      if (!verdict.ok) t.match(verdict.reason, expected, name);
    } else {
      t.same(verdict, { ok: true, user: { name: value, ...expected } }, `${name} is accepted`);
    }
  }
});

t.test('findUser skips lines that are not entries', async (t) => {
  t.equal(findUser(PASSWD, 'broken line without fields'), undefined);
  t.equal(findUser('', 'nobody'), undefined, 'no passwd: no names');
  t.same(findUser('', '7'), { name: '7', uid: 7, gid: 7 }, 'no passwd: numeric uids still work');
});

t.test('permits decides as the kernel does, without supplementary groups', async (t) => {
  const nobody = { uid: 65534, gid: 65534 };
  const cases: [string, { mode: number; uid: number; gid: number }, { uid: number; gid: number }, number, boolean][] = [
    ['the owner uses the owner bits', { mode: 0o700, uid: 65534, gid: 0 }, nobody, EXECUTE, true],
    ['the owner bits win even when others may', { mode: 0o077, uid: 65534, gid: 0 }, nobody, READ, false],
    ['the group uses the group bits', { mode: 0o750, uid: 0, gid: 65534 }, nobody, READ, true],
    ['the group may not write 0750', { mode: 0o750, uid: 0, gid: 65534 }, nobody, WRITE, false],
    ['others use the other bits', { mode: 0o701, uid: 0, gid: 0 }, nobody, EXECUTE, true],
    ['others may not search 0700', { mode: 0o700, uid: 0, gid: 0 }, nobody, EXECUTE, false],
    ['root reads anything', { mode: 0o000, uid: 1, gid: 1 }, { uid: 0, gid: 0 }, READ, true],
    ['root executes only what has an x bit', { mode: 0o600, uid: 0, gid: 0 }, { uid: 0, gid: 0 }, EXECUTE, false],
    ['root executes with any x bit', { mode: 0o601, uid: 1, gid: 1 }, { uid: 0, gid: 0 }, EXECUTE, true],
  ];
  for (const [name, file, user, bit, expected] of cases) t.equal(permits(file, user, bit), expected, name);
});

const asRoot = process.getuid?.() === 0 ? false : 'switching users needs root';

t.test('blockedDirectory names the first directory a user may not search', { skip: asRoot }, async (t) => {
  const dir = t.testdir({ locked: { inner: { sandbox: {} } } });
  const sandbox = join(dir, 'locked', 'inner', 'sandbox');
  chmodSync(join(dir, 'locked'), 0o700);
  t.match(await blockedDirectory(sandbox, { uid: 65534, gid: 65534 }), { dir: join(dir, 'locked'), mode: 0o700, uid: 0 });
  t.equal(await blockedDirectory(sandbox, { uid: 0, gid: 0 }), undefined, 'root passes');
  chmodSync(join(dir, 'locked'), 0o711);
  t.equal(await blockedDirectory(sandbox, { uid: 65534, gid: 65534 }), undefined, 'search without read is enough');
});

/** A launch request for a shell command in `sandboxDir`. */
const request = (sandboxDir: string, command: Partial<CommandSpec>, env: Record<string, string> = {}): LaunchRequest => processLaunch(sandboxDir, command, env, 'user-test');

const read = async (req: LaunchRequest, name: string) => (await readFile(join(req.sandboxDir, name), 'utf8')).trim();

/** What the task writes about itself into its sandbox: `id -u`, `id -g`, `id -G`, $HOME. */
const WHO_AM_I = 'id -u > uid; id -g > gid; id -G > groups; printf %s "$HOME" > home';

t.test('ProcessContainerizer as root', { skip: asRoot }, async (t) => {
  const containerizer = new ProcessContainerizer();
  t.teardown(() => containerizer.close());

  t.test('a task that names no user runs as nobody, with no other groups and HOME the sandbox', async (t) => {
    const req = request(t.testdir(), { value: WHO_AM_I });
    t.same(await (await containerizer.launch(req)).exited, { exitCode: 0, oomKilled: false, killed: false, message: 'exited with code 0' });
    t.equal(await read(req, 'uid'), '65534');
    t.equal(await read(req, 'gid'), '65534');
    t.equal(await read(req, 'groups'), '65534', 'no supplementary groups (root had 0)');
    t.equal(await read(req, 'home'), req.sandboxDir);
  });

  t.test('the sandbox and its output files are the task user\'s, and the task can write there', async (t) => {
    const req = request(t.testdir(), { value: 'echo out; echo err >&2; echo more >> stdout; mkdir sub && touch sub/file' });
    t.equal((await (await containerizer.launch(req)).exited).exitCode, 0);
    const sandbox = statSync(req.sandboxDir);
    t.same({ uid: sandbox.uid, gid: sandbox.gid, mode: sandbox.mode & 0o777 }, { uid: 65534, gid: 65534, mode: 0o700 });
    for (const name of ['stdout', 'stderr', '.orbit-exit-status', 'sub/file']) t.equal(statSync(join(req.sandboxDir, name)).uid, 65534, `${name} is nobody's`);
    t.equal(await read(req, 'stdout'), 'out\nmore', 'the agent (root) still reads it');
  });

  t.test('a task that names a user runs as that user', async (t) => {
    const req = request(t.testdir(), { value: WHO_AM_I, user: 'daemon' });
    await (await containerizer.launch(req)).exited;
    t.equal(await read(req, 'uid'), '1');
    t.equal(await read(req, 'groups'), '1');
    t.equal(statSync(req.sandboxDir).uid, 1);
  });

  t.test('a task that names root runs as root (whether it may is the master\'s call)', async (t) => {
    const req = request(t.testdir(), { value: WHO_AM_I, user: 'root' });
    await (await containerizer.launch(req)).exited;
    t.equal(await read(req, 'uid'), '0');
  });

  t.test('the task user is a containerizer option', async (t) => {
    const daemonRuns = new ProcessContainerizer({ taskUser: 'daemon' });
    t.teardown(() => daemonRuns.close());
    const req = request(t.testdir(), { value: WHO_AM_I });
    await (await daemonRuns.launch(req)).exited;
    t.equal(await read(req, 'uid'), '1');
  });

  t.test('an unknown task user fails the launch, naming the flag', async (t) => {
    const ghost = new ProcessContainerizer({ taskUser: 'no-such-user' });
    t.teardown(() => ghost.close());
    const err = await ghost.launch(request(t.testdir(), { value: 'true' })).catch((e: unknown) => e);
    t.type(err, ContainerLaunchError);
    t.match((err as Error).message, /--task-user.*user no-such-user is not in \/etc\/passwd/);
  });

  t.test('a sandbox the task user cannot reach fails the launch, naming the directory', async (t) => {
    const dir = t.testdir({ private: { sandbox: {} } });
    chmodSync(join(dir, 'private'), 0o700);
    const err = await containerizer.launch(request(join(dir, 'private', 'sandbox'), { value: 'true' })).catch((e: unknown) => e);
    t.type(err, ContainerLaunchError);
    t.equal((err as ContainerLaunchError).reason, 'CONTAINER_LAUNCH_FAILED');
    t.match((err as Error).message, `user nobody (uid 65534) cannot reach the sandbox: it may not search ${join(dir, 'private')} (mode 0700, owner uid 0)`);
  });

  t.test("a program only root may run fails the launch with exec's EACCES", async (t) => {
    const dir = t.testdir({ sandbox: {} });
    const program = join(dir, 'root-only.sh');
    writeFileSync(program, '#!/bin/sh\necho ran\n', { mode: 0o700 });
    const err = await containerizer.launch(request(join(dir, 'sandbox'), { shell: false, value: program })).catch((e: unknown) => e);
    t.type(err, ContainerLaunchError);
    t.match((err as Error).message, `spawn ${program} EACCES (as user nobody (uid 65534))`);
  });

  t.test('a task running as nobody is killed, group and all', async (t) => {
    const req = request(t.testdir(), { value: 'touch started; sleep 600 & wait' });
    const launched = await containerizer.launch(req);
    // Killed once the command runs: a SIGTERM before the wrapper hands over is not the case here.
    for (let i = 0; i < 400 && !existsSync(join(req.sandboxDir, 'started')); i++) await new Promise((r) => setTimeout(r, 25));
    await containerizer.kill(req.containerId, 5_000);
    t.same(await launched.exited, { exitCode: null, oomKilled: false, killed: true, message: 'killed by SIGTERM' });
  });

  t.test('a host command check runs as the owner of the sandbox, with HOME the sandbox', async (t) => {
    const sandbox = t.testdir();
    const check = { shell: true, value: 'echo "$(id -u) $HOME"', arguments: [], env: {} };
    t.same(await hostCommandProbe(check, sandbox, {}, new AbortController().signal), { ok: true, message: `command exited 0: 0 ${sandbox}` }, 'root\'s sandbox: root');
    const req = request(sandbox, { value: 'true' });
    await (await containerizer.launch(req)).exited;
    t.same(await hostCommandProbe(check, sandbox, {}, new AbortController().signal), { ok: true, message: `command exited 0: 65534 ${sandbox}` }, 'the task user\'s sandbox: the task user');
    const gone = await hostCommandProbe(check, join(sandbox, 'absent'), {}, new AbortController().signal);
    t.equal(gone.ok, false, 'no sandbox: a failure, not a check run as root');
  });
});

t.test('ProcessContainerizer of an agent that is not root', { skip: asRoot }, async (t) => {
  // agentUid stands in for an agent that is not root (test/e2e/task-privileges.test.ts runs one for real).
  const containerizer = new ProcessContainerizer({ agentUid: 1000 });
  t.teardown(() => containerizer.close());

  t.test('runs a task that names no user as itself, leaving the sandbox as it is', async (t) => {
    const req = request(t.testdir(), { value: WHO_AM_I });
    t.equal((await (await containerizer.launch(req)).exited).exitCode, 0);
    t.equal(await read(req, 'uid'), String(process.getuid?.()), 'no switch');
    t.equal(statSync(req.sandboxDir).uid, 0, 'not handed over');
  });

  t.test('refuses a task that names another user, saying it cannot switch', async (t) => {
    const err = await containerizer.launch(request(t.testdir(), { value: 'true', user: 'nobody' })).catch((e: unknown) => e);
    t.type(err, ContainerLaunchError);
    t.match((err as Error).message, /names user nobody \(uid 65534\), but the agent runs as uid 1000, not as root, and cannot switch users/);
  });

  t.test('runs a task that names the agent\'s own uid', async (t) => {
    const req = request(t.testdir(), { value: 'true', user: '1000' });
    t.equal((await (await containerizer.launch(req)).exited).exitCode, 0);
  });
});

t.test('a task user writes only where it may', { skip: asRoot }, async (t) => {
  // The sandbox is the task's; the directory above it stays the agent's.
  const dir = t.testdir({ sandbox: {} });
  mkdirSync(join(dir, 'sandbox'), { recursive: true });
  const containerizer = new ProcessContainerizer();
  t.teardown(() => containerizer.close());
  const req = request(join(dir, 'sandbox'), { value: 'touch ../escaped' });
  const exit = await (await containerizer.launch(req)).exited;
  t.not(exit.exitCode, 0, 'touch fails');
  t.match(await read(req, 'stderr'), /Permission denied/);
});
