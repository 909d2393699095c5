/**
 * The master's composition root: work dir, security (CA, policy, audit log), the gRPC server
 * (AgentLink, Scheduler, Operator, Certificates) and the HTTP port, and its terms of leadership
 * (term.ts). Embedded (the default): one term for the master's life, over the fsync'd log in the
 * work dir. HA (`registry: etcd`): the master campaigns on etcd; while it leads it runs a term over
 * the etcd registry fenced on its epoch, and while it does not, its gate refuses every gRPC call
 * with NOT_LEADER and its HTTP port redirects to the leader. `startMaster` returns once both listen.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdirSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { callLimits, type CallLimits } from '../common/call-limits.js';
import { systemClock, type Clock } from '../common/clock.js';
import { errorMessage, NotLeaderError } from '../common/errors.js';
import { createJsonServer, httpLimits, type HttpLimits } from '../common/http-json.js';
import { newMasterId } from '../common/ids.js';
import { silentLogger, type Logger } from '../common/logging.js';
import { orbitV1 } from '../common/proto.js';
import { lockWorkDir } from '../common/work-dir-lock.js';
import type { MasterCore } from './core.js';
import type { RegistryWriteError } from './effects.js';
import { LeaderElection, type ElectionRole } from './ha/election.js';
import { MasterPeers } from './ha/peers.js';
import { orbitFetch } from '../common/http-client.js';
import { INSECURE, type ClientSecurity } from '../common/credentials.js';
import { EtcdClient, type MasterAddress } from '../common/etcd-client.js';
import { masterHttpSecurity } from './http/http-security.js';
import { leaderRouting } from './http/leader-routing.js';
import type { MasterMetrics } from './metrics-port.js';
import { EtcdRegistryStore } from './registry/etcd-store.js';
import { LogRegistryStore } from './registry/log-store.js';
import type { RegistryStore } from './registry/registry-store.js';
import { listenForGrpc } from './rpc/connection-guard.js';
import { LeaderGate } from './rpc/leader-gate.js';
import { serverOptions, wireLimits, type WireLimits } from './rpc/wire-limits.js';
import type { MasterSecurity } from './security/master-security.js';
import { prepareSecurity, reloadPolicy, type SecurityConfig } from './security/setup.js';
import { startTerm, type CoreSettings, type Term, type TermHandlers } from './term.js';

/** After a failed registry write, the master stops serving this much later (see MasterCore's onFatal). */
const FATAL_STOP_DELAY_MS = 250;

/** Where the registry lives and how leaders are chosen. */
export type RegistryConfig =
  /** The fsync'd log under the work dir; this master always leads. */
  | { kind: 'embedded' }
  /** etcd: masters elect a leader on a lease of `leaseTtlMs`. */
  | { kind: 'etcd'; endpoints: readonly string[]; leaseTtlMs?: number; campaignIntervalMs?: number };

export interface MasterOptions extends CoreSettings {
  ip?: string;
  /** gRPC port; 0 picks a free one. */
  port?: number;
  /** HTTP status port; 0 picks a free one. */
  httpPort?: number;
  /** The host other masters and clients reach this one at (default: `ip`, or the host name when `ip` is a wildcard). */
  advertiseHost?: string;
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
  /** Default: embedded. */
  registry?: RegistryConfig;
  /** An embedded master's store, instead of the log under the work dir (tests). */
  registryStore?: RegistryStore;
  /** The HTTP port's timeouts and header size (common/http-json.ts); each defaults to its HTTP_LIMITS entry. */
  httpLimits?: Partial<HttpLimits>;
  /** TLS, identities, the policy and the audit log (default: TLS with a CA in the work dir, the default policy). */
  security?: SecurityConfig;
}

/** What /health says about a master. */
export interface MasterHealth {
  status: 'ok';
  masterId: string;
  role: ElectionRole;
  /** The current term's epoch; 0 when this master does not lead. */
  epoch: number;
  leader: MasterAddress | null;
  /** Why etcd could not be used at the last attempt; absent while it answers (and when embedded). */
  etcdProblem?: string;
}

