/**
 * The agent's composition root: the checkpoint, resources, containerizers, the task runner, status
 * updates, the link to the master and the HTTP endpoint. `startAgent` first recovers from the
 * checkpoint in the work dir (re-attaching to the tasks a previous run started), and returns once
 * HTTP listens; (re-)registration with the master happens in the background and is retried for as
 * long as the agent runs.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import { httpLimits, type HttpLimits } from '../common/http-json.js';
import { hostname as osHostname } from 'node:os';
import type { Attributes } from '../common/attributes.js';
import type { AgentInfo } from '../common/cluster.js';
import { systemClock, type Clock } from '../common/clock.js';
import { agentInfoToProto, frameworkInfoToProto, statusToProto, taskToProto } from '../common/codec.js';
import { clusterOf, resolveMasterList, type MasterClients } from '../common/connection.js';
import { errorMessage, type ErrorReason } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logging.js';
import { formatResources, type Resources } from '../common/resources.js';
import type { AgentLinkClient } from '../gen/orbit/v1/AgentLink.js';
import type { AgentMessage } from '../gen/orbit/v1/AgentMessage.js';
import type { AgentTask as AgentTaskMsg } from '../gen/orbit/v1/AgentTask.js';
import type { TaskStatus } from '../common/tasks.js';
import type { Containerizer } from './containerizer/containerizer.js';
import { createAgentHttpServer } from './http-server.js';
import { refusedLaunchStatus } from './launch-decode.js';
import { AgentMetrics } from './metrics.js';
import { MasterLink, type LinkCommand } from './master-link.js';
import { lockWorkDir } from '../common/work-dir-lock.js';
import { Checkpoint, MemoryCheckpoint, type AgentCheckpoint } from './checkpoint.js';
import { recoverAgent, RecoveryError, resourcesShortOf } from './recovery.js';
import { reregistrationMessages } from './reregistration.js';
import { StatusUpdateManager } from './status-updates.js';
import { TaskRunner, type AgentTask } from './task-runner.js';
import type { ClientSecurity } from '../common/credentials.js';
import type { HttpSecurity } from '../common/http-auth.js';

export interface AgentOptions {
  /** The masters, `HOST:PORT[,HOST:PORT...]`, tried in order. */
  master: string;
  /** The agent's certificate (from its join, kept in its work dir), or --insecure. */
  security: ClientSecurity;
  workDir: string;
  ip?: string;
  httpPort?: number;
  hostname?: string;
  /** Everything the agent offers (detection already applied by the caller). */
  resources: Resources;
  attributes?: Attributes;
  containerizers: readonly Containerizer[];
  clock?: Clock;
  logger?: Logger;
  /** Registration backoff base (default 1 s) and cap (default 1 min). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Status update retry base (default 10 s) and cap (default 10 min). */
  statusRetryBaseMs?: number;
  statusRetryMaxMs?: number;
  /**
   * A corrupt checkpoint file stops the agent with a CheckpointCorruptError naming it (default
   * true); when false it is skipped with a warning and the agent recovers without it.
   */
  strict?: boolean;
  /**
   * Where the checkpoint goes: the work dir (default), or memory, where nothing survives the
   * process. Memory is for simulated agents only: a real agent's tasks would be orphaned.
   */
  checkpoint?: 'work-dir' | 'memory';
  /** Serve /health, /state, /metrics and task output over HTTP (default true). */
  http?: boolean;
  /** The HTTP port's timeouts and header size (common/http-json.ts); each defaults to its HTTP_LIMITS entry. */
  httpLimits?: Partial<HttpLimits>;
  /** AgentLink clients shared with other agents in this process (see MasterLink). */
  linkClients?: MasterClients<AgentLinkClient>;
}

/** Why the master refused an agent for good (see FINAL_REFUSALS): its reason, and one line saying so. */
export interface AgentRefusal {
  reason: ErrorReason;
  line: string;
}

export interface RunningAgent {
  /** The id the master gave, or '' before the first registration. */
  agentId(): string;
  /** The HTTP port, or 0 when the agent serves no HTTP. */
  httpPort: number;
  runner: TaskRunner;
  link: MasterLink;
  /** Waits until registered with a master (rejects after `timeoutMs`, or once the master refused the agent for good). */
  registered(timeoutMs?: number): Promise<string>;
  /**
   * Settles once the master refused this agent for good (AGENT_GONE, AGENT_RESOURCES_SHRANK): it
   * no longer registers, and is to be stopped. Never settles otherwise.
   */
  readonly refused: Promise<AgentRefusal>;
  /** Stops talking to the master and serving HTTP. Running tasks are left running. */
  stop(): Promise<void>;
  /** Kills every task (with its grace), then stops; after stop() it only waits for that. */
  shutdown(): Promise<void>;
}

