/**
 * `orbit fleet`: many simulated agents in one process (src/agent/fleet.ts), to rehearse a large
 * cluster on one box or to load a master in a benchmark. Runs until SIGINT or SIGTERM, and says on
 * stdout when all agents are registered and, after the master goes away, when all are back.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { parseAttributes } from '../common/attributes.js';
import { createLogger, type LogLevel } from '../common/logging.js';
import { formatResources, parseResources } from '../common/resources.js';
import { MAX_FLEET, startFleet, type RunningFleet } from '../agent/fleet.js';
import { addStatusRetryFlags, flagValue, statusRetryOptions } from './agent-command.js';
import { logLevelOption, masterOption, numberFlag, resolveMaster, UsageError } from './common.js';
import { waitForSignal } from '../common/signals.js';
import { cliSecurity } from './cli-security.js';
import { agentCredentials } from '../agent/enrollment.js';

interface FleetFlags {
  master?: string;
  agents?: number;
  resources: string;
  attributes?: string;
  connections?: number;
  hostnamePrefix: string;
  workDir?: string;
  startRate?: number;
  logLevel: LogLevel;
  statusUpdateRetryBase?: number;
  statusUpdateRetryMax?: number;
}

export const DEFAULT_FLEET_RESOURCES = 'cpus:8;mem:32768;disk:100000;ports:[31000-32000]';

export function registerFleetCommand(program: Command): void {
  const fleet = program
    .command('fleet')
    .description('run many simulated agents in this one process (tasks run nothing): rehearse a big cluster, or load a master')
    .addOption(masterOption())
    .option('--agents <n>', `how many agents, 1 to ${MAX_FLEET} (required)`, numberFlag('--agents', { min: 1, integer: true }))
    .option('--resources <text>', 'what each agent offers', DEFAULT_FLEET_RESOURCES)
    .option('--attributes <text>', "labels every agent carries, e.g. 'rack:r1'")
    .option('--connections <n>', 'gRPC connections the agents share (default: one per 2,500 agents)', numberFlag('--connections', { min: 1, integer: true }))
    .option('--hostname-prefix <text>', 'agents are named PREFIX-0001, PREFIX-0002, ...', 'sim')
    .option('--start-rate <n>', 'agents started per second (default: all at once)', numberFlag('--start-rate'))
    .option('--work-dir <dir>', 'locked while the fleet runs; nothing else is written there (required)')
    .addOption(logLevelOption().default('error'));
  addStatusRetryFlags(fleet).action(async (flags: FleetFlags) => {
    const master = resolveMaster(flags.master);
    if (flags.agents === undefined) throw new UsageError('--agents is required: how many simulated agents to run');
    if (flags.agents > MAX_FLEET) throw new UsageError(`--agents: at most ${MAX_FLEET}, got ${flags.agents}`);
    if (flags.connections !== undefined && flags.connections > flags.agents) throw new UsageError(`--connections: at most one per agent (${flags.agents}), got ${flags.connections}`);
    if (flags.startRate !== undefined && flags.startRate <= 0) throw new UsageError('--start-rate must be more than 0');
    if (!flags.workDir) throw new UsageError('--work-dir is required (the fleet locks it while it runs)');
    if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(flags.hostnamePrefix)) throw new UsageError(`--hostname-prefix: '${flags.hostnamePrefix}' is not a hostname (letters, digits, dots and dashes)`);
    const resources = flagValue('--resources', () => parseResources(flags.resources));
    if (resources.length === 0) throw new UsageError('--resources: a simulated agent must offer something');
    const attributes = flagValue('--attributes', () => parseAttributes(flags.attributes ?? ''));
    // The fleet's agents share one agent certificate: an operator's would be refused by AgentLink, agent by agent.
    const security = cliSecurity();
    if (security.mode === 'tls') {
      try {
        agentCredentials(security.credentials, 'the credentials');
      } catch (err) {
        throw new UsageError(`${(err as Error).message}; for example: orbit cert issue agent fleet --work-dir MASTER_WORK_DIR --out fleet.json, then --credentials fleet.json`);
      }
    }
    const began = Date.now();
    const fleet = await startFleet({
      master,
      security,
      count: flags.agents,
      resources,
      attributes,
      hostnamePrefix: flags.hostnamePrefix,
      workDir: resolve(flags.workDir),
      logger: createLogger('fleet', flags.logLevel),
      ...(flags.connections !== undefined ? { connections: flags.connections } : {}),
      ...(flags.startRate !== undefined ? { startRate: flags.startRate } : {}),
      ...statusRetryOptions(flags),
    });
    const say = (line: string) => process.stdout.write(`orbit fleet: ${line}\n`);
    say(`${flags.agents} simulated agents offering ${formatResources(resources)} each, on ${fleet.connections} connection${fleet.connections === 1 ? '' : 's'} to ${master}`);
    const watcher = watchFleet(fleet, flags.agents, began, say);
    await waitForSignal();
    clearInterval(watcher);
    say('stopping');
    await fleet.stop();
  });
}

/** Reports, every time it changes, whether all agents are registered: how long it took, or how many are missing. */
function watchFleet(fleet: RunningFleet, count: number, began: number, say: (line: string) => void): NodeJS.Timeout {
  let all = false;
  let since = began;
  let first = true;
  return setInterval(() => {
    const connected = fleet.connectedCount();
    if (!all && connected === count) {
      all = true;
      say(`all ${count} agents registered ${first ? 'after' : 'again'} ${((Date.now() - since) / 1000).toFixed(2)} s`);
      first = false;
    } else if (all && connected < count) {
      all = false;
      since = Date.now();
      say(`lost the master: ${connected} of ${count} agents registered; reconnecting`);
    }
  }, 50);
}