export interface RunningMaster {
  /** The current term's core; throws NotLeaderError while this master does not lead. */
  readonly core: MasterCore;
  masterId: string;
  /** The gRPC address agents and frameworks use: HOST:PORT. */
  address: string;
  port: number;
  httpPort: number;
  /** Leader, standby or candidate (always leader when embedded). */
  health(): MasterHealth;
  /** Resolves at the start of the next term this master leads (at once when it leads). */
  leading(): Promise<MasterCore>;
  /**
   * Settles when a registry write failed, once the master has stopped serving (its memory may no
   * longer match its registry): whoever runs it should exit non-zero. Never settles otherwise, nor
   * in HA, where a failed write ends the term instead and another master (or this one) leads next.
   */
  failed: Promise<RegistryWriteError>;
  security: MasterSecurity;
  /** The admin credentials file the master keeps for the CLI on this host; undefined under --insecure. */
  adminCredentialsPath: string | undefined;
  /** The join token kept in WORK_DIR/security/join-token while it is valid. */
  joinToken: string | undefined;
  /** Reads the policy file again; a bad file keeps the old policy and rejects naming the problems. */
  reloadPolicy(): Promise<string>;
  /** Stops serving: ends every stream, gives up the lead, closes both servers. Idempotent. */
  stop(): Promise<void>;
}

/** How this master presents itself to the others' HTTP ports (its serving certificate, a master's). */
function masterClientSecurity(security: MasterSecurity): ClientSecurity {
  const pki = security.pki;
  if (!pki) return INSECURE;
  return { mode: 'tls', credentials: { caPem: pki.ca.certPem, certPem: pki.serving.certPem, keyPem: pki.serving.keyPem, identity: { cluster: pki.cluster, kind: 'master', name: 'master' } } };
}

/** The host to publish when listening on `ip`. */
function advertisedHost(ip: string, given: string | undefined): string {
  if (given !== undefined) return given;
  return ip === '0.0.0.0' || ip === '::' ? hostname() : ip;
}

