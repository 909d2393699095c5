/**
 * Test clusters: a real master and real agents in this process, talking gRPC on 127.0.0.1:0,
 * with temp work dirs and short timers (Nomad's TestConfigForServer idea). Everything started is
 * stopped in t.teardown.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type RunningAgent } from '../../src/agent/agent.js';
import type { Containerizer } from '../../src/agent/containerizer/containerizer.js';
import { ProcessContainerizer } from '../../src/agent/containerizer/process.js';
import { parseAttributes } from '../../src/common/attributes.js';
import { parseResources, scalar } from '../../src/common/resources.js';
import type { ClusterStateView } from '../../src/common/state-view.js';
import { startMaster, type RunningMaster } from '../../src/master/master.js';
import { SchedulerClient, type FrameworkOptions, type Offer, type SchedulerEvents, type TaskStatus, type TaskState } from '../../src/framework-sdk/index.js';
import { AGENT, OPERATOR, testMasterSecurity } from './pki.js';
import type { SecurityConfig } from '../../src/master/security/setup.js';
import type { ClientSecurity } from '../../src/common/credentials.js';
import { testFetch } from './http-client.js';

/** The bits of tap's Test these helpers use. */
export interface TestLike {
  teardown(fn: () => unknown): void;
}

export function tempDir(t: TestLike, prefix = 'orbit-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface AgentSpec {
  resources?: string;
  attributes?: string;
  containerizers?: Containerizer[];
  hostname?: string;
  /** The agent's certificate (default: agent:test-agent of the test CA). */
  security?: ClientSecurity;
}

export interface TestCluster {
  master: RunningMaster;
  agents: RunningAgent[];
  /** GET /state from the master's HTTP port. */
  state(): Promise<ClusterStateView>;
  addAgent(spec?: AgentSpec): Promise<RunningAgent>;
  /** A subscribed framework, closed at teardown. */
  framework(options?: Partial<FrameworkOptions> & { autoAcknowledge?: boolean; security?: ClientSecurity }): Promise<SchedulerClient>;
}

export const FAST_MASTER = { allocationIntervalMs: 100, frameworkHeartbeatIntervalMs: 500, agentHeartbeatIntervalMs: 500 };

export async function startMasterForTest(t: TestLike, workDir = tempDir(t), port = 0, security: SecurityConfig = testMasterSecurity()): Promise<RunningMaster> {
  const master = await startMaster({ ip: '127.0.0.1', port, httpPort: 0, workDir, ...FAST_MASTER, security });
  t.teardown(() => master.stop());
  return master;
}

export async function startAgentForTest(t: TestLike, masterAddress: string, spec: AgentSpec = {}, workDir = tempDir(t)): Promise<RunningAgent> {
  const agent = await startAgent({
    master: masterAddress,
    security: spec.security ?? AGENT,
    workDir,
    httpPort: 0,
    hostname: spec.hostname ?? 'localhost',
    resources: parseResources(spec.resources ?? 'cpus:2;mem:1024;disk:1024;ports:[31000-31009]'),
    attributes: parseAttributes(spec.attributes ?? ''),
    containerizers: spec.containerizers ?? [new ProcessContainerizer()],
    backoffBaseMs: 50,
    backoffMaxMs: 500,
    statusRetryBaseMs: 300,
    statusRetryMaxMs: 2_000,
  });
  t.teardown(() => agent.shutdown());
  return agent;
}