/**
 * Process tasks run as other users than the agent (see containerizer/process.ts), in sandboxes
 * under the work dir: those users must be able to search it. Search for others (o+x) lets them
 * through to a path they know without letting them list it; what else the agent keeps there is
 * its own (checkpoint files are 0600; each sandbox is 0700, its task user's). A no-op when the
 * work dir allows it already.
 */
function letTaskUsersThrough(workDir: string, log: Logger): void {
  const mode = statSync(workDir).mode & 0o7777;
  if ((mode & 0o001) !== 0) return;
  chmodSync(workDir, mode | 0o001);
  log.info({ workDir, mode: (mode | 0o001).toString(8) }, 'made the work dir searchable by task users (o+x), so process tasks reach their sandboxes');
}

/**
 * The agent's HTTP port under TLS: its own certificate; operators' (the CLI's `orbit logs`) and
 * masters' certificates of its cluster may read state, metrics and task output, a framework's only
 * its own tasks' output (http-server.ts); `/health` stays open. Undefined under --insecure.
 */
function agentHttpSecurity(security: ClientSecurity): HttpSecurity | undefined {
  if (security.mode !== 'tls') return undefined;
  const { certPem, keyPem, caPem, identity } = security.credentials;
  return { tls: { key: keyPem, cert: certPem, ca: caPem }, cluster: identity.cluster, kinds: ['operator', 'master', 'framework'], open: ['/health'] };
}

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const masters = await resolveMasterList(options.master, 'master', clusterOf(options.security));
  // Checked before anything starts: a bad limit throws with nothing to undo.
  const httpBounds = httpLimits(options.httpLimits);
  const clock = options.clock ?? systemClock;
  const log = options.logger ?? silentLogger;
  const inMemory = options.checkpoint === 'memory';
  mkdirSync(options.workDir, { recursive: true });
  if (process.getuid?.() === 0 && options.containerizers.some((c) => c.kind === 'process')) letTaskUsersThrough(options.workDir, log);
  // Two agents recovering from one work dir would fight over the same containers.
  const unlock = inMemory ? () => undefined : lockWorkDir(options.workDir, 'agent');
  const checkpoint: AgentCheckpoint = inMemory ? new MemoryCheckpoint() : new Checkpoint(options.workDir);
  let recovered: ReturnType<Checkpoint['load']>;
  try {
    recovered = checkpoint.load(options.strict ?? true);
  } catch (err) {
    unlock();
    throw err;
  }
  let agentId = recovered.agentId ?? '';
  const waiters: { resolve: (id: string) => void; reject: (err: Error) => void }[] = [];
  let refusal: AgentRefusal | undefined;
  let onRefused: (refusal: AgentRefusal) => void = () => undefined;
  const refused = new Promise<AgentRefusal>((resolve) => (onRefused = resolve));

  const info: AgentInfo = {
    id: '',
    hostname: options.hostname ?? osHostname(),
    resources: options.resources,
    attributes: options.attributes ?? [],
    httpPort: 0,
    containerizers: options.containerizers.map((c) => c.kind),
  };

  // Forward declaration: updates are queued by the runner and sent over the link.
  let link: MasterLink | undefined;
  // Forward declaration: a task's checkpoint goes once it has ended and its updates are acknowledged.
  let isActive: (frameworkId: string, taskId: string) => boolean = () => true;
  const updates = new StatusUpdateManager({
    clock,
    send: (status) => link?.send({ statusUpdate: { status: statusToProto({ ...status, agentId }) } }) ?? false,
    persist: (frameworkId, taskId, queue) => {
      try {
        if (queue.length === 0 && !isActive(frameworkId, taskId)) checkpoint.removeTask(frameworkId, taskId);
        else checkpoint.saveUpdates(frameworkId, taskId, queue);
      } catch (err) {
        log.error({ frameworkId, taskId, err: errorMessage(err) }, 'cannot checkpoint status updates; they are sent, but would not survive an agent crash');
      }
    },
    ...(options.statusRetryBaseMs !== undefined ? { retryBaseMs: options.statusRetryBaseMs } : {}),
    ...(options.statusRetryMaxMs !== undefined ? { retryMaxMs: options.statusRetryMaxMs } : {}),
  });
  const runner = new TaskRunner({
    workDir: options.workDir,
    clock,
    logger: log,
    containerizers: new Map(options.containerizers.map((c) => [c.kind, c])),
    agentId: () => agentId,
    emit: (status) => updates.enqueue(status),
    isUnacknowledged: (frameworkId, taskId) => updates.hasPending(frameworkId, taskId),
    checkpoint,
  });
  isActive = (frameworkId, taskId) => runner.isActive(frameworkId, taskId);
  await recoverAgent({ checkpoint, recovered, containerizers: options.containerizers, runner, updates, logger: log });
  const shortfall = resourcesShortOf(options.resources, runner.activeTasks().map((t) => t.spec.resources));
  if (shortfall) {
    runner.stop();
    updates.stop();
    unlock();
    throw new RecoveryError(shortfall);
  }

  const http = options.http === false ? undefined : await serveHttp();
  info.httpPort = http?.port ?? 0;

  /** The agent's HTTP endpoint, listening; a port that is taken stops the agent. */
  async function serveHttp(): Promise<{ server: Server; port: number }> {
    const metrics = new AgentMetrics({
      total: () => info.resources,
      tasks: () => runner.activeTasks().map((t) => ({ state: t.state, resources: t.spec.resources })),
      pendingUpdates: () => updates.pending().length,
      connected: () => link?.isConnected ?? false,
    });
    const http: Server = createAgentHttpServer({
      metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
      state: () => ({
        id: agentId,
        hostname: info.hostname,
        connected: link?.isConnected ?? false,
        resources: formatResources(info.resources),
        containerizers: info.containerizers,
        tasks: runner.activeTasks().map((t) => ({ id: t.spec.taskId, frameworkId: t.framework.id, state: t.state, containerId: t.containerId, sandbox: t.sandboxDir, resources: formatResources(t.spec.resources), ...(t.healthy !== undefined ? { healthy: t.healthy } : {}) })),
        completedTasks: runner.completedTasks().map((t) => ({ id: t.spec.taskId, frameworkId: t.framework.id, state: t.state, containerId: t.containerId, sandbox: t.sandboxDir })),
        pendingUpdates: updates.pending().length,
      }),
      taskOf: (taskId, frameworkId) => {
        const task = runner.find(taskId, frameworkId);
        return task ? { sandbox: task.sandboxDir, principal: task.framework.principal } : undefined;
      },
    }, { log, limits: httpBounds, security: agentHttpSecurity(options.security) });
    const ip = options.ip ?? '127.0.0.1';
    const port = await new Promise<number>((resolve, reject) => {
      http.once('error', reject);
      http.listen(options.httpPort ?? 5052, ip, () => {
        const address = http.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    }).catch((err: Error) => {
      runner.stop();
      updates.stop();
      unlock();
      throw new Error(`cannot listen for HTTP on ${ip}:${options.httpPort ?? 5052}: ${err.message}`);
    });
    return { server: http, port };
  }

  /**
   * Register the first time; afterwards re-register with every task this agent runs, and every
   * ended one whose updates are not all acknowledged (the master must not think it never arrived).
   */
  const hello = (): AgentMessage[] => {
    const agentInfo = agentInfoToProto({ ...info, id: agentId });
    if (!agentId) return [{ register: { info: agentInfo, version: '0.1.0' } }];
    const unacknowledged = (t: AgentTask) => updates.hasPending(t.framework.id, t.spec.taskId) && !runner.isActive(t.framework.id, t.spec.taskId);
    const ended = new Map(runner.completedTasks().filter(unacknowledged).map((t) => [`${t.framework.id}/${t.spec.taskId}`, t]));
    const tasks = [...runner.activeTasks(), ...ended.values()].filter((t) => t.latest);
    const frameworks = new Map(tasks.map((t) => [t.framework.id, frameworkInfoToProto(t.framework)]));
    const reported = tasks.map((t) => reportedTask(t, t.latest!));
    return reregistrationMessages(agentInfo, '0.1.0', reported, frameworks);
  };

  /** A task as re-registration reports it: its latest status, start times and recent statuses, so a restarted master shows what the old one did. */
  const reportedTask = (t: AgentTask, latest: TaskStatus): AgentTaskMsg => ({
    task: taskToProto(t.spec),
    frameworkId: t.framework.id,
    latestStatus: statusToProto(latest),
    acceptedAt: (t.acceptedAt ?? 0) / 1000,
    startedAt: t.startedAt / 1000,
    history: t.history.map(statusToProto),
  });

  const onCommand = (command: LinkCommand) => {
    try {
      switch (command.type) {
        case 'runTask':
          runner.run(command.framework, command.task, command.acceptedAt);
          return;
        case 'invalidLaunch': {
          const { frameworkId, taskId, message } = command;
          log.warn({ frameworkId, taskId, err: message }, 'refused a launch from the master');
          // A second, bad launch of a task that runs must not end it: it is only logged.
          if (frameworkId && taskId && !runner.isActive(frameworkId, taskId)) {
            updates.enqueue(refusedLaunchStatus({ frameworkId, taskId, message }, agentId, clock.now()));
          }
          return;
        }
        case 'killTask': {
          const { frameworkId, taskId, killGraceMs, reason } = command;
          runner.kill(frameworkId, taskId, killGraceMs, reason === 'NONE' ? 'KILLED_BY_FRAMEWORK' : reason);
          log.debug({ taskId, reason, graceMs: killGraceMs }, 'kill requested');
          return;
        }
        case 'ack':
          updates.acknowledge(command.frameworkId, command.taskId, command.uuid);
          return;
        case 'shutdownFramework':
          runner.shutdownFramework(command.frameworkId);
          return;
        // The link acted on these already; a master reconciles from what the agent re-registers with.
        case 'registered':
        case 'reregistered':
        case 'reconcile':
          return;
      }
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'could not carry out a command from the master');
    }
  };

  link = new MasterLink(
    {
      masters,
      security: options.security,
      clock,
      logger: log,
      ...(options.linkClients ? { clients: options.linkClients } : {}),
      ...(options.backoffBaseMs !== undefined ? { backoffBaseMs: options.backoffBaseMs } : {}),
      ...(options.backoffMaxMs !== undefined ? { backoffMaxMs: options.backoffMaxMs } : {}),
    },
    {
      hello,
      onCommand,
      onConnected(id) {
        const first = !agentId;
        if (id !== recovered.agentId) {
          try {
            checkpoint.saveAgentId(id);
            recovered.agentId = id;
          } catch (err) {
            log.error({ agentId: id, err: errorMessage(err) }, 'cannot checkpoint the agent id; a restart would register a new agent');
          }
        }
        agentId = id;
        log.info({ agentId: id, master: link?.master }, first ? 'registered with the master' : 're-registered with the master');
        updates.resendAll();
        for (const w of waiters.splice(0)) w.resolve(id);
      },
      onDisconnected(reason) {
        log.warn({ agentId, reason }, 'disconnected from the master');
      },
      onRefused(reason, line) {
        refusal = { reason, line };
        for (const w of waiters.splice(0)) w.reject(new Error(line));
        onRefused(refusal);
      },
    },
  );
  link.start();

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      runner.stop();
      link?.stop();
      updates.stop();
      await Promise.all(options.containerizers.map((c) => c.close()));
      if (http) {
        await new Promise<void>((resolve) => {
          http.server.close(() => resolve());
          http.server.closeAllConnections();
        });
      }
      unlock();
    })();
    return stopped;
  };

  return {
    agentId: () => agentId,
    httpPort: info.httpPort,
    runner,
    link,
    refused,
    registered(timeoutMs = 30_000) {
      if (agentId && link?.isConnected) return Promise.resolve(agentId);
      if (refusal) return Promise.reject(new Error(refusal.line));
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`agent did not register with ${options.master} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          resolve: (id) => {
            clearTimeout(timer);
            resolve(id);
          },
          reject: (err) => {
            clearTimeout(timer);
            reject(err);
          },
        });
      });
    },
    stop,
    async shutdown() {
      // Stopped already: the tasks are no longer this agent's to kill (a restart adopts them).
      if (stopped) return stopped;
      runner.drain();
      const tasks = runner.activeTasks();
      for (const t of tasks) runner.kill(t.framework.id, t.spec.taskId);
      const deadline = Date.now() + Math.max(0, ...tasks.map((t) => t.spec.killGraceMs)) + 5_000;
      while (runner.activeTasks().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await stop();
    },
  };
}