export async function startMaster(options: MasterOptions): Promise<RunningMaster> {
  const ip = options.ip ?? '127.0.0.1';
  const log = options.logger ?? silentLogger;
  const registryConfig = options.registry ?? { kind: 'embedded' };
  // Every limit checked before anything starts: a bad one throws with nothing to undo.
  const limits = callLimits(options.callLimits);
  const wire = wireLimits(options.wireLimits);
  const httpBounds = httpLimits(options.httpLimits);
  const securityConfig = options.security ?? {};
  if (registryConfig.kind === 'etcd' && !securityConfig.insecure && (securityConfig.caCertPath === undefined || securityConfig.caKeyPath === undefined)) {
    throw new Error('--registry etcd://... needs --ca-cert and --ca-key: every master of a cluster must use the same CA (make it once, e.g. with the first master\'s WORK_DIR/security/ca.crt and ca.key, and give both files to all)');
  }
  mkdirSync(options.workDir, { recursive: true });
  const unlock = lockWorkDir(options.workDir);
  const clock = options.clock ?? systemClock;
  const masterId = newMasterId();
  let prepared: Awaited<ReturnType<typeof prepareSecurity>>;
  try {
    prepared = await prepareSecurity({ ...securityConfig, sharedTokens: registryConfig.kind === 'etcd' }, options.workDir, ip, () => clock.now(), log);
  } catch (err) {
    unlock();
    throw err;
  }
  const { security } = prepared;
  const httpSecurity = masterHttpSecurity(security, () => clock.now());

  let reportFailure!: (err: RegistryWriteError) => void;
  const failed = new Promise<RegistryWriteError>((resolve) => (reportFailure = resolve));
  let running: RunningMaster | undefined;
  let term: Term | undefined;
  let election: LeaderElection | undefined;
  let etcd: EtcdClient | undefined;
  let self: MasterAddress | undefined;
  const waitingForLead: ((core: MasterCore) => void)[] = [];
  let peers: MasterPeers | undefined;
  let peerFetch: { close(): Promise<void> } | undefined;

  const refusal = (): NotLeaderError => {
    const leader = election?.leader;
    const problem = election?.problem;
    return new NotLeaderError(
      leader && leader.masterId !== masterId ? { address: leader.address, httpUrl: leader.httpUrl } : undefined,
      problem === undefined ? 'this master is a standby' : `this master cannot reach etcd (${problem})`,
    );
  };
  const gate = new LeaderGate<TermHandlers>(refusal, () => election === undefined || election.isLeading());
  const newTerm = (store: RegistryStore, onFatal: (err: RegistryWriteError) => void): Promise<Term> =>
    startTerm({
      masterId,
      store,
      clock,
      log,
      settings: options,
      ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
      ...(options.historySampleMs !== undefined ? { historySampleMs: options.historySampleMs } : {}),
      ...(options.dashboardStreamMs !== undefined ? { dashboardStreamMs: options.dashboardStreamMs } : {}),
      limits,
      wire,
      security,
      httpSecurity,
      certificates: { certValidDays: prepared.certValidDays, joinTokenTtlMs: prepared.joinTokenTtlMs },
      sharedTokens: registryConfig.kind === 'etcd',
      masters: () => peers?.list() ?? (self ? [{ ...self, role: 'leader', healthy: true, checkedAt: clock.now() }] : []),
      onFatal,
    });
  const begin = (started: Term): void => {
    term = started;
    gate.admit(started.handlers);
    log.info({ masterId, epoch: started.epoch }, 'leading');
    for (const resolve of waitingForLead.splice(0)) resolve(started.core);
  };

  // Embedded: the one term starts before anything listens; a corrupt registry stops the master here.
  if (registryConfig.kind === 'embedded') {
    try {
      const store = options.registryStore ?? (await LogRegistryStore.open({ dir: join(options.workDir, 'registry'), log: (m) => log.warn(m) }));
      begin(
        await newTerm(store, (err) => {
          // A moment for the refused call's answer to leave (every later registry write is refused
          // meanwhile), then stop serving; `failed` settles once stopped.
          setTimeout(() => void running?.stop().then(() => reportFailure(err)), FATAL_STOP_DELAY_MS);
        }),
      );
    } catch (err) {
      await security.close();
      unlock();
      throw err;
    }
  }

  const server = new grpc.Server(serverOptions(wire));
  const v1 = orbitV1();
  server.addService(v1.AgentLink.service, gate.service(v1.AgentLink.service, (h) => h.agentLink));
  server.addService(v1.Scheduler.service, gate.service(v1.Scheduler.service, (h) => h.scheduler));
  server.addService(v1.Operator.service, gate.service(v1.Operator.service, (h) => h.operator));
  server.addService(v1.Certificates.service, gate.service(v1.Certificates.service, (h) => h.certificates));

  const health = (): MasterHealth => {
    // Elected but not yet leading (its term is reading the registry): not a leader to clients yet.
    const role = !election ? 'leader' : election.state === 'leader' && !term ? 'candidate' : election.state;
    const problem = election?.problem;
    return { status: 'ok', masterId, role, epoch: term?.epoch ?? 0, leader: election ? (election.leader ?? null) : (self ?? null), ...(problem !== undefined ? { etcdProblem: problem } : {}) };
  };
  const routing = leaderRouting({ health, refusal, leading: () => (gate.handlers !== undefined ? term?.route : undefined) });

  const undo = async (): Promise<void> => {
    await term?.stop();
    await security.close();
    unlock();
  };
  const grpcListener = await listenForGrpc(server, { host: ip, port: options.port ?? 5050, handshakeTimeoutMs: wire.handshakeTimeoutMs, log, tls: security.pki?.tlsOptions }).catch(async (err: Error) => {
    await undo();
    throw new Error(`cannot listen for gRPC on ${ip}:${options.port ?? 5050}: ${err.message}`);
  });
  const port = grpcListener.port;
  security.peers = grpcListener.peers;

  const http: HttpServer = createJsonServer(routing.serve, { log, limits: httpBounds, security: httpSecurity, beforeAuth: routing.beforeAuth });
  const httpPort = await new Promise<number>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.httpPort ?? 5051, ip, () => {
      const address = http.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  }).catch(async (err: Error) => {
    grpcListener.close();
    server.forceShutdown();
    await undo();
    throw new Error(`cannot listen for HTTP on ${ip}:${options.httpPort ?? 5051}: ${err.message}`);
  });
  const host = advertisedHost(ip, options.advertiseHost);
  self = { masterId, address: `${host}:${port}`, httpUrl: `${httpSecurity ? 'https' : 'http'}://${host}:${httpPort}` };

  if (registryConfig.kind === 'etcd') {
    const cluster = security.pki?.cluster ?? securityConfig.cluster ?? 'orbit';
    etcd = new EtcdClient(registryConfig.endpoints);
    const client = etcd;
    let termSeq = 0;
    const end = (reason: string): void => {
      termSeq += 1;
      const ending = term;
      term = undefined;
      gate.shut();
      if (ending) {
        log.warn({ masterId, epoch: ending.epoch, reason }, 'no longer leading: every stream was ended with NOT_LEADER');
        void ending.stop();
      }
    };
    election = new LeaderElection({
      client,
      cluster,
      self,
      clock,
      log,
      ...(registryConfig.leaseTtlMs !== undefined ? { leaseTtlMs: registryConfig.leaseTtlMs } : {}),
      ...(registryConfig.campaignIntervalMs !== undefined ? { campaignIntervalMs: registryConfig.campaignIntervalMs } : {}),
      onElected: (epoch) => {
        const seq = ++termSeq;
        newTerm(new EtcdRegistryStore(client, cluster, epoch), (err) => {
          log.error({ err: err.message }, 'a registry write failed: stepping down, to lead again only from what etcd holds');
          if (seq === termSeq) election?.stepDown(err.message);
        })
          .then(async (started) => {
            if (seq !== termSeq || election?.epoch !== epoch) return void (await started.stop());
            begin(started);
          })
          .catch((err: unknown) => {
            log.error({ err: errorMessage(err) }, 'could not start leading (the registry could not be read); stepping down');
            if (seq === termSeq) election?.stepDown(`the registry could not be read: ${errorMessage(err)}`);
          });
      },
      onDeposed: (reason) => end(reason),
    });
    election.start();
    const elector = election;
    const fetcher = orbitFetch(masterClientSecurity(security), ['master']);
    peerFetch = fetcher;
    const address = self;
    peers = new MasterPeers({
      self: () => ({ address, role: elector.state, ...(elector.problem !== undefined ? { problem: `etcd: ${elector.problem}` } : {}) }),
      members: () => elector.members(),
      fetch: fetcher.fetch,
      clock,
    });
    peers.start();
  }

  log.info({ masterId, epoch: term?.epoch, port, httpPort, registry: registryConfig.kind }, 'master started');
  let stopped: Promise<void> | undefined;
  running = {
    get core(): MasterCore {
      if (!term) throw refusal();
      return term.core;
    },
    masterId,
    address: `${ip}:${port}`,
    port,
    httpPort,
    health,
    leading: () => (term ? Promise.resolve(term.core) : new Promise((resolve) => waitingForLead.push(resolve))),
    failed,
    security,
    adminCredentialsPath: security.pki?.adminCredentialsPath,
    joinToken: prepared.joinToken,
    reloadPolicy: () => reloadPolicy(security),
    stop() {
      stopped ??= (async () => {
        const ending = term;
        // In HA, clients are told to look for the next leader; the lead passes at once (the lease
        // is revoked) rather than when it expires. An embedded master's core stays readable.
        if (election) {
          term = undefined;
          gate.shut();
        }
        peers?.stop();
        await peerFetch?.close();
        await election?.stop();
        grpcListener.close();
        server.forceShutdown();
        await ending?.stop();
        etcd?.close();
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        });
        await security.close();
        unlock();
        log.info({ masterId }, 'master stopped');
      })();
      return stopped;
    },
  };
  return running;
}
