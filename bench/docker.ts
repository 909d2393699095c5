/**
 * How much slower Orbit makes a container start than starting it by hand (issue 7, item 3).
 *
 * In the same run, on the same Docker engine: N `orbit-test/busybox` containers started directly
 * with dockerode (create + start: the floor), and N launched through Orbit (an `orbit master` and an
 * `orbit agent --containerizers docker`, each its own process as operators run them, and a
 * framework here accepting offers; from the Accept call to the RUNNING update), each at
 * concurrency 1, 4 and 8. Prints added latency p50/p99 and the throughput ratio.
 *
 *   npm run bench:docker [-- --count 200] [--rounds 4] [--in-process]
 *
 * Raw and Orbit launches take turns in `--rounds` blocks per concurrency, so both see the engine alike.
 *
 * `--in-process` runs the master and the agent inside this process instead (the layout of the
 * first runs): they then share one event loop with the framework and with each other.
 *
 * Not a test: figures vary with the machine; the ratio against the same-run floor is what carries.
 */
import Dockerode from 'dockerode';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startAgent } from '../src/agent/agent.js';
import { DockerContainerizer } from '../src/agent/containerizer/docker.js';
import { parseResources } from '../src/common/resources.js';
import { buildTask, SchedulerClient, type Offer } from '../src/framework-sdk/index.js';
import { startMaster } from '../src/master/master.js';
import { percentile, sleep, spawnOrbitProcess, startMasterProcess } from './lib/cluster.js';
import { issuedBy, joinTokenOf } from './lib/security.js';

const IMAGE = 'orbit-test/busybox:latest';
const COMMAND = 'sleep 1';

const { values } = parseArgs({ options: { count: { type: 'string', default: '200' }, quick: { type: 'boolean', default: false }, 'in-process': { type: 'boolean', default: false }, rounds: { type: 'string', default: '4' } } });
const COUNT = values.quick ? 40 : Number(values.count);
const ROUNDS = Math.max(1, Math.min(COUNT, Number(values.rounds)));
const CONCURRENCY = [1, 4, 8];

interface Series {
  latencies: number[];
  wallMs: number;
}

/** Several blocks as one series: their latencies together, their wall times added. */
function joined(blocks: readonly Series[]): Series {
  return { latencies: blocks.flatMap((b) => b.latencies).sort((a, b) => a - b), wallMs: blocks.reduce((sum, b) => sum + b.wallMs, 0) };
}

/** Runs `count` launches, `concurrency` at a time; `launch` resolves with its latency in ms. */
async function series(count: number, concurrency: number, launch: (i: number) => Promise<number>): Promise<Series> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        latencies.push(await launch(i));
      }
    }),
  );
  return { latencies: latencies.sort((a, b) => a - b), wallMs: performance.now() - started };
}

/**
 * The floor: create + start by hand. Like Orbit's agent, each container is waited for and removed
 * once it exits, in the background, so the engine does the same work in both series.
 */
async function rawDocker(docker: Dockerode, count: number, concurrency: number, first: number): Promise<Series> {
  const removals: Promise<unknown>[] = [];
  const result = await series(count, concurrency, async (i) => {
    const t0 = performance.now();
    const container = await docker.createContainer({
      Image: IMAGE,
      Cmd: ['/bin/sh', '-c', COMMAND],
      name: `orbit-bench-raw-${process.pid}-${concurrency}-${first + i}`,
      HostConfig: { NetworkMode: 'host', NanoCpus: 1e8, Memory: 32 * 1024 * 1024, MemorySwap: 32 * 1024 * 1024 },
    });
    const exited = container.wait();
    await container.start();
    const ms = performance.now() - t0;
    removals.push(exited.then(() => container.remove({ force: true })).catch(() => undefined));
    return ms;
  });
  await Promise.all(removals);
  return result;
}

/** A framework that keeps the offers it gets and hands them out one launch at a time. */
class Launcher {
  private readonly offers: Offer[] = [];
  private readonly waiters: ((o: Offer) => void)[] = [];
  private readonly running = new Map<string, () => void>();

  constructor(readonly client: SchedulerClient) {
    client.on('offers', (offers) => {
      for (const o of offers) {
        const w = this.waiters.shift();
        if (w) w(o);
        else this.offers.push(o);
      }
    });
    client.on('update', (s) => {
      if (s.state === 'RUNNING' || s.state === 'FAILED' || s.state === 'ERROR' || s.state === 'DROPPED') this.running.get(s.taskId)?.();
    });
  }

