import t from 'tap';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ContainerLaunchError, type LaunchRequest } from '../../src/agent/containerizer/containerizer.js';
import { ProcessContainerizer } from '../../src/agent/containerizer/process.js';
import type { CommandSpec } from '../../src/common/tasks.js';
import { processLaunch } from '../helpers/builders.js';

/** A launch request for `command` with `sandboxDir` (a fresh `t.testdir()`). */
const request = (sandboxDir: string, command: Partial<CommandSpec>, env: Record<string, string> = {}): LaunchRequest => processLaunch(sandboxDir, command, env);

const sandboxFile = (req: LaunchRequest, name: string) => readFile(join(req.sandboxDir, name), 'utf8');

/** True while `pid` runs; a zombie (dead, not yet reaped by its new parent, init) counts as gone. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await sleep(20);
  }
  return cond();
}

t.test('ProcessContainerizer', async (t) => {
  const containerizer = new ProcessContainerizer();
  t.teardown(() => containerizer.close());

  t.test('a command that exits 0 reports code 0 and leaves its output in the sandbox', async (t) => {
    const req = request(t.testdir(), { value: 'echo hello; echo oops >&2' });
    const launched = await containerizer.launch(req);
    t.equal(launched.containerId, req.containerId);
    const exit = await launched.exited;
    t.same(exit, { exitCode: 0, oomKilled: false, killed: false, message: 'exited with code 0' });
    t.equal(await sandboxFile(req, 'stdout'), 'hello\n');
    t.equal(await sandboxFile(req, 'stderr'), 'oops\n');
  });

  t.test('a non-zero exit is reported with its code', async (t) => {
    const exit = await (await containerizer.launch(request(t.testdir(), { value: 'exit 3' }))).exited;
    t.equal(exit.exitCode, 3);
    t.equal(exit.message, 'exited with code 3');
  });

  t.test('runs in the sandbox with exactly the given env, plus the agent PATH and HOME (the sandbox)', async (t) => {
    const req = request(t.testdir(), { value: 'echo "$PORT0 $FOO"; pwd; env -0 > env.bin' }, { PORT0: '31001', FOO: 'a b' });
    await (await containerizer.launch(req)).exited;
    t.equal(await sandboxFile(req, 'stdout'), `31001 a b\n${req.sandboxDir}\n`);
    const env = new Map(
      (await sandboxFile(req, 'env.bin')).split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    // sh itself adds PWD and SHLVL. tap's process tracking injects NODE_OPTIONS and _TAPJS_* into
    // every spawn made under it; outside tap they are absent.
    const ignored = (k: string) => ['PWD', 'SHLVL', 'NODE_OPTIONS'].includes(k) || k.startsWith('_TAPJS_');
    t.same([...env.keys()].filter((k) => !ignored(k)).sort(), ['FOO', 'HOME', 'PATH', 'PORT0'], "nothing but PATH comes from the agent's env");
    t.equal(env.get('PATH'), process.env['PATH']);
    t.equal(env.get('HOME'), req.sandboxDir, 'HOME is the sandbox');
  });

  t.test("the task's own HOME wins over the sandbox", async (t) => {
    const req = request(t.testdir(), { value: 'echo "$HOME"' }, { HOME: '/somewhere' });
    await (await containerizer.launch(req)).exited;
    t.equal(await sandboxFile(req, 'stdout'), '/somewhere\n');
  });

  t.test("the task's own PATH wins over the agent's", async (t) => {
    const req = request(t.testdir(), { value: 'echo "$PATH"' }, { PATH: '/bin:/usr/bin' });
    await (await containerizer.launch(req)).exited;
    t.equal(await sandboxFile(req, 'stdout'), '/bin:/usr/bin\n');
  });

  t.test('a non-shell command runs the program with its arguments', async (t) => {
    const req = request(t.testdir(), { shell: false, value: 'echo', arguments: ['x', 'y  z'] });
    await (await containerizer.launch(req)).exited;
    t.equal(await sandboxFile(req, 'stdout'), 'x y  z\n');
  });

  t.test('output files are appended to, not truncated', async (t) => {
    const req = request(t.testdir(), { value: 'echo first' });
    await (await containerizer.launch(req)).exited;
    await (await containerizer.launch({ ...req, containerId: `${req.containerId}-again` })).exited;
    t.equal(await sandboxFile(req, 'stdout'), 'first\nfirst\n');
  });

  t.test('runs as the user the command names', { skip: process.getuid?.() !== 0 && 'needs root' }, async (t) => {
    const req = request(t.testdir(), { value: 'id -u', user: 'nobody' });
    await (await containerizer.launch(req)).exited;
    t.equal(await sandboxFile(req, 'stdout'), '65534\n');
    const err = await containerizer.launch(request(t.testdir(), { value: 'true', user: 'no-such-user' })).catch((e: unknown) => e);
    t.type(err, ContainerLaunchError);
    t.match((err as Error).message, /user no-such-user is not in \/etc\/passwd/);
  });

  t.test('kill ends the whole process group: SIGTERM first', async (t) => {
    const req = request(t.testdir(), { value: 'sleep 600 & echo $! > child.pid; wait' });
    const launched = await containerizer.launch(req);
    t.ok(await waitFor(async () => (await sandboxFile(req, 'child.pid').catch(() => '')).trim() !== '', 5000));
    const childPid = Number(await sandboxFile(req, 'child.pid'));
    t.ok(alive(childPid), 'the child runs');
    const started = Date.now();
    await containerizer.kill(req.containerId, 5000);
    t.ok(Date.now() - started < 2000, 'SIGTERM was enough');
    const exit = await launched.exited;
    t.same(exit, { exitCode: null, oomKilled: false, killed: true, message: 'killed by SIGTERM' });
    t.ok(await waitFor(() => !alive(childPid), 2000), 'the child is gone too');
  });

  t.test('kill escalates to SIGKILL after the grace period when SIGTERM is ignored', async (t) => {
    const req = request(t.testdir(), { value: "trap '' TERM; sleep 600 & echo $! > child.pid; while :; do sleep 1; done" });
    const launched = await containerizer.launch(req);
    t.ok(await waitFor(async () => (await sandboxFile(req, 'child.pid').catch(() => '')).trim() !== '', 5000));
    const childPid = Number(await sandboxFile(req, 'child.pid'));
    const started = Date.now();
    await containerizer.kill(req.containerId, 300);
    const took = Date.now() - started;
    t.ok(took >= 250 && took < 2000, `killed after the grace (${took} ms)`);
    const exit = await launched.exited;
    t.equal(exit.exitCode, null);
    t.equal(exit.killed, true);
    t.equal(exit.message, 'killed by SIGKILL');
    t.ok(await waitFor(() => !alive(childPid), 2000), 'the child is gone too');
  });

  t.test('processes left in the group die when the leader exits', async (t) => {
    const req = request(t.testdir(), { value: 'sleep 600 & echo $! > child.pid' });
    await (await containerizer.launch(req)).exited;
    const childPid = Number(await sandboxFile(req, 'child.pid'));
    t.ok(await waitFor(() => !alive(childPid), 2000));
  });

  t.test('kill is a no-op for an unknown or exited container', async (t) => {
    await containerizer.kill('no-such-container', 100);
    const req = request(t.testdir(), { value: 'true' });
    const launched = await containerizer.launch(req);
    const exit = await launched.exited;
    await containerizer.kill(req.containerId, 100);
    t.equal(exit.killed, false);
  });

  const spawnFailures: Array<[string, (dir: string) => Partial<CommandSpec>, RegExp]> = [
    ['a program that does not exist', () => ({ shell: false, value: '/no/such/program' }), /\/no\/such\/program.*ENOENT/],
    ['a file that is not executable', (dir) => ({ shell: false, value: join(dir, 'data.txt') }), /data\.txt.*EACCES/],
    ['an empty command', () => ({ shell: false, value: '' }), /empty/],
  ];
  for (const [what, command, message] of spawnFailures) {
    t.test(`launch rejects ${what} with CONTAINER_LAUNCH_FAILED`, async (t) => {
      const dir = t.testdir({ 'data.txt': 'not a program\n' });
      const err = await containerizer.launch(request(dir, command(dir))).catch((e: unknown) => e);
      t.type(err, ContainerLaunchError);
      t.equal((err as ContainerLaunchError).reason, 'CONTAINER_LAUNCH_FAILED');
      t.match((err as Error).message, message);
    });
  }

  t.test('launch rejects a sandbox directory that does not exist', async (t) => {
    const req = { ...request(t.testdir(), { value: 'true' }), sandboxDir: '/no/such/sandbox' };
    const err = await containerizer.launch(req).catch((e: unknown) => e);
    t.type(err, ContainerLaunchError);
    t.match((err as Error).message, /sandbox directory \/no\/such\/sandbox does not exist/);
  });

  t.test('launch rejects a container id that is already running', async (t) => {
    const req = request(t.testdir(), { value: 'sleep 600' });
    await containerizer.launch(req);
    const err = await containerizer.launch(req).catch((e: unknown) => e);
    t.type(err, ContainerLaunchError);
    t.match((err as Error).message, /already in use/);
    await containerizer.kill(req.containerId, 1000);
  });
});
