/**
 * No root tasks unless allowed, on the agent's side: `orbit agent --task-user` (default nobody) and
 * `--allow-root-task-user`, process tasks that run as the task user and see it from inside, an
 * agent that is not root, and Docker containers with no-new-privileges and a small capability set.
 * Needs the compiled CLI (`npx tsc -p .`), root, and a Docker engine (scripts/start-dockerd).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Dockerode from 'dockerode';
import type { LaunchRequest } from '../../src/agent/containerizer/containerizer.js';
import { DockerContainerizer, dockerName, TASK_CAPABILITIES } from '../../src/agent/containerizer/docker.js';
import { parseResources } from '../../src/common/resources.js';
import type { CommandSpec, TaskSpec } from '../../src/common/tasks.js';
import { agentProcesses, spawnMaster } from '../helpers/agent-cli.js';
import { cliBuildProblem, REPO_ROOT, runOrbit, spawnOrbit, type OrbitResult } from '../helpers/cli.js';
import { eventually, tempDir } from '../helpers/cluster.js';
import { prepareDocker, removeAgentContainers, TEST_IMAGE } from '../helpers/docker.js';

const NOBODY = 65534;
const output = (r: OrbitResult) => ({ stdout: r.stdout, stderr: r.stderr });

const problem = cliBuildProblem() ?? (process.getuid?.() === 0 ? undefined : 'these tests switch users: run them as root') ?? prepareDocker();
if (problem) t.fail(problem);

t.test('orbit agent refuses a --task-user it cannot use, naming the flag', async (t) => {
  const cases: { name: string; flags: string[]; says: RegExp }[] = [
    { name: 'a user that is not in /etc/passwd', flags: ['--task-user', 'no-such-user'], says: /--task-user: user 'no-such-user' is not in \/etc\/passwd/ },
    { name: 'a name that is no user name', flags: ['--task-user', 'bad name!'], says: /--task-user: .*is not a valid user/ },
    { name: 'root', flags: ['--task-user', 'root'], says: /--task-user: 'root' is uid 0: .*pass --allow-root-task-user/ },
    { name: 'uid 0', flags: ['--task-user', '0'], says: /--task-user: '0' is uid 0: .*--allow-root-task-user/ },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const r = await runOrbit(t, ['agent', '--master', '127.0.0.1:1', '--work-dir', tempDir(t), '--http-port', '0', '--containerizers', 'process', ...c.flags], { timeoutMs: 20_000 });
      t.equal(r.code, 1, 'exits 1', output(r));
      t.match(r.stderr, c.says);
      t.notMatch(r.stdout, /orbit agent offering/, 'it never started');
    });
  }
});

t.test('orbit agent starts with a root --task-user only when allowed, and warns', async (t) => {
  const agent = spawnOrbit(t, ['agent', '--master', '127.0.0.1:1', '--work-dir', tempDir(t), '--http-port', '0', '--containerizers', 'process', '--task-user', 'root', '--allow-root-task-user', '--log-level', 'warn'], { env: { ORBIT_LOG_FORMAT: 'json' } });
  // The flags are checked first, before the agent looks for its credentials or its master.
  await eventually('the warning', () => /--allow-root-task-user: process tasks that name no user run as root/.test(agent.stderr()) || agent.child.exitCode !== null, 20_000);
  t.match(agent.stderr(), /--allow-root-task-user: process tasks that name no user run as root/);
  t.notMatch(agent.stderr(), /--task-user: /, 'not refused');
});

t.test('orbit agent warns when the task user cannot reach its work dir', async (t) => {
  const parent = tempDir(t);
  chmodSync(parent, 0o700);
  const agent = spawnOrbit(t, ['agent', '--master', '127.0.0.1:1', '--work-dir', join(parent, 'agent'), '--http-port', '0', '--containerizers', 'process', '--log-level', 'warn'], { env: { ORBIT_LOG_FORMAT: 'json' } });
  await eventually('the warning', () => /cannot reach --work-dir/.test(agent.stderr()) || agent.child.exitCode !== null, 20_000);
  t.match(agent.stderr(), `process tasks run as user nobody (uid ${NOBODY}) (--task-user), who cannot reach --work-dir ${join(parent, 'agent')}: it may not search ${parent} (mode 0700)`);
});

t.test('a process task that names no user runs as nobody, in a sandbox it can write', async (t) => {
  const master = await spawnMaster(t);
  const agents = await agentProcesses(t, master.address, { hostname: 'privileges', resources: 'cpus:1;mem:256;ports:[31000-31009]', containerizers: 'process' });
  agents.start();
  await eventually('the agent registers', async () => (await master.state()).agents.length === 1, 20_000);
  const r = await runOrbit(t, ['run', '--master', master.address, '--process', '--', 'sh', '-c', 'id -u; id -G; echo "$HOME"; touch "$ORBIT_SANDBOX/written" && echo writable'], { timeoutMs: 60_000 });
  t.equal(r.code, 0, 'exits 0', output(r));
  const [uid, groups, home, writable] = r.stdout.split('\n');
  t.equal(uid, String(NOBODY), 'id -u inside the task');
  t.equal(groups, String(NOBODY), 'no supplementary groups');
  t.match(home, new RegExp(`^${agents.workDir}/sandboxes/`), 'HOME is the sandbox');
  t.equal(writable, 'writable');
});

t.test('an agent that is not root runs tasks as itself and refuses to run one as another user', async (t) => {
  // A real ProcessContainerizer (the compiled one) in a node process running as nobody.
  const dir = mkdtempSync(join(tmpdir(), 'orbit-nonroot-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const sandbox = join(dir, 'sandbox');
  mkdirSync(sandbox);
  chownSync(sandbox, NOBODY, NOBODY);
  const script = `
    const { ProcessContainerizer } = await import(process.env.MODULE);
    const c = new ProcessContainerizer();
    const request = (id, command) => ({
      containerId: id, frameworkId: 'f', agentId: 'a', sandboxDir: process.env.SANDBOX, env: {},
      task: { taskId: id, name: id, agentId: 'a', resources: [], container: { kind: 'process' }, killGraceMs: 1000, labels: {}, command: { shell: true, arguments: [], env: {}, ...command } },
    });
    const own = await (await c.launch(request('own', { value: 'id -u > uid' }))).exited;
    const other = await c.launch(request('other', { value: 'true', user: 'daemon' })).then(() => 'launched', (err) => err.message);
    await c.close();
    console.log(JSON.stringify({ own, other }));`;
  const module = pathToFileURL(join(REPO_ROOT, 'dist/src/agent/containerizer/process.js')).href;
  // Through env -u: tap adds its NODE_OPTIONS to every spawn, and nobody may not write tap's files.
  const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', script], {
    cwd: dir,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', MODULE: module, SANDBOX: sandbox },
    uid: NOBODY,
    gid: NOBODY,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  t.equal(code, 0, `the script ran (stderr: ${err})`);
  const result = JSON.parse(out) as { own: { exitCode: number }; other: string };
  t.equal(result.own.exitCode, 0, 'a task that names no user runs');
  t.equal((await readFile(join(sandbox, 'uid'), 'utf8')).trim(), String(NOBODY), 'as the agent itself');
  t.match(result.other, /names user daemon \(uid 1\), but the agent runs as uid 65534, not as root, and cannot switch users/);
});

const AGENT_ID = `privileges-agent-${process.pid}`;
let n = 0;

/** A Docker launch request for the test image; the container is kept after it exits, to inspect. */
function dockerRequest(sandboxDir: string, command: Partial<CommandSpec>): LaunchRequest {
  n += 1;
  const task: TaskSpec = {
    taskId: `privileges-${n}`,
    name: `privileges ${n}`,
    agentId: AGENT_ID,
    resources: parseResources('cpus:0.5;mem:64'),
    command: { shell: true, value: '', arguments: [], env: {}, ...command },
    container: { kind: 'docker', image: TEST_IMAGE },
    killGraceMs: 3000,
    labels: {},
  };
  return { containerId: `privileges-${process.pid}-${n}`, task, frameworkId: 'framework-privileges', agentId: AGENT_ID, sandboxDir, env: {}, keepExited: true };
}

