// Redis as a service, end to end: the services framework deploys Debian's redis-server in Docker
// containers (the local image orbit-test/redis:latest from scripts/build-test-images) with a TCP
// health check, on two agents in this process. redis-cli reaches each instance on the port it
// was given; `docker kill` of a container gets it replaced; a rolling restart keeps at least one
// instance answering PING the whole time.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { DockerContainerizer } from '../../src/agent/containerizer/docker.js';
import { ProcessContainerizer } from '../../src/agent/containerizer/process.js';
import type { AppDetails } from '../../src/frameworks/services/app-view.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import { containersOfTask, prepareDocker, removeAgentContainers } from '../helpers/docker.js';
import { freePortResource, startServices, type ServicesUnderTest } from '../helpers/frameworks.js';

const REDIS_IMAGE = 'orbit-test/redis:latest';

/** The example spec, with health checks and backoff fast enough for a test. */
const spec = {
  ...(JSON.parse(readFileSync(join(REPO_ROOT, 'examples/redis-service.json'), 'utf8')) as Record<string, unknown>),
  healthCheck: { type: 'tcp', portIndex: 0, delaySeconds: 0.2, intervalSeconds: 0.3, timeoutSeconds: 1, maxConsecutiveFailures: 2, gracePeriodSeconds: 15 },
  backoffSeconds: 0.2,
  killGraceSeconds: 1,
};

/** The host's redis-cli (Debian's redis-tools) when installed, else the one in the test image. */
const HOST_REDIS_CLI = spawnSync('redis-cli', ['--version']).status === 0;

/** `redis-cli -p PORT ARGS...` against 127.0.0.1. */
function redisCli(port: number, ...args: string[]): string {
  const cli = ['redis-cli', '-h', '127.0.0.1', '-p', String(port), ...args];
  const [cmd, ...argv] = HOST_REDIS_CLI ? cli : ['docker', 'run', '--rm', '--network', 'host', REDIS_IMAGE, ...cli];
  return execFileSync(cmd!, argv, { encoding: 'utf8', timeout: 10_000 }).trim();
}

/** PING over a raw socket: true on +PONG within `timeoutMs` (fast enough to sample often). */
function pong(port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let got = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      got += d.toString();
      if (got.includes('\r\n')) done(got.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
  });
}

async function running(s: ServicesUnderTest, timeoutMs = 30_000): Promise<AppDetails> {
  return eventually('redis running, every instance healthy', () => {
    const d = s.fw.show('redis');
    return d.status === 'running' ? d : undefined;
  }, timeoutMs, 50);
}

const problem = prepareDocker();
if (problem !== undefined) {
  t.fail(problem);
} else {
  t.test('redis as a service on two docker agents', async (t) => {
    const cluster = await startCluster(t, []);
    for (const hostname of ['redis-a', 'redis-b']) {
      const agent = await cluster.addAgent({ hostname, resources: `cpus:2;mem:2048;${await freePortResource(8)}`, containerizers: [new DockerContainerizer(), new ProcessContainerizer()] });
      const id = agent.agentId();
      t.teardown(() => removeAgentContainers(id));
    }
    const services = await startServices(t, cluster.master.address);

    await t.test('two healthy instances, one per host, and redis-cli reaches each on its port', async (t) => {
      t.equal(services.fw.deploy(spec).change, 'created');
      const d = await running(services);
      t.same(d.instanceList.map((i) => i.hostname).sort(), ['redis-a', 'redis-b'], 'hostname:UNIQUE');
      for (const i of d.instanceList) {
        const port = i.ports[0]!;
        t.equal(i.health, 'healthy', `${i.taskId} passed its TCP check`);
        t.equal(redisCli(port, 'ping'), 'PONG', `redis-cli -p ${port} ping`);
        t.equal(redisCli(port, 'set', 'greeting', `hello from ${i.hostname}`), 'OK');
        t.equal(redisCli(port, 'get', 'greeting'), `hello from ${i.hostname}`);
        t.equal(containersOfTask(i.taskId).length, 1, 'it runs in a container');
      }
    });

    await t.test('docker kill of a container gets its instance replaced', async (t) => {
      const victim = services.fw.show('redis').instanceList[0]!;
      const [container] = containersOfTask(victim.taskId);
      execFileSync('docker', ['kill', container!], { stdio: 'ignore' });
      const d = await eventually('a replacement', () => {
        const x = services.fw.show('redis');
        return x.status === 'running' && !x.instanceList.some((i) => i.taskId === victim.taskId) ? x : undefined;
      }, 30_000, 50);
      const ended = d.ended.find((e) => e.taskId === victim.taskId);
      t.ok(ended && ended.failure, `the killed instance ended as a failure (${ended?.state}: ${ended?.message})`);
      const fresh = d.instanceList.find((i) => i.hostname === victim.hostname)!;
      t.not(fresh.taskId, victim.taskId);
      t.equal(redisCli(fresh.ports[0]!, 'ping'), 'PONG', 'the replacement answers on its port');
    });

    await t.test('a rolling restart keeps at least one instance healthy and answering the whole time', async (t) => {
      const before = services.fw.show('redis').instanceList.map((i) => i.taskId);
      let minHealthy = Infinity;
      const onChange = () => {
        const d = services.fw.show('redis');
        minHealthy = Math.min(minHealthy, d.instanceList.filter((i) => i.health === 'healthy' && !i.killReason).length);
      };
      services.fw.on('changed', onChange);
      const answering: number[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const ports = services.fw.show('redis').instanceList.map((i) => i.ports[0]!);
          answering.push((await Promise.all(ports.map((p) => pong(p)))).filter(Boolean).length);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      services.fw.restart('redis');
      const d = await eventually('every instance replaced', () => {
        const x = services.fw.show('redis');
        return x.status === 'running' && x.instanceList.every((i) => !before.includes(i.taskId)) ? x : undefined;
      }, 60_000, 50);
      sampling = false;
      await sampler;
      services.fw.off('changed', onChange);
      t.equal(d.version, 2);
      t.ok(answering.length >= 10, `${answering.length} samples of PING`);
      t.ok(Math.min(...answering) >= 1, `at least one instance answered PING in every sample (min ${Math.min(...answering)})`);
      t.equal(minHealthy, 1, 'the framework kept ceil(2 × 0.5) = 1 healthy at every change, and used that room');
      for (const i of d.instanceList) t.equal(redisCli(i.ports[0]!, 'ping'), 'PONG');
    });

    await t.test('remove stops every container', async (t) => {
      const ids = services.fw.show('redis').instanceList.map((i) => i.taskId);
      services.fw.remove('redis');
      await eventually('redis gone', () => services.fw.list().length === 0, 20_000, 50);
      await eventually('no container left', () => ids.every((id) => containersOfTask(id).length === 0), 10_000, 100);
      t.pass('removed');
    });
  });
}
