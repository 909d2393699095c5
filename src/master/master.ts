/**
 * The master's composition root: work dir and epoch, the core, the gRPC server (AgentLink,
 * Scheduler, Operator) and the HTTP status endpoint. `startMaster` returns once both listen.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdirSync, readFileSync, writeFileSync, renameSync, openSync, fsyncSync, closeSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import { systemClock, type Clock } from '../common/clock.js';
import { newMasterId } from '../common/ids.js';
import { silentLogger, type Logger } from '../common/logging.js';
import { orbitV1 } from '../common/proto.js';
import { MasterCore } from './core.js';
import type { MasterCoreOptions } from './books.js';
import { callLimits, type CallLimits } from './limits.js';
import { OperatorSurface } from './http/operator-surface.js';
import { createRouter } from './http/router.js';
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
  /** Per-call caps (limits.ts); each defaults to its CALL_CAPS entry. */
  callLimits?: Partial<CallLimits>;
  /** What a message, stream and connection may cost (rpc/wire-limits.ts); each defaults to its WIRE_LIMITS entry. */
  wireLimits?: Partial<WireLimits>;
}

export interface RunningMaster {
  core: MasterCore;
  /** The gRPC address agents and frameworks use: HOST:PORT. */
  address: string;
  port: number;
  httpPort: number;
  /** Stops serving: ends every stream and closes both servers. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Every start takes the next epoch, kept in the work dir (written to a temp file, fsync'd and
 * renamed, so a crash leaves the old value or the new one, never half of one).
 */
function nextEpoch(workDir: string): number {
  const path = join(workDir, 'epoch');
  let last = 0;
  try {
    last = Number(readFileSync(path, 'utf8').trim()) || 0;
  } catch {
    // First start in this work dir.
  }
  const epoch = last + 1;
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${epoch}\n`);
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
  return epoch;
}

export async function startMaster(options: MasterOptions): Promise<RunningMaster> {
  const ip = options.ip ?? '127.0.0.1';
  const log = options.logger ?? silentLogger;
  const limits = callLimits(options.callLimits);
  mkdirSync(options.workDir, { recursive: true });
  const unlock = lockWorkDir(options.workDir);
  const clock = options.clock ?? systemClock;
  // A corrupt registry stops the master here, naming the file and offset: someone has to look.
  let registry: Registry;
  try {
    const store = await LogRegistryStore.open({ dir: join(options.workDir, 'registry'), log: (m) => log.warn(m) });
    registry = await Registry.recover(store);
  } catch (err) {
    unlock();
    throw err;
  }
  const surface = new OperatorSurface({
    clock,
    ...(options.metrics !== undefined ? { forward: options.metrics } : {}),
    ...(options.historySampleMs !== undefined ? { historySampleMs: options.historySampleMs } : {}),
    ...(options.dashboardStreamMs !== undefined ? { streamIntervalMs: options.dashboardStreamMs } : {}),
  });
  const core = new MasterCore({
    persistence: registryPersistence(registry, () => clock.now()),
    masterId: newMasterId(),
    epoch: nextEpoch(options.workDir),
    clock,
    logger: log,
    ...coreSettings(options),
    metrics: surface.metrics,
  });

  restoreFromRegistry(core, registry);

  const v1 = orbitV1();
  const wire = wireLimits(options.wireLimits);
  const streams = new OutboundStreams({ maxQueueBytes: wire.maxStreamQueueBytes, log, metrics: surface.metrics });
  const server = new grpc.Server(serverOptions(wire));
  server.addService(v1.AgentLink.service, agentLinkHandlers(core, log, streams));
  server.addService(v1.Scheduler.service, schedulerHandlers(core, log, limits, streams));
  server.addService(v1.Operator.service, operatorHandlers(core, limits));
  const grpcListener = await listenForGrpc(server, { host: ip, port: options.port ?? 5050, handshakeTimeoutMs: wire.handshakeTimeoutMs, log }).catch(async (err: Error) => {
    core.stop();
    await registry.close();
    unlock();
    throw new Error(`cannot listen for gRPC on ${ip}:${options.port ?? 5050}: ${err.message}`);
  });
  const port = grpcListener.port;

  const http: HttpServer = createRouter(surface.attach(core), { log });
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
  return {
    core,
    address: `${ip}:${port}`,
    port,
    httpPort,
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
        unlock();
        log.info({ masterId: core.masterId }, 'master stopped');
      })();
      return stopped;
    },
  };
}
