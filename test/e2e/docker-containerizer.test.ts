// Runs against the real Docker engine (start one with scripts/start-dockerd). There is no image
// registry here: the test image is built locally by scripts/build-test-images.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ContainerLaunchError, type LaunchRequest } from '../../src/agent/containerizer/containerizer.js';
import { DockerContainerizer, dockerName } from '../../src/agent/containerizer/docker.js';
import { parseResources } from '../../src/common/resources.js';
import type { CommandSpec, TaskSpec } from '../../src/common/tasks.js';
import { OOM_DELAY_S, prepareDocker, removeAgentContainers, TEST_IMAGE, UNPULLABLE_IMAGE } from '../helpers/docker.js';

const AGENT_ID = `e2e-agent-${process.pid}`;

let n = 0;

interface RequestSpec {
  command: Partial<CommandSpec>;
  resources?: string;
  env?: Record<string, string>;
  image?: string | undefined;
}

/** A launch request for the test image with a unique container id. */
function request(sandboxDir: string, spec: RequestSpec): LaunchRequest {
  n += 1;
  const task: TaskSpec = {
    taskId: `task-${n}`,
    name: `task ${n}`,
    agentId: AGENT_ID,
    resources: parseResources(spec.resources ?? 'cpus:0.5;mem:64'),
    command: { shell: true, value: '', arguments: [], env: {}, ...spec.command },
    container: { kind: 'docker', ...('image' in spec ? (spec.image === undefined ? {} : { image: spec.image }) : { image: TEST_IMAGE }) },
    killGraceMs: 3000,
    labels: {},
  };
  return {
    containerId: `test-${process.pid}-${n}`,
    task,
    frameworkId: 'framework-e2e',
    agentId: AGENT_ID,
    sandboxDir,
    env: spec.env ?? {},
  };
}

const sandboxFile = (req: LaunchRequest, name: string) => readFile(join(req.sandboxDir, name), 'utf8');

/** `docker inspect` of the request's container, or undefined once it is gone. */
function inspect(req: LaunchRequest): { Config: { Labels: Record<string, string> }; HostConfig: Record<string, unknown> } | undefined {
  const out = spawnSync('docker', ['inspect', dockerName(req.containerId)], { encoding: 'utf8' });
  return out.status === 0 ? JSON.parse(out.stdout)[0] : undefined;
}

