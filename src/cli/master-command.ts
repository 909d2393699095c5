/** `orbit master`: runs a master until SIGINT or SIGTERM. */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { createLogger, type LogLevel } from '../common/logging.js';
import { waitForSignal } from '../common/signals.js';
import { parseRemovalRate } from '../master/agent-health.js';
import { startMaster } from '../master/master.js';
import { callLimitOptions, callLimitsFromFlags } from './call-limit-flags.js';
import { logLevelOption, numberFlag, UsageError } from './common.js';
import { httpLimitOptions, httpLimitsFromFlags, type HttpLimitFlags } from './http-limit-flags.js';
import { wireLimitOption, wireLimitsFromFlags, type WireLimitFlags } from './wire-limit-flags.js';

const DAY_S = 86_400;

/** The master stopped because a registry write failed (one line on stderr, exit 1, no stack). */
class RegistryFailure extends Error {
  override readonly name = 'RegistryWriteError';
}

interface MasterFlags extends WireLimitFlags, HttpLimitFlags {
  ip: string;
  port: number;
  httpPort: number;
  workDir?: string;
  logLevel: LogLevel;
  allocationInterval: number;
  heartbeatInterval: number;
  offerTimeout: number;
  frameworkResubscribeTimeout: number;
  agentPingTimeout: number;
  maxAgentPingMisses: number;
  agentRemovalRate?: string;
  agentReregisterTimeout: number;
}

export function registerMasterCommand(program: Command): void {
  const command = program
    .command('master')
    .description('run a master: collects agents, offers their resources to frameworks')
    .option('--ip <ip>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'gRPC port for agents, frameworks and the CLI', numberFlag('--port', { integer: true }), 5050)
    .option('--http-port <port>', 'HTTP port for /health and /state', numberFlag('--http-port', { integer: true }), 5051)
    .option('--work-dir <dir>', 'directory for the master\'s durable state (required)')
    .option('--allocation-interval <seconds>', 'seconds between allocation batches', numberFlag('--allocation-interval'), 1)
    .option('--heartbeat-interval <seconds>', 'seconds between heartbeats to frameworks', numberFlag('--heartbeat-interval'), 15)
    .option('--offer-timeout <seconds>', 'rescind offers outstanding longer than this, so silent frameworks cannot hoard them (1 s to 1 day)', numberFlag('--offer-timeout'), 30)
    .option('--agent-ping-timeout <seconds>', 'an agent heartbeats this often; silence is counted in these', numberFlag('--agent-ping-timeout'), 15)
    .option('--max-agent-ping-misses <n>', 'missed heartbeats before an agent is unreachable', numberFlag('--max-agent-ping-misses', { min: 1, integer: true }), 5)
    .option('--agent-removal-rate <rate>', 'at most this many agents marked unreachable per period, e.g. 1/20mins (default: no limit)')
    .option('--agent-reregister-timeout <seconds>', 'after a restart, how long to wait for known agents to come back', numberFlag('--agent-reregister-timeout'), 600)
    .option('--framework-resubscribe-timeout <seconds>', 'after a restart, the least time a framework that was subscribed has to come back, whatever its failover timeout (0 to 1 day)', numberFlag('--framework-resubscribe-timeout'), 120)
    .addOption(wireLimitOption('maxReceiveBytes'))
    .addOption(wireLimitOption('maxStreamQueueBytes'))
    .addOption(wireLimitOption('handshakeTimeoutMs'))
    .addOption(wireLimitOption('maxStreamsPerConnection'))
    .addOption(logLevelOption())
    .action(async (flags: MasterFlags) => {
      const callLimits = callLimitsFromFlags(flags);
      if (!flags.workDir) throw new UsageError('--work-dir is required (the master keeps its epoch and registry there)');
      flags.workDir = resolve(flags.workDir);
      if (flags.port > 65535) throw new UsageError(`--port must be at most 65535, got ${flags.port}`);
      if (flags.httpPort > 65535) throw new UsageError(`--http-port must be at most 65535, got ${flags.httpPort}`);
      if (!(flags.allocationInterval > 0)) throw new UsageError('--allocation-interval must be greater than 0');
      if (!(flags.heartbeatInterval > 0)) throw new UsageError('--heartbeat-interval must be greater than 0');
      if (!(flags.offerTimeout >= 1 && flags.offerTimeout <= DAY_S)) throw new UsageError(`--offer-timeout must be between 1 and ${DAY_S} seconds, got ${flags.offerTimeout}`);
      if (!(flags.frameworkResubscribeTimeout >= 0 && flags.frameworkResubscribeTimeout <= DAY_S)) {
        throw new UsageError(`--framework-resubscribe-timeout must be between 0 and ${DAY_S} seconds, got ${flags.frameworkResubscribeTimeout}`);
      }
      if (!(flags.agentPingTimeout > 0)) throw new UsageError('--agent-ping-timeout must be greater than 0');
      const removalRate = flags.agentRemovalRate === undefined ? undefined : parseRemovalRate(flags.agentRemovalRate);
      const wireLimits = wireLimitsFromFlags(flags);
      const httpLimits = httpLimitsFromFlags(flags);
      const log = createLogger('master', flags.logLevel);
      const master = await startMaster({
        ip: flags.ip,
        port: flags.port,
        httpPort: flags.httpPort,
        workDir: flags.workDir,
        logger: log,
        allocationIntervalMs: flags.allocationInterval * 1000,
        frameworkHeartbeatIntervalMs: flags.heartbeatInterval * 1000,
        offerTimeoutMs: flags.offerTimeout * 1000,
        frameworkResubscribeTimeoutMs: flags.frameworkResubscribeTimeout * 1000,
        agentPingTimeoutMs: flags.agentPingTimeout * 1000,
        maxAgentPingMisses: flags.maxAgentPingMisses,
        agentReregisterTimeoutMs: flags.agentReregisterTimeout * 1000,
        ...(removalRate ? { agentRemovalRate: removalRate } : {}),
        callLimits,
        wireLimits,
        httpLimits,
      });
      process.stdout.write(`orbit master ${master.core.masterId} listening: gRPC ${master.address}, dashboard http://${flags.ip}:${master.httpPort}/, state http://${flags.ip}:${master.httpPort}/state\n`);
      // A failed registry write stops the master: exit non-zero, naming the write, for a supervisor to see.
      const failure = await Promise.race([waitForSignal().then(() => undefined), master.failed]);
      await master.stop();
      if (failure) throw new RegistryFailure(failure.message);
    });
  for (const option of callLimitOptions()) command.addOption(option);
  for (const option of httpLimitOptions()) command.addOption(option);
}