/** Reads three lines of /proc/self/status inside the container. */
const STATUS_LINES = "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; id -u";

t.test('Docker containers', async (t) => {
  const docker = new Dockerode();
  const containerizer = new DockerContainerizer({ docker });
  t.teardown(async () => {
    await containerizer.close();
    removeAgentContainers(AGENT_ID);
  });

  t.test('run with no-new-privileges, only the small capability set, unprivileged, with no host mounts', async (t) => {
    const req = dockerRequest(t.testdir(), { value: STATUS_LINES });
    const exit = await (await containerizer.launch(req)).exited;
    t.equal(exit.exitCode, 0, exit.message);
    const info = await docker.getContainer(dockerName(req.containerId)).inspect();
    t.equal(info.HostConfig.Privileged, false, 'not privileged');
    t.same(info.HostConfig.SecurityOpt, ['no-new-privileges']);
    t.same(info.HostConfig.CapDrop, ['ALL']);
    t.same([...(info.HostConfig.CapAdd ?? [])].sort(), ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'NET_BIND_SERVICE', 'SETGID', 'SETUID']);
    t.same([...TASK_CAPABILITIES].sort(), [...(info.HostConfig.CapAdd ?? [])].sort(), 'the exported list is what the engine got');
    t.same(info.HostConfig.Binds ?? [], [], 'no binds');
    t.same(info.Mounts, [], 'no mounts');
    t.equal(info.Config.User, '', "the image's own user");
    // CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, KILL 5, SETGID 6, SETUID 7, NET_BIND_SERVICE 10:
    // 0b100_1111_1011 = 0x4fb; Docker's default set would be 0xa80425fb.
    const status = await readFile(join(req.sandboxDir, 'stdout'), 'utf8');
    t.match(status, /^CapEff:\s+00000000000004fb$/m, 'the capabilities the process has');
    t.match(status, /^CapBnd:\s+00000000000004fb$/m, 'and all it could ever get');
    t.match(status, /^NoNewPrivs:\s+1$/m, 'setuid binaries gain nothing');
    t.match(status, /^0$/m, "root in the image (the image's user), with those capabilities only");
    await containerizer.remove(req.containerId);
  });

  t.test('run as the user the task names', async (t) => {
    const req = dockerRequest(t.testdir(), { value: STATUS_LINES, user: 'nobody' });
    const exit = await (await containerizer.launch(req)).exited;
    t.equal(exit.exitCode, 0, exit.message);
    t.equal((await docker.getContainer(dockerName(req.containerId)).inspect()).Config.User, 'nobody');
    const status = await readFile(join(req.sandboxDir, 'stdout'), 'utf8');
    t.match(status, new RegExp(`^${NOBODY}$`, 'm'));
    t.match(status, /^CapEff:\s+0000000000000000$/m, 'a user that is not root has no capabilities');
    t.match(status, /^CapBnd:\s+00000000000004fb$/m);
    await containerizer.remove(req.containerId);
  });
});