  private offer(): Promise<Offer> {
    const o = this.offers.shift();
    return o ? Promise.resolve(o) : new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Launches one task; resolves with ms from Accept to RUNNING. */
  async launch(i: number, concurrency: number): Promise<number> {
    const offer = await this.offer();
    const task = buildTask({ taskId: `bench-${concurrency}-${i}`, offer, resources: 'cpus:0.1;mem:32', image: IMAGE, command: COMMAND });
    const running = new Promise<void>((resolve) => this.running.set(task.taskId, resolve));
    const t0 = performance.now();
    await this.client.launch(offer, [task], { refuseSeconds: 0 });
    await running;
    this.running.delete(task.taskId);
    return performance.now() - t0;
  }
}

/** Where the framework connects, and how to stop what was started. */
interface BenchCluster {
  address: string;
  stop(): Promise<void>;
}

/** Room for every launch at once, so offers never limit the figures. */
const AGENT_RESOURCES = 'cpus:64;mem:65536;disk:10000;ports:[31000-32000]';

/** An `orbit master` and an `orbit agent` with the Docker containerizer, each its own process. */
async function processCluster(work: string): Promise<BenchCluster> {
  const master = await startMasterProcess({ workDir: join(work, 'master'), args: ['--allocation-interval', '0.02'] });
  const agent = spawnOrbitProcess([
    'agent', '--master', master.address, '--join', joinTokenOf(master.workDir), '--work-dir', join(work, 'agent'), '--http-port', '0', '--hostname', 'bench',
    '--resources', AGENT_RESOURCES, '--containerizers', 'docker', '--log-level', 'info',
  ]);
  try {
    await agent.waitFor(/registered with the master/, 30_000);
  } catch (err) {
    await agent.stop();
    await master.stop();
    throw err;
  }
  return {
    address: master.address,
    async stop() {
      await agent.stop();
      await master.stop();
    },
  };
}

/** The master and the agent inside this process. */
async function inProcessCluster(work: string): Promise<BenchCluster> {
  const master = await startMaster({ ip: '127.0.0.1', port: 0, httpPort: 0, workDir: join(work, 'master'), allocationIntervalMs: 20 });
  const agent = await startAgent({
    master: master.address,
    security: await issuedBy(master, 'agent', 'bench'),
    workDir: join(work, 'agent'),
    httpPort: 0,
    hostname: 'bench',
    resources: parseResources(AGENT_RESOURCES),
    containerizers: [new DockerContainerizer()],
  });
  await agent.registered();
  if (master.adminCredentialsPath) process.env.ORBIT_CREDENTIALS = master.adminCredentialsPath;
  return {
    address: master.address,
    async stop() {
      await agent.shutdown();
      await master.stop();
    },
  };
}

async function main(): Promise<void> {
  execFileSync(join(process.cwd(), 'scripts/build-test-images'), { stdio: 'ignore' });
  const docker = new Dockerode();
  await docker.ping();
  const work = mkdtempSync(join(tmpdir(), 'orbit-bench-docker-'));
  const cluster = values['in-process'] ? await inProcessCluster(work) : await processCluster(work);
  const client = new SchedulerClient({ master: cluster.address, framework: { name: 'bench-docker', failoverTimeoutMs: 0 } });
  const launcher = new Launcher(client);
  await client.start();

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`# bench/docker — ${new Date().toISOString()} — ${cpu}, ${cpus().length} cores, Node ${process.version}`);
  console.log(`# ${COUNT} containers of ${IMAGE} running '${COMMAND}' per series; latency = create+start (raw) vs Accept→RUNNING (Orbit)`);
  console.log(`# master and agent ${values['in-process'] ? 'in this process' : 'as their own processes'}`);
  console.log('concurrency | raw p50 ms | raw p99 ms | raw /s | orbit p50 ms | orbit p99 ms | orbit /s | added p50 ms | added p99 ms | throughput ratio');
  for (const concurrency of CONCURRENCY) {
    // Raw and Orbit take turns in blocks, so a drift in the engine's speed during the run (it
    // varies by tens of ms from minute to minute) falls on both alike.
    const rawBlocks: Series[] = [];
    const orbitBlocks: Series[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const first = Math.round((COUNT * round) / ROUNDS);
      const n = Math.round((COUNT * (round + 1)) / ROUNDS) - first;
      rawBlocks.push(await rawDocker(docker, n, concurrency, first));
      orbitBlocks.push(await series(n, concurrency, (i) => launcher.launch(first + i, concurrency)));
      // Let this block's containers exit before the next one starts.
      await sleep(2_000);
    }
    const raw = joined(rawBlocks);
    const orbit = joined(orbitBlocks);
    const rawRate = (COUNT / raw.wallMs) * 1000;
    const orbitRate = (COUNT / orbit.wallMs) * 1000;
    const row = [
      concurrency,
      percentile(raw.latencies, 50).toFixed(1),
      percentile(raw.latencies, 99).toFixed(1),
      rawRate.toFixed(1),
      percentile(orbit.latencies, 50).toFixed(1),
      percentile(orbit.latencies, 99).toFixed(1),
      orbitRate.toFixed(1),
      (percentile(orbit.latencies, 50) - percentile(raw.latencies, 50)).toFixed(1),
      (percentile(orbit.latencies, 99) - percentile(raw.latencies, 99)).toFixed(1),
      `${((orbitRate / rawRate) * 100).toFixed(0)}%`,
    ];
    console.log(row.join(' | '));
  }
  console.log('# targets: added latency <= +15 ms at p50; throughput >= 90% of raw');
  await client.teardown().catch(() => undefined);
  await sleep(3_000);
  await cluster.stop();
  rmSync(work, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench/docker: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
