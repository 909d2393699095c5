/**
 * A simulated fleet: many agents in one process, for rehearsing a large cluster on one box and for
 * benchmarks. Each is a whole agent (its own AgentLink stream, registration, heartbeats, status
 * updates with retries and acknowledgements) with the simulated containerizer and a checkpoint in
 * memory; what they leave out is per-agent HTTP and the disk. Their streams share a few gRPC
 * connections, as a real cluster's many agents share the master's few cores.
 *
 * Agents start at `startRate` per second (default: all at once); each registers in the background
 * and keeps re-registering, with the agent's usual jittered backoff, whenever the master goes away.
 */
import { mkdirSync } from 'node:fs';
import { systemClock } from '../common/clock.js';
import { agentLinkClients, clusterOf, resolveMasterList, type MasterClients } from '../common/connection.js';
import { lockWorkDir } from '../common/work-dir-lock.js';
import type { AgentLinkClient } from '../gen/orbit/v1/AgentLink.js';
import { startAgent, type AgentOptions, type RunningAgent } from './agent.js';
import { SimulatedContainerizer } from './containerizer/simulated.js';

/** What every agent of the fleet gets as it is (the rest of AgentOptions the fleet decides). */
type SharedAgentOptions = Pick<AgentOptions, 'master' | 'security' | 'resources' | 'attributes' | 'clock' | 'logger' | 'backoffBaseMs' | 'backoffMaxMs' | 'statusRetryBaseMs' | 'statusRetryMaxMs'>;

export interface FleetOptions extends SharedAgentOptions {
  /** How many agents, 1 to 100,000. */
  count: number;
  /** gRPC connections the agents' streams share, round robin (default: one per 2,500 agents, at least 1). */
  connections?: number;
  /** Agents are named PREFIX-00001, PREFIX-00002, ... (default `sim`). */
  hostnamePrefix?: string;
  /** Locked for the fleet's lifetime; nothing else is written there. */
  workDir: string;
  /** Agents started per second (default: all at once). */
  startRate?: number;
}

export interface RunningFleet {
  readonly agents: readonly RunningAgent[];
  readonly connections: number;
  /** Agents registered with a master right now. */
  connectedCount(): number;
  /** Resolves once every agent has started and all are registered at the same time (rejects after `timeoutMs`). */
  allConnected(timeoutMs?: number): Promise<void>;
  /** Stops every agent (their simulated tasks end with the process) and closes the connections. */
  stop(): Promise<void>;
}

export const MAX_FLEET = 100_000;

export async function startFleet(options: FleetOptions): Promise<RunningFleet> {
  if (!Number.isInteger(options.count) || options.count < 1 || options.count > MAX_FLEET) throw new RangeError(`a fleet has 1 to ${MAX_FLEET} agents, not ${options.count}`);
  const connections = options.connections ?? Math.max(1, Math.ceil(options.count / 2500));
  if (!Number.isInteger(connections) || connections < 1 || connections > options.count) throw new RangeError(`connections must be 1 to the number of agents (${options.count}), not ${connections}`);
  if (options.startRate !== undefined && !(options.startRate > 0)) throw new RangeError(`startRate must be more than 0, not ${options.startRate}`);
  const { count: _count, connections: _connections, hostnamePrefix: _prefix, workDir: _workDir, startRate: _rate, ...shared } = options;
  const masters = await resolveMasterList(options.master, 'master', clusterOf(options.security));
  const clock = options.clock ?? systemClock;
  const prefix = options.hostnamePrefix ?? 'sim';
  mkdirSync(options.workDir, { recursive: true });
  const unlock = lockWorkDir(options.workDir, 'fleet');
  // Each connection moves down the master list on its own, its agents with it.
  const clients: MasterClients<AgentLinkClient>[] = Array.from({ length: connections }, () => agentLinkClients(masters, options.security));
  const agents: RunningAgent[] = [];
  const width = String(options.count).length;
  let stopping = false;
  const starting = (async () => {
    const began = clock.now();
    for (let i = 0; i < options.count && !stopping; i++) {
      if (options.startRate !== undefined) {
        const due = began + (i / options.startRate) * 1000;
        if (due > clock.now()) await new Promise<void>((resolve) => clock.setTimer(due - clock.now(), resolve));
      }
      agents.push(
        await startAgent({
          ...shared,
          workDir: options.workDir,
          hostname: `${prefix}-${String(i + 1).padStart(width, '0')}`,
          containerizers: [new SimulatedContainerizer(clock)],
          checkpoint: 'memory',
          http: false,
          linkClients: clients[i % connections]!,
          clock,
        }),
      );
    }
  })();
  // Without a start rate every agent is started before this returns; with one they keep coming.
  if (options.startRate === undefined) await starting;

  const connectedCount = () => agents.reduce((n, a) => n + (a.link.isConnected ? 1 : 0), 0);
  return {
    agents,
    connections,
    connectedCount,
    async allConnected(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      await starting;
      for (;;) {
        const connected = connectedCount();
        if (connected === options.count) return;
        if (Date.now() >= deadline) throw new Error(`${connected} of ${options.count} simulated agents registered with ${options.master} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      stopping = true;
      await starting.catch(() => undefined);
      await Promise.all(agents.map((a) => a.shutdown()));
      for (const c of clients) c.close();
      unlock();
    },
  };
}
