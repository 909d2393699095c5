/**
 * One term of leadership: the registry read back from its store, the core, the operator surface
 * (metrics, history, dashboard stream) and the handlers of every gRPC service and HTTP route that
 * need them. The embedded master has one term for its whole life; a master in HA starts one each
 * time it is elected and stops it when it steps down, so a new term always begins from what the
 * registry holds and what agents report, never from a deposed term's memory.
 */
import type * as grpc from '@grpc/grpc-js';
import type { CallLimits } from '../common/call-limits.js';
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/logging.js';
import { MasterCore, type MasterCoreOptions } from './core.js';
import type { RegistryWriteError } from './effects.js';
import { withLogin } from './http/http-security.js';
import type { HttpSecurity } from '../common/http-auth.js';
import type { MasterPeerView } from '../common/state-view.js';
import { OperatorSurface } from './http/operator-surface.js';
import { routeRequest, type Handler } from './http/router.js';
import type { MasterMetrics } from './metrics-port.js';
import { registryPersistence, restoreFromRegistry } from './registry/persistence.js';
import { Registry } from './registry/registry.js';
import type { RegistryStore } from './registry/registry-store.js';
import { agentLinkHandlers } from './rpc/agent-link-service.js';
import { OutboundStreams } from './rpc/bounded-stream.js';
import { certificatesHandlers } from './rpc/certificates-service.js';
import { operatorHandlers } from './rpc/operator-service.js';
import { schedulerHandlers } from './rpc/scheduler-service.js';
import { SessionTable } from './rpc/sessions.js';
import type { WireLimits } from './rpc/wire-limits.js';
import type { MasterSecurity } from './security/master-security.js';
import { JoinTokens } from './security/join-tokens.js';

/** The core's timings and limits, handed through as they are. */
export const CORE_SETTINGS = [
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
export type CoreSettings = Pick<MasterCoreOptions, (typeof CORE_SETTINGS)[number]>;

/** The settings that are set (the core's options take no explicit undefined). */
function coreSettings(options: CoreSettings): CoreSettings {
  const set: Record<string, unknown> = {};
  for (const k of CORE_SETTINGS) if (options[k] !== undefined) set[k] = options[k];
  return set as CoreSettings;
}

/** The gRPC handlers of a term, by service. */
export interface TermHandlers {
  agentLink: grpc.UntypedServiceImplementation;
  scheduler: grpc.UntypedServiceImplementation;
  operator: grpc.UntypedServiceImplementation;
  certificates: grpc.UntypedServiceImplementation;
}

export interface TermOptions {
  /** This master's id (the same in every term it leads). */
  masterId: string;
  store: RegistryStore;
  clock: Clock;
  log: Logger;
  settings: CoreSettings;
  metrics?: MasterMetrics;
  historySampleMs?: number;
  dashboardStreamMs?: number;
  limits: CallLimits;
  wire: WireLimits;
  security: MasterSecurity;
  httpSecurity: HttpSecurity | undefined;
  certificates: { certValidDays: number; joinTokenTtlMs: number };
  /** Tokens live in the registry (HA): the term loads them and keeps them there. */
  sharedTokens: boolean;
  /** The cluster's masters and their health, for /state and the dashboard. */
  masters: () => MasterPeerView[];
  /** Called once, at the term's first failed registry write (the term must end). */
  onFatal(err: RegistryWriteError): void;
}

export interface Term {
  core: MasterCore;
  epoch: number;
  handlers: TermHandlers;
  /** Every HTTP route but /health. */
  route: Handler;
  /** Stops the core and the surface and closes the registry store. Idempotent. */
  stop(): Promise<void>;
}

/** Reads the registry, takes the epoch and starts the core. A corrupt registry throws, naming the key or offset. */
export async function startTerm(options: TermOptions): Promise<Term> {
  const { clock, log, store } = options;
  let registry: Registry;
  let epoch: number;
  try {
    registry = await Registry.recover(store);
    epoch = await registry.takeEpoch();
  } catch (err) {
    await store.close();
    throw err;
  }
  const surface = new OperatorSurface({
    clock,
    ...(options.metrics !== undefined ? { forward: options.metrics } : {}),
    ...(options.historySampleMs !== undefined ? { historySampleMs: options.historySampleMs } : {}),
    ...(options.dashboardStreamMs !== undefined ? { streamIntervalMs: options.dashboardStreamMs } : {}),
  });
  const sessions = new SessionTable();
  const core = new MasterCore({
    persistence: registryPersistence(registry, () => clock.now()),
    masterId: options.masterId,
    epoch,
    clock,
    logger: log,
    ...coreSettings(options.settings),
    metrics: surface.metrics,
    sessions,
    onFatal: (err) => options.onFatal(err),
  });
  try {
    await restoreFromRegistry(core, registry);
  } catch (err) {
    core.stop();
    await registry.close();
    throw err;
  }
  if (options.sharedTokens) options.security.useTokens(JoinTokens.of(registry.tokens(), { save: (tokens) => registry.setTokens(tokens) }));
  const streams = new OutboundStreams({ maxQueueBytes: options.wire.maxStreamQueueBytes, log, metrics: surface.metrics });
  const { security } = options;
  const handlers: TermHandlers = {
    agentLink: agentLinkHandlers(core, log, streams, security),
    scheduler: schedulerHandlers(core, log, options.limits, streams, security),
    operator: operatorHandlers(core, options.limits, security),
    certificates: certificatesHandlers(security, { ...options.certificates, now: () => clock.now() }),
  };
  const route = routeRequest(withLogin(surface.attach(core, options.masters), options.httpSecurity));
  let stopped: Promise<void> | undefined;
  return {
    core,
    epoch,
    handlers,
    route,
    stop() {
      stopped ??= (async () => {
        core.stop();
        surface.stop();
        await registry.close();
      })();
      return stopped;
    },
  };
}
