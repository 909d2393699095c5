/**
 * The master's composition root: work dir and epoch, security (CA, policy, audit log), the core,
 * the gRPC server (AgentLink, Scheduler, Operator, Certificates) and the HTTP status endpoint.
 * `startMaster` returns once both listen.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdirSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { httpLimits, type HttpLimits } from '../common/http-json.js';
import { join } from 'node:path';
import { systemClock, type Clock } from '../common/clock.js';
import { newMasterId } from '../common/ids.js';
import { silentLogger, type Logger } from '../common/logging.js';
import { orbitV1 } from '../common/proto.js';
import { MasterCore, type MasterCoreOptions } from './core.js';
import type { RegistryWriteError } from './effects.js';
import { callLimits, type CallLimits } from '../common/call-limits.js';
import { OperatorSurface } from './http/operator-surface.js';
import { createRouter } from './http/router.js';
import { masterHttpSecurity, withLogin } from './http/http-security.js';
import { agentLinkHandlers } from './rpc/agent-link-service.js';
import { OutboundStreams } from './rpc/bounded-stream.js';
import { listenForGrpc } from './rpc/connection-guard.js';
import { operatorHandlers } from './rpc/operator-service.js';
import { schedulerHandlers } from './rpc/scheduler-service.js';
import { serverOptions, wireLimits, type WireLimits } from './rpc/wire-limits.js';
import { lockWorkDir } from '../common/work-dir-lock.js';
import type { MasterMetrics } from './metrics-port.js';
import { LogRegistryStore } from './registry/log-store.js';
import { registryPersistence, restoreFromRegistry } from './registry/persistence.js';
import { Registry } from './registry/registry.js';
import type { RegistryStore } from './registry/registry-store.js';
import { SessionTable } from './rpc/sessions.js';
import { certificatesHandlers } from './rpc/certificates-service.js';
import { prepareSecurity, reloadPolicy, type SecurityConfig } from './security/setup.js';
import type { MasterSecurity } from './security/master-security.js';

/** The core's timings and limits, handed through as they are. */
const CORE_SETTINGS = [
  'allocationIntervalMs',
  'frameworkHeartbeatIntervalMs',
  'agentHeartbeatIntervalMs',
  'offerTimeoutMs',
  'agentPingTimeoutMs',
  'maxAgentPingMisses',
  'agentRemovalRate',
  'agentReregisterTimeoutMs',
  'frameworkResubscribeTimeoutMs',
] as const;
type CoreSettings = Pick<MasterCoreOptions, (typeof CORE_SETTINGS)[number]>;

/** The settings that are set (the core's options take no explicit undefined). */
function coreSettings(options: CoreSettings): CoreSettings {
  const set: Record<string, unknown> = {};
  for (const k of CORE_SETTINGS) if (options[k] !== undefined) set[k] = options[k];
  return set as CoreSettings;
}

/** After a failed registry write, the master stops serving this much later (see MasterCore's onFatal). */
const FATAL_STOP_DELAY_MS = 250;

export interface MasterOptions extends CoreSettings {
  ip?: string;
  /** gRPC port; 0 picks a free one. */
  port?: number;
  /** HTTP status port; 0 picks a free one. */
  httpPort?: number;
  workDir: string;
  clock?: Clock;
  logger?: Logger;
  /** Also told everything the core reports to the master's own Prometheus metrics. */
  metrics?: MasterMetrics;
  /** How often the dashboard's utilisation history is sampled (default 5 s). */
  historySampleMs?: number;
  /** How often the dashboard's stream pushes (default 1 s). */
  dashboardStreamMs?: number;
  /** Per-call caps (common/call-limits.ts); each defaults to its CALL_CAPS entry. */
  callLimits?: Partial<CallLimits>;
  /** What a message, stream and connection may cost (rpc/wire-limits.ts); each defaults to its WIRE_LIMITS entry. */
  wireLimits?: Partial<WireLimits>;
  /** Where the registry lives (and the epoch is taken): default, the fsync'd log under the work dir. */
  registryStore?: RegistryStore;
  /** The HTTP port's timeouts and header size (common/http-json.ts); each defaults to its HTTP_LIMITS entry. */
  httpLimits?: Partial<HttpLimits>;
  /** TLS, identities, the policy and the audit log (default: TLS with a CA in the work dir, the default policy). */
  security?: SecurityConfig;
}

export interface RunningMaster {
  core: MasterCore;
  /** The gRPC address agents and frameworks use: HOST:PORT. */
  address: string;
  port: number;
  httpPort: number;
  /**
   * Settles when a registry write failed, once the master has stopped serving (its memory may no
   * longer match its registry): whoever runs it should exit non-zero. Never settles otherwise.
   */
  failed: Promise<RegistryWriteError>;
  security: MasterSecurity;
  /** The admin credentials file the master keeps for the CLI on this host; undefined under --insecure. */
  adminCredentialsPath: string | undefined;
  /** The join token kept in WORK_DIR/security/join-token while it is valid. */
  joinToken: string | undefined;
  /** Reads the policy file again; a bad file keeps the old policy and rejects naming the problems. */
  reloadPolicy(): Promise<string>;
  /** Stops serving: ends every stream and closes both servers. Idempotent. */
  stop(): Promise<void>;
}

