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
import { quote } from '../common/echo.js';
import { identityNameProblem } from '../common/pki.js';
import { MAX_CERT_VALID_DAYS } from '../master/rpc/certificates-service.js';
import { MAX_TOKEN_TTL_MS } from '../master/security/join-tokens.js';
import { DEFAULT_LEASE_TTL_MS, MAX_LEASE_TTL_MS, MIN_LEASE_TTL_MS } from '../master/ha/election.js';
import { parseEtcdUrl } from '../common/etcd-client.js';

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
  cluster: string;
  caCert?: string;
  caKey?: string;
  policy?: string;
  auditLog?: string;
  certValidDays: number;
  joinTokenTtl: number;
  insecure?: boolean;
  registry?: string;
  leaseTtl: number;
  advertise?: string;
}

/** `fn()`, its InvalidArgumentError as a UsageError (one line, exit 2). */
function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** What an operator needs after a start: how to reach the master, and how to join agents to it. */
function greeting(master: Awaited<ReturnType<typeof startMaster>>, ip: string): string {
  const http = `${master.adminCredentialsPath ? 'https' : 'http'}://${ip}:${master.httpPort}`;
  const health = master.health();
  const role = health.role === 'leader' ? '' : ` as a ${health.role} (etcd elects the leader; standbys redirect to it)`;
  const lines = [`orbit master ${master.masterId} listening${role}: gRPC ${master.address}, dashboard ${http}/, state ${http}/state`];
  if (master.adminCredentialsPath) lines.push(`admin credentials: ${master.adminCredentialsPath} (the CLI on this host finds them with --credentials or ORBIT_CREDENTIALS)`);
  if (master.joinToken) lines.push(`join an agent: orbit agent --master ${master.address} --join ${master.joinToken} --work-dir DIR`);
  else if (master.adminCredentialsPath) lines.push("no valid join token: make one with 'orbit token create'");
  return `${lines.join('\n')}\n`;
}

