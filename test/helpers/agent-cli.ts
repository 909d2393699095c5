/**
 * Real `orbit master` and `orbit agent` processes for recovery tests: started on free ports with
 * short timers, an agent that can be SIGKILLed and started again on the same work dir, and small
 * readers of their HTTP state and of Docker. Every process is stopped by its PID at teardown.
 */
import { spawnSync } from 'node:child_process';
import type { ClusterStateView } from '../../src/common/state-view.js';
import { freePorts, spawnOrbit, type OrbitProcess } from './cli.js';
import { eventually, tempDir, type TestLike } from './cluster.js';
import { testFetch } from './http-client.js';

/** A task as the agent's GET /state shows it. */
export interface AgentTaskView {
  id: string;
  frameworkId: string;
  state: string;
  containerId: string;
  sandbox: string;
  healthy?: boolean;
}

/** The agent's GET /state. */
export interface AgentStateView {
  id: string;
  connected: boolean;
  tasks: AgentTaskView[];
  completedTasks: AgentTaskView[];
  pendingUpdates: number;
}

/** Throws, with what it printed, when a server process has exited. */
export function assertRunning(p: OrbitProcess, what: string): void {
  if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`${what} exited (${p.child.exitCode ?? p.child.signalCode}):\n${p.stderr()}`);
}

async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    const res = await testFetch(url);
    return res.ok ? ((await res.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}

export interface MasterProcess {
  /** The process spawnMaster started (restart() starts others). */
  process: OrbitProcess;
  address: string;
  httpPort: number;
  workDir: string;
  state(): Promise<ClusterStateView>;
  /** Starts `orbit master` again with the same flags, ports and work dir, and waits until it serves /state. */
  restart(): Promise<OrbitProcess>;
}

export interface MasterOptions {
  /** Its work dir (default: a fresh temp dir). */
  workDir?: string;
  /** Flags after the defaults (a later value wins). */
  flags?: string[];
}

/** Starts `orbit master` on free ports, with short timers, and waits until it serves /state. */
export async function spawnMaster(t: TestLike, options: MasterOptions = {}): Promise<MasterProcess> {
  const [port, httpPort] = (await freePorts(2)) as [number, number];
  const workDir = options.workDir ?? tempDir(t, 'orbit-master-');
  const args = [
    'master', '--port', String(port), '--http-port', String(httpPort), '--work-dir', workDir,
    '--allocation-interval', '0.1', '--heartbeat-interval', '1', '--log-level', 'warn', ...(options.flags ?? []),
  ];
  const url = `http://127.0.0.1:${httpPort}/state`;
  const start = async (): Promise<OrbitProcess> => {
    const process = spawnOrbit(t, args);
    await eventually('the master to serve /state', async () => {
      assertRunning(process, 'orbit master');
      return getJson(url);
    }, 15_000);
    return process;
  };
  return { process: await start(), address: `127.0.0.1:${port}`, httpPort, workDir, state: async () => (await getJson<ClusterStateView>(url))!, restart: start };
}

export interface AgentProcesses {
  workDir: string;
  httpPort: number;
  /** The agent process running now. */
  current(): OrbitProcess;
  /** Starts `orbit agent` on the work dir with the base flags plus `extra`. */
  start(extra?: string[]): OrbitProcess;
  /** SIGKILLs the current agent and waits until it is gone. */
  crash(): Promise<void>;
  /** The current agent's GET /state, once it answers. */
  state(): Promise<AgentStateView>;
}

/**
 * An agent of `master` on a fixed work dir and HTTP port, so a restart is the same agent to
 * everyone. Status updates are resent only on (re-)registration (a 60 s retry), so a resend seen
 * in a test comes from the recovery.
 */
export async function agentProcesses(t: TestLike, master: string, options: { hostname: string; resources: string; containerizers?: string }): Promise<AgentProcesses> {
  const workDir = tempDir(t, 'orbit-agent-');
  const [httpPort] = await freePorts(1);
  const base = [
    'agent', '--master', master, '--work-dir', workDir, '--http-port', String(httpPort!), '--hostname', options.hostname,
    '--containerizers', options.containerizers ?? 'docker,process', '--resources', options.resources,
    '--status-update-retry-base', '60', '--status-update-retry-max', '60', '--kill-tasks-on-exit', '--log-level', 'warn',
  ];
  let current: OrbitProcess | undefined;
  const url = `http://127.0.0.1:${httpPort}/state`;
  const agents: AgentProcesses = {
    workDir,
    httpPort: httpPort!,
    current() {
      if (!current) throw new Error('no agent started');
      return current;
    },
    start(extra = []) {
      current = spawnOrbit(t, [...base, ...extra], {}, 15_000);
      return current;
    },
    async crash() {
      const p = agents.current();
      process.kill(p.pid, 'SIGKILL');
      await p.exited;
    },
    async state() {
      return eventually('the agent to serve /state', async () => {
        assertRunning(agents.current(), 'orbit agent');
        return getJson<AgentStateView>(url);
      }, 15_000);
    },
  };
  return agents;
}

/** Docker's word for the state of the container Orbit named for `containerId` (undefined: none). */
export function containerStatus(containerId: string): string | undefined {
  const out = spawnSync('docker', ['inspect', '-f', '{{.State.Status}}', `orbit-${containerId}`], { encoding: 'utf8' });
  return out.status === 0 ? out.stdout.trim() : undefined;
}