const notReady = prepareDocker();
if (notReady !== undefined) {
  t.fail(notReady);
} else {
  t.teardown(() => removeAgentContainers(AGENT_ID));
  t.test('DockerContainerizer', async (t) => {
    const containerizer = new DockerContainerizer();
    t.teardown(() => containerizer.close());

    t.test('a command that exits 0 reports code 0 and leaves its output in the sandbox', async (t) => {
      const req = request(t.testdir(), { command: { value: 'echo hello; echo oops >&2' } });
      const exit = await (await containerizer.launch(req)).exited;
      t.same(exit, { exitCode: 0, oomKilled: false, killed: false, message: 'exited with code 0' });
      t.equal(await sandboxFile(req, 'stdout'), 'hello\n');
      t.equal(await sandboxFile(req, 'stderr'), 'oops\n');
      t.equal(inspect(req), undefined, 'the container is removed after it exits');
    });

    t.test('a non-zero exit is reported with its code', async (t) => {
      const exit = await (await containerizer.launch(request(t.testdir(), { command: { value: 'exit 3' } }))).exited;
      t.equal(exit.exitCode, 3);
      t.equal(exit.message, 'exited with code 3');
    });

    t.test('the environment reaches the container', async (t) => {
      const env = { PORT0: '31001', PORTS: '31001,31002', FOO: 'a b=c' };
      const req = request(t.testdir(), { command: { value: 'echo "$PORT0|$PORTS|$FOO"' }, env });
      await (await containerizer.launch(req)).exited;
      t.equal(await sandboxFile(req, 'stdout'), '31001|31001,31002|a b=c\n');
    });

    t.test('a non-shell command runs the program with its arguments', async (t) => {
      const req = request(t.testdir(), { command: { shell: false, value: '/bin/echo', arguments: ['x', 'y  z'] } });
      await (await containerizer.launch(req)).exited;
      t.equal(await sandboxFile(req, 'stdout'), 'x y  z\n');
    });

    t.test('no program runs the image default command', async (t) => {
      const req = request(t.testdir(), { command: { shell: false, value: '', arguments: ['/bin/echo', 'default'] } });
      await (await containerizer.launch(req)).exited;
      t.equal(await sandboxFile(req, 'stdout'), 'default\n');
    });

    t.test('a running container carries the orbit labels and resource limits', async (t) => {
      const req = request(t.testdir(), { command: { value: 'sleep 600' }, resources: 'cpus:0.5;mem:64' });
      const launched = await containerizer.launch(req);
      const info = inspect(req);
      t.match(info?.Config.Labels, {
        'orbit.agent-id': AGENT_ID,
        'orbit.framework-id': 'framework-e2e',
        'orbit.task-id': req.task.taskId,
        'orbit.container-id': req.containerId,
      });
      t.match(info?.HostConfig, { NetworkMode: 'host', NanoCpus: 500_000_000, Memory: 64 * 2 ** 20, MemorySwap: 64 * 2 ** 20 });
      await containerizer.kill(req.containerId, 0);
      t.equal((await launched.exited).killed, true);
    });

    t.test('kill sends SIGTERM, then SIGKILL after the grace period', async (t) => {
      // `sleep` is the container's PID 1 and has no SIGTERM handler, so only SIGKILL ends it.
      const req = request(t.testdir(), { command: { shell: false, value: 'sleep', arguments: ['600'] } });
      const launched = await containerizer.launch(req);
      const started = Date.now();
      await containerizer.kill(req.containerId, 1000);
      const took = Date.now() - started;
      t.ok(took >= 900 && took < 3000, `ended ${took} ms after the kill`);
      t.same(await launched.exited, { exitCode: 137, oomKilled: false, killed: true, message: 'killed by SIGKILL' });
      t.equal(inspect(req), undefined, 'the container is removed');
    });

    t.test('a task that handles SIGTERM ends within the grace period', async (t) => {
      const req = request(t.testdir(), { command: { value: "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.1; done" } });
      const launched = await containerizer.launch(req);
      // Wait until the shell has installed its trap (it says so), however slow the machine is.
      for (let i = 0; i < 200 && !(await sandboxFile(req, 'stdout').catch(() => '')).includes('ready'); i++) await sleep(50);
      const started = Date.now();
      await containerizer.kill(req.containerId, 10_000);
      t.ok(Date.now() - started < 3000, 'SIGTERM was enough');
      t.same(await launched.exited, { exitCode: 0, oomKilled: false, killed: true, message: 'killed; exited with code 0' });
      t.equal(await sandboxFile(req, 'stdout'), 'ready\nbye\n');
    });

    t.test('a dozen containers at once raise no listener-leak warning', async (t) => {
      // Each running container holds two requests on the containerizer's abort signal; past ten,
      // Node would warn of a leak in the agent's log though every listener is removed at the end.
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
      process.on('warning', onWarning);
      t.teardown(() => void process.off('warning', onWarning));
      const launched = await Promise.all(Array.from({ length: 12 }, () => containerizer.launch(request(t.testdir(), { command: { value: 'sleep 0.5' } }))));
      const exits = await Promise.all(launched.map((l) => l.exited));
      t.same(exits.map((e) => e.exitCode), Array(12).fill(0), 'all twelve ran and exited 0');
      await sleep(50); // warnings are emitted on a later tick
      t.same(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')), [], 'no MaxListenersExceededWarning');
    });

    t.test('a container over its memory limit is OOM-killed', async (t) => {
      // dd allocates its 100 MiB block up front, past the 32 MiB limit (swap is off: MemorySwap = Memory).
      // It waits first: containerd watches a container's OOM events only once it has started it, so
      // Docker can miss a kill in the first milliseconds (docker-exit.ts names the limit then).
      const req = request(t.testdir(), { command: { value: `sleep ${OOM_DELAY_S}; dd if=/dev/zero of=/dev/null bs=100M count=1` }, resources: 'cpus:0.5;mem:32' });
      const exit = await (await containerizer.launch(req)).exited;
      t.same(exit, { exitCode: 137, oomKilled: true, killed: false, message: 'killed: out of memory (limit 32 MiB)' });
    });

    t.test('an image that is absent and cannot be pulled fails with IMAGE_PULL_FAILED', async (t) => {
      const heard: string[] = [];
      const req = request(t.testdir(), { command: { value: 'true' }, image: UNPULLABLE_IMAGE });
      const err = await containerizer.launch(req, (m) => heard.push(m)).catch((e: unknown) => e);
      t.type(err, ContainerLaunchError);
      t.equal((err as ContainerLaunchError).reason, 'IMAGE_PULL_FAILED');
      t.match((err as Error).message, `image ${UNPULLABLE_IMAGE} is not present locally and could not be pulled: `);
      t.ok((err as Error).cause, 'carries the cause');
      t.ok(heard.includes(`pulling image ${UNPULLABLE_IMAGE}`), 'progress heard of the pull');
    });

    t.test('a task without an image fails with CONTAINER_LAUNCH_FAILED', async (t) => {
      const err = await containerizer.launch(request(t.testdir(), { command: { value: 'true' }, image: undefined })).catch((e: unknown) => e);
      t.type(err, ContainerLaunchError);
      t.equal((err as ContainerLaunchError).reason, 'CONTAINER_LAUNCH_FAILED');
      t.match((err as Error).message, /names no container image/);
    });

    t.test('a program missing from the image fails with CONTAINER_LAUNCH_FAILED and leaves no container', async (t) => {
      const req = request(t.testdir(), { command: { shell: false, value: '/no/such/program' } });
      const err = await containerizer.launch(req).catch((e: unknown) => e);
      t.type(err, ContainerLaunchError);
      t.equal((err as ContainerLaunchError).reason, 'CONTAINER_LAUNCH_FAILED');
      t.match((err as Error).message, /\/no\/such\/program/);
      t.equal(inspect(req), undefined);
    });

    t.test('kill is a no-op for an unknown or exited container', async (t) => {
      await containerizer.kill('no-such-container', 100);
      const req = request(t.testdir(), { command: { value: 'true' } });
      const exit = await (await containerizer.launch(req)).exited;
      await containerizer.kill(req.containerId, 100);
      t.equal(exit.killed, false);
    });
  });
}