/** A master (or the one given) and agents of `agentSpecs`. */
export async function startCluster(t: TestLike, agentSpecs: AgentSpec[] = [{}], given?: RunningMaster): Promise<TestCluster> {
  const master = given ?? (await startMasterForTest(t));
  const agents: RunningAgent[] = [];
  const cluster: TestCluster = {
    master,
    agents,
    async state() {
      const res = await testFetch(`http://127.0.0.1:${master.httpPort}/state`);
      return (await res.json()) as ClusterStateView;
    },
    async addAgent(spec = {}) {
      const agent = await startAgentForTest(t, master.address, spec);
      await agent.registered(10_000);
      agents.push(agent);
      return agent;
    },
    async framework(options = {}) {
      const { autoAcknowledge, security, ...framework } = options;
      const client = new SchedulerClient({
        master: master.address,
        security: security ?? OPERATOR,
        framework: { name: 'test-framework', failoverTimeoutMs: 60_000, ...framework },
        autoAcknowledge: autoAcknowledge ?? true,
        reconnectBaseMs: 50,
        reconnectMaxMs: 500,
      });
      t.teardown(() => client.close());
      await client.start();
      return client;
    },
  };
  for (const spec of agentSpecs) await cluster.addAgent(spec);
  return cluster;
}

/** Resolves with the next event of this kind that satisfies `match`; rejects after `timeoutMs`. */
export function nextEvent<K extends keyof SchedulerEvents>(
  client: SchedulerClient,
  kind: K,
  match: (...args: SchedulerEvents[K]) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<SchedulerEvents[K]> {
  return new Promise((resolve, reject) => {
    const listener = (...args: SchedulerEvents[K]) => {
      if (!match(...args)) return;
      clearTimeout(timer);
      client.off(kind, listener as never);
      resolve(args);
    };
    const timer = setTimeout(() => {
      client.off(kind, listener as never);
      reject(new Error(`no '${String(kind)}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    client.on(kind, listener as never);
  });
}

/** Collects the updates of a task, each once, until one with `state` arrives; returns them in order. */
export async function updatesUntil(client: SchedulerClient, taskId: string, state: TaskState, timeoutMs = 15_000): Promise<TaskStatus[]> {
  const seen: TaskStatus[] = [];
  const uuids = new Set<string>();
  const listener = (s: TaskStatus) => {
    if (s.taskId !== taskId) return;
    // Delivery is at least once: an update whose acknowledgement was slow (a busy machine, with the
    // tests' 300 ms retry) comes again with the same uuid. The framework acts on it once; so do we.
    if (s.uuid) {
      if (uuids.has(s.uuid)) return;
      uuids.add(s.uuid);
    }
    seen.push(s);
  };
  client.on('update', listener);
  try {
    await nextEvent(client, 'update', (s) => s.taskId === taskId && s.state === state, timeoutMs);
    return seen;
  } finally {
    client.off('update', listener);
  }
}

/** Polls until `check` returns a truthy value; rejects with `what` after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Holds every offer a framework gets until a test takes one. `take` waits for an offer that
 * matches and hands every other held offer back (declined, no filter) so an agent's resources
 * merge into one offer again: tests then never depend on how offers happened to be split.
 */
export class OfferPool {
  private readonly held = new Map<string, Offer>();
  private wake: (() => void) | undefined;

  constructor(private readonly client: SchedulerClient) {
    client.on('offers', (offers) => {
      for (const o of offers) this.held.set(o.id, o);
      this.wake?.();
    });
    client.on('rescind', (id) => this.held.delete(id));
  }

  /** An offer satisfying `match` (by default: any), removed from the pool. */
  async take(match: (offer: Offer) => boolean = () => true, timeoutMs = 10_000): Promise<Offer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = [...this.held.values()].find(match);
      const others = [...this.held.keys()].filter((id) => id !== found?.id);
      this.held.clear();
      if (others.length > 0) await this.client.decline(others, { refuseSeconds: 0 });
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching offer within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Hands every held offer back. */
  async release(): Promise<void> {
    const ids = [...this.held.keys()];
    this.held.clear();
    if (ids.length > 0) await this.client.decline(ids, { refuseSeconds: 0 });
  }
}

/** Matches offers with at least `cpus` cpus (2 is a whole agent in these tests). */
export const atLeastCpus = (cpus: number) => (offer: Offer): boolean => scalar(offer.resources, 'cpus') >= cpus;