/** Reloads the policy file on every SIGHUP until `stop` is called; a bad file keeps the policy in force. */
function reloadOnHangup(master: Awaited<ReturnType<typeof startMaster>>, log: ReturnType<typeof createLogger>): () => void {
  const onHup = () => {
    master.reloadPolicy().then(
      (described) => log.info(`SIGHUP: policy reloaded: ${described}`),
      (err: unknown) => log.error({ err: (err as Error).message }, 'SIGHUP: the policy file has problems; the policy in force is unchanged'),
    );
  };
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
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
    .option('--cluster <name>', 'cluster name, carried by every certificate (default: orbit)', 'orbit')
    .option('--ca-cert <file>', 'a cluster CA certificate to use instead of the one the master makes (with --ca-key)')
    .option('--ca-key <file>', "the key of --ca-cert's CA")
    .option('--policy <file>', 'ACL policy file (YAML): allow rules, deny by default; reloaded on SIGHUP (default: operators may do everything, frameworks work under their own roles)')
    .option('--audit-log <file>', 'where every mutating call is recorded as a JSON line (default: WORK_DIR/audit.log)')
    .option('--cert-valid-days <days>', 'validity of certificates the master issues (1 to 3650)', numberFlag('--cert-valid-days', { min: 1, integer: true }), 365)
    .option('--join-token-ttl <seconds>', 'lifetime of join tokens made without one, and of the first (0 never expires, at most a year)', numberFlag('--join-token-ttl', { integer: true }), 86_400)
    .option('--registry <url>', 'where the registry lives: etcd://HOST:PORT[,HOST:PORT...] for several masters that elect a leader (default: a log file in the work dir, one master)')
    .option('--lease-ttl <seconds>', `with --registry etcd://: the leader's lease; a dead leader is replaced about this long after it died (${MIN_LEASE_TTL_MS / 1000} to ${MAX_LEASE_TTL_MS / 1000})`, numberFlag('--lease-ttl', { integer: true }), DEFAULT_LEASE_TTL_MS / 1000)
    .option('--advertise <host>', 'the host name or address other masters and clients reach this master at (default: --ip, or the host name when --ip is 0.0.0.0)')
    .option('--insecure', 'NO TLS, NO IDENTITIES, NO ACLs: anyone who reaches the master may do anything (tests only; logged at every start)')
    .addOption(logLevelOption())
    .action(async (flags: MasterFlags) => {
      // --insecure is also the CLI's global option, which commander gives the program: read both.
      flags.insecure ||= program.opts<{ insecure?: boolean }>().insecure === true;
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
      if (flags.certValidDays > MAX_CERT_VALID_DAYS) throw new UsageError(`--cert-valid-days must be at most ${MAX_CERT_VALID_DAYS}, got ${flags.certValidDays}`);
      if (flags.joinTokenTtl * 1000 > MAX_TOKEN_TTL_MS) throw new UsageError(`--join-token-ttl must be at most ${MAX_TOKEN_TTL_MS / 1000} seconds (a year), got ${flags.joinTokenTtl}`);
      const clusterProblem = identityNameProblem(flags.cluster);
      if (clusterProblem !== undefined) throw new UsageError(`--cluster ${quote(flags.cluster)} ${clusterProblem}`);
      if (flags.insecure && (flags.caCert || flags.caKey || flags.policy)) throw new UsageError('--insecure turns security off: it cannot go with --ca-cert, --ca-key or --policy');
      if (!(flags.leaseTtl * 1000 >= MIN_LEASE_TTL_MS && flags.leaseTtl * 1000 <= MAX_LEASE_TTL_MS)) throw new UsageError(`--lease-ttl must be between ${MIN_LEASE_TTL_MS / 1000} and ${MAX_LEASE_TTL_MS / 1000} seconds, got ${flags.leaseTtl}`);
      const registry = flags.registry === undefined ? undefined : ({ kind: 'etcd', endpoints: usage(() => parseEtcdUrl(flags.registry!)), leaseTtlMs: flags.leaseTtl * 1000 } as const);
      if (flags.advertise !== undefined && !/^[A-Za-z0-9_.:-]{1,253}$/.test(flags.advertise)) throw new UsageError(`--advertise ${quote(flags.advertise)} is not a host name or address`);
      if (registry && !flags.insecure && (!flags.caCert || !flags.caKey)) {
        throw new UsageError('--registry etcd://... needs --ca-cert and --ca-key: every master of a cluster must use the same CA (copy the first master\'s WORK_DIR/security/ca.crt and ca.key to the others)');
      }
      const wireLimits = wireLimitsFromFlags(flags);
      const httpLimits = httpLimitsFromFlags(flags);
      const log = createLogger('master', flags.logLevel);
      const master = await startMaster({
        ip: flags.ip,
        port: flags.port,
        httpPort: flags.httpPort,
        workDir: flags.workDir,
        ...(registry ? { registry } : {}),
        ...(flags.advertise !== undefined ? { advertiseHost: flags.advertise } : {}),
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
        security: {
          insecure: flags.insecure === true,
          cluster: flags.cluster,
          ...(flags.caCert !== undefined ? { caCertPath: resolve(flags.caCert) } : {}),
          ...(flags.caKey !== undefined ? { caKeyPath: resolve(flags.caKey) } : {}),
          ...(flags.policy !== undefined ? { policyFile: resolve(flags.policy) } : {}),
          ...(flags.auditLog !== undefined ? { auditLogPath: resolve(flags.auditLog) } : {}),
          certValidDays: flags.certValidDays,
          joinTokenTtlMs: flags.joinTokenTtl * 1000,
          ...(flags.advertise !== undefined ? { extraNames: [flags.advertise] } : {}),
        },
      });
      process.stdout.write(greeting(master, flags.ip));
      const stopReloading = reloadOnHangup(master, log);
      // A failed registry write stops the master: exit non-zero, naming the write, for a supervisor to see.
      const failure = await Promise.race([waitForSignal().then(() => undefined), master.failed]);
      stopReloading();
      await master.stop();
      if (failure) throw new RegistryFailure(failure.message);
    });
  for (const option of callLimitOptions()) command.addOption(option);
  for (const option of httpLimitOptions()) command.addOption(option);
}