export async function startMaster(options: MasterOptions): Promise<RunningMaster> {
  const ip = options.ip ?? '127.0.0.1';
  const log = options.logger ?? silentLogger;
  // Every limit checked before anything starts: a bad one throws with nothing to undo.
  const limits = callLimits(options.callLimits);
  const wire = wireLimits(options.wireLimits);
  const httpBounds = httpLimits(options.httpLimits);
  mkdirSync(options.workDir, { recursive: true });
  const unlock = lockWorkDir(options.workDir);
  const clock = options.clock ?? systemClock;
  let prepared: Awaited<ReturnType<typeof prepareSecurity>>;
  try {
    prepared = await prepareSecurity(options.security ?? {}, options.workDir, ip, () => clock.now(), log);
  } catch (err) {
    unlock();
    throw err;
  }
  const { security } = prepared;
  // A corrupt registry stops the master here, naming the file and offset: someone has to look.
  let registry: Registry;
  let epoch: number;
  try {
    const store = options.registryStore ?? (await LogRegistryStore.open({ dir: join(options.workDir, 'registry'), log: (m) => log.warn(m) }));
    registry = await Registry.recover(store);
    epoch = await registry.takeEpoch();
  } catch (err) {
    unlock();
    throw err;
  }
  let reportFailure!: (err: RegistryWriteError) => void;
  const failed = new Promise<RegistryWriteError>((resolve) => (reportFailure = resolve));
  const surface = new OperatorSurface({
    clock,
    ...(options.metrics !== undefined ? { forward: options.metrics } : {}),
    ...(options.historySampleMs !== undefined ? { historySampleMs: options.historySampleMs } : {}),
    ...(options.dashboardStreamMs !== undefined ? { streamIntervalMs: options.dashboardStreamMs } : {}),
  });
  const sessions = new SessionTable();
  // Set once the master is up; a registry write can only fail after that.
  let running: RunningMaster | undefined;
  const core = new MasterCore({
    persistence: registryPersistence(registry, () => clock.now()),
    masterId: newMasterId(),
    epoch,
    clock,
    logger: log,
    ...coreSettings(options),
    metrics: surface.metrics,
    sessions,
    onFatal: (err) => {
      // A moment for the refused call's answer to leave (every later registry write is refused
      // meanwhile), then stop serving; `failed` settles once stopped.
      setTimeout(() => void running?.stop().then(() => reportFailure(err)), FATAL_STOP_DELAY_MS);
    },
  });

  try {
    await restoreFromRegistry(core, registry);
  } catch (err) {
    core.stop();
    await registry.close();
    unlock();
    throw err;
  }

  const v1 = orbitV1();
  const streams = new OutboundStreams({ maxQueueBytes: wire.maxStreamQueueBytes, log, metrics: surface.metrics });
  const server = new grpc.Server(serverOptions(wire));
  server.addService(v1.AgentLink.service, agentLinkHandlers(core, log, streams, security));
  server.addService(v1.Scheduler.service, schedulerHandlers(core, log, limits, streams, security));
  server.addService(v1.Operator.service, operatorHandlers(core, limits, security));
  server.addService(v1.Certificates.service, certificatesHandlers(security, { certValidDays: prepared.certValidDays, joinTokenTtlMs: prepared.joinTokenTtlMs, now: () => clock.now() }));
  const grpcListener = await listenForGrpc(server, { host: ip, port: options.port ?? 5050, handshakeTimeoutMs: wire.handshakeTimeoutMs, log, tls: security.pki?.tlsOptions }).catch(async (err: Error) => {
    core.stop();
    await registry.close();
    unlock();
    throw new Error(`cannot listen for gRPC on ${ip}:${options.port ?? 5050}: ${err.message}`);
  });
  const port = grpcListener.port;
  security.peers = grpcListener.peers;

  const httpSecurity = masterHttpSecurity(security, () => clock.now());
  const http: HttpServer = createRouter(withLogin(surface.attach(core), httpSecurity), { log, limits: httpBounds, security: httpSecurity });
  const httpPort = await new Promise<number>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.httpPort ?? 5051, ip, () => {
      const address = http.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  }).catch(async (err: Error) => {
    core.stop();
    surface.stop();
    grpcListener.close();
    server.forceShutdown();
    await registry.close();
    unlock();
    throw new Error(`cannot listen for HTTP on ${ip}:${options.httpPort ?? 5051}: ${err.message}`);
  });

  log.info({ masterId: core.masterId, epoch: core.epoch, port, httpPort }, 'master started');
  let stopped: Promise<void> | undefined;
  running = {
    core,
    address: `${ip}:${port}`,
    port,
    httpPort,
    failed,
    security,
    adminCredentialsPath: security.pki?.adminCredentialsPath,
    joinToken: prepared.joinToken,
    reloadPolicy: () => reloadPolicy(security),
    stop() {
      stopped ??= (async () => {
        core.stop();
        surface.stop();
        grpcListener.close();
        server.forceShutdown();
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        });
        await registry.close();
        await security.close();
        unlock();
        log.info({ masterId: core.masterId }, 'master stopped');
      })();
      return stopped;
    },
  };
  return running;
}
