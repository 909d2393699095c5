/**
 * `orbit agent`: runs an agent until SIGINT or SIGTERM, or until the master refuses it for good
 * (exit 1, saying why). On start it recovers from the checkpoint in its work dir: the same agent
 * id, the tasks a previous run left running, unacknowledged updates.
 */
import type { Command } from 'commander';
import { parseAttributes } from '../common/attributes.js';
import { createLogger, type Logger, type LogLevel } from '../common/logging.js';
import { parseResources } from '../common/resources.js';
import { startAgent } from '../agent/agent.js';
import { CheckpointCorruptError } from '../agent/checkpoint.js';
import { RecoveryError } from '../agent/recovery.js';
import type { Containerizer } from '../agent/containerizer/containerizer.js';
import { DockerContainerizer } from '../agent/containerizer/docker.js';
import { ProcessContainerizer } from '../agent/containerizer/process.js';
import { SimulatedContainerizer } from '../agent/containerizer/simulated.js';
import { detectResources } from '../agent/detect.js';
import { blockedDirectory, checkTaskUser, DEFAULT_TASK_USER, describeUser, readPasswd, type TaskUser } from '../agent/task-user.js';
import { logLevelOption, masterOption, numberFlag, resolveMaster, UsageError } from './common.js';
import { httpLimitOptions, httpLimitsFromFlags, type HttpLimitFlags } from './http-limit-flags.js';
import { waitForSignal } from '../common/signals.js';
import { formatResources } from '../common/resources.js';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { hostname } from 'node:os';
import { agentSecurity, EnrollmentError } from '../agent/enrollment.js';
import { resolveMasterList } from '../common/connection.js';
import { CredentialsError } from '../common/credentials.js';

interface AgentFlags extends HttpLimitFlags {
  master?: string;
  workDir?: string;
  ip: string;
  httpPort: number;
  resources?: string;
  attributes?: string;
  containerizers?: string;
  hostname?: string;
  logLevel: LogLevel;
  killTasksOnExit: boolean;
  strict?: boolean;
  statusUpdateRetryBase?: number;
  statusUpdateRetryMax?: number;
  taskUser: string;
  allowRootTaskUser: boolean;
  join?: string;
}

const KNOWN_CONTAINERIZERS = ['docker', 'process', 'simulated'];

/**
 * Builds the containerizers named by --containerizers (validated); process tasks that name no user
 * run as `taskUser` (a checked --task-user; default nobody).
 */
export function makeContainerizers(list: string, log: (msg: string, fields?: object) => void, taskUser: string = DEFAULT_TASK_USER): Containerizer[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new UsageError('--containerizers: name at least one of docker, process');
  const unknown = names.find((n) => !KNOWN_CONTAINERIZERS.includes(n));
  if (unknown) throw new UsageError(`--containerizers: unknown containerizer '${unknown}' (known: ${KNOWN_CONTAINERIZERS.join(', ')})`);
  return [...new Set(names)].map((n) => (n === 'docker' ? new DockerContainerizer({ log }) : n === 'simulated' ? new SimulatedContainerizer() : new ProcessContainerizer({ log, taskUser })));
}

/**
 * Probes each containerizer. One the operator asked for by name must work (as Mesos refuses to
 * start without Docker when told to use it); one that is only there by default is dropped with
 * a warning, so `orbit agent` works out of the box on a machine without Docker.
 */
async function usableContainerizers(list: Containerizer[], explicit: boolean, log: Logger): Promise<Containerizer[]> {
  const usable: Containerizer[] = [];
  for (const c of list) {
    try {
      await c.probe?.();
      usable.push(c);
    } catch (err) {
      if (explicit) throw new UsageError(`--containerizers ${c.kind}: ${(err as Error).message}`);
      log.warn(`not offering ${c.kind} tasks: ${(err as Error).message}`);
      await c.close();
    }
  }
  if (usable.length === 0) throw new UsageError('no containerizer can run tasks on this machine');
  return usable;
}

/**
 * The --task-user, checked against /etc/passwd: refused (naming the flag) when it is not a user
 * there nor a numeric uid, or is root without --allow-root-task-user; root with it is logged as a
 * warning. An agent that is not root cannot switch users, and says its tasks run as itself.
 */
export async function taskUserFromFlags(flags: Pick<AgentFlags, 'taskUser' | 'allowRootTaskUser'>, log: Logger): Promise<TaskUser> {
  const verdict = checkTaskUser(flags.taskUser, await readPasswd(), flags.allowRootTaskUser);
  if (!verdict.ok) throw new UsageError(`--task-user: ${verdict.reason}`);
  const { user } = verdict;
  const agentUid = process.getuid?.();
  if (agentUid !== 0) {
    if (user.uid !== agentUid) log.warn(`the agent is not root and cannot switch users: process tasks run as uid ${agentUid ?? 'unknown'} (the agent's own), not as ${describeUser(user)} (--task-user)`);
  } else if (user.uid === 0) {
    log.warn(`--allow-root-task-user: process tasks that name no user run as root (${describeUser(user)}) on this machine`);
  }
  return user;
}

/**
 * Warns when the task user cannot reach the work dir (a directory above it that it may not
 * search; the agent opens the work dir itself to it): every process task that runs as that user
 * would fail to launch, each saying so. Only a root agent with the process containerizer switches.
 */
async function warnIfUnreachable(workDir: string, user: TaskUser, containerizers: readonly Containerizer[], log: Logger): Promise<void> {
  if (process.getuid?.() !== 0 || !containerizers.some((c) => c.kind === 'process')) return;
  const blocked = await blockedDirectory(workDir, user);
  if (blocked === undefined) return;
  log.warn(`process tasks run as ${describeUser(user)} (--task-user), who cannot reach --work-dir ${workDir}: it may not search ${blocked.dir} (mode ${blocked.mode.toString(8).padStart(4, '0')}); give that directory search permission for others (chmod o+x) or choose a work dir it can reach, else every process task fails to launch`);
}

/** Parses one flag's value, turning a parse error into a usage error that names the flag. */
export function flagValue<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}

/** The status update retry flags (seconds) as agent options (ms), validated. */
export function statusRetryOptions(flags: { statusUpdateRetryBase?: number; statusUpdateRetryMax?: number }): { statusRetryBaseMs?: number; statusRetryMaxMs?: number } {
  const base = flags.statusUpdateRetryBase === undefined ? undefined : flags.statusUpdateRetryBase * 1000;
  const max = flags.statusUpdateRetryMax === undefined ? undefined : flags.statusUpdateRetryMax * 1000;
  if (base !== undefined && base <= 0) throw new UsageError('--status-update-retry-base must be more than 0');
  if (base !== undefined && max !== undefined && max < base) throw new UsageError('--status-update-retry-max must be at least --status-update-retry-base');
  return { ...(base !== undefined ? { statusRetryBaseMs: base } : {}), ...(max !== undefined ? { statusRetryMaxMs: max } : {}) };
}

/** The status update retry flags, shared by `orbit agent` and `orbit fleet`. */
export function addStatusRetryFlags(command: Command): Command {
  return command
    .option('--status-update-retry-base <seconds>', 'first resend of an unacknowledged status update (default 10)', numberFlag('--status-update-retry-base'))
    .option('--status-update-retry-max <seconds>', 'longest wait between resends, doubling up to it (default 600)', numberFlag('--status-update-retry-max'));
}

export function registerAgentCommand(program: Command): void {
  const agent = program
    .command('agent')
    .description('run an agent: offers this machine\'s resources and runs tasks')
    .addOption(masterOption())
    .option('--work-dir <dir>', 'directory for sandboxes and checkpoints (required)')
    .option('--ip <ip>', 'address for the HTTP endpoint', '127.0.0.1')
    .option('--http-port <port>', 'HTTP port for /health, /state and task output', numberFlag('--http-port', { integer: true }), 5052)
    .option('--resources <text>', "what to offer, e.g. 'cpus:4;mem:8192;ports:[31000-32000]' (detected when not given)")
    .option('--attributes <text>', "labels for placement, e.g. 'rack:r1;zone:a'")
    .option('--containerizers <list>', 'comma-separated: docker, process, simulated (runs nothing: for rehearsals and benchmarks) (default: docker,process; docker is left out with a warning when no engine answers)')
    .option('--hostname <name>', 'hostname to report (default: this machine\'s)')
    .option('--kill-tasks-on-exit', 'kill running tasks when the agent stops (default: leave them running)', false)
    .option('--strict', 'refuse to start when a checkpoint file is corrupt, naming it (the default)')
    .option('--no-strict', 'skip corrupt checkpoint files with a warning and recover without them')
    .option('--task-user <name>', 'who runs process tasks that name no user: a user in /etc/passwd, or a numeric uid (when the agent is not root, tasks run as the agent\'s own user)', DEFAULT_TASK_USER)
    .option('--allow-root-task-user', 'allow a --task-user that is root (uid 0): process tasks that name no user then run as root', false)
    .option('--join <token>', "join the cluster with a token from 'orbit master' or 'orbit token create': the agent gets its certificate and keeps it in --work-dir (later starts reuse it)")
    .addOption(logLevelOption());
  for (const option of httpLimitOptions()) agent.addOption(option);
  addStatusRetryFlags(agent).action(async (flags: AgentFlags) => {
      const master = resolveMaster(flags.master);
      if (!flags.workDir) throw new UsageError('--work-dir is required (sandboxes and checkpoints live there)');
      // Tasks run with their sandbox as cwd; every path the agent hands out must be absolute.
      flags.workDir = resolve(flags.workDir);
      if (flags.httpPort > 65535) throw new UsageError('--http-port must be at most 65535');
      const given = flagValue('--resources', () => parseResources(flags.resources ?? ''));
      const attributes = flagValue('--attributes', () => parseAttributes(flags.attributes ?? ''));
      const log = createLogger('agent', flags.logLevel);
      const taskUser = await taskUserFromFlags(flags, log);
      const containerizers = await usableContainerizers(makeContainerizers(flags.containerizers ?? 'docker,process', (msg, fields) => log.info(fields ?? {}, msg), taskUser.name), flags.containerizers !== undefined, log);
      mkdirSync(flags.workDir, { recursive: true });
      await warnIfUnreachable(flags.workDir, taskUser, containerizers, log);
      const resources = detectResources(given, flags.workDir);
      const global = program.opts<{ credentials?: string; insecure?: boolean }>();
      const security = await agentSecurity({
        workDir: flags.workDir,
        // The cluster is not known before the agent has credentials: etcd:// is read for the default one here.
        masters: await resolveMasterList(master, '--master', 'orbit').catch((err: Error) => {
          throw new UsageError(err.message);
        }),
        hostname: flags.hostname ?? hostname(),
        join: flags.join,
        credentials: global.credentials,
        insecure: global.insecure,
        log,
      }).catch(async (err: unknown) => {
        await Promise.all(containerizers.map((c) => c.close()));
        throw err instanceof EnrollmentError || err instanceof CredentialsError ? new UsageError((err as Error).message) : err;
      });
      const agent = await startAgent({
        master,
        security,
        workDir: flags.workDir,
        ip: flags.ip,
        httpPort: flags.httpPort,
        resources,
        attributes,
        containerizers,
        logger: log,
        strict: flags.strict ?? true,
        ...(flags.hostname ? { hostname: flags.hostname } : {}),
        ...statusRetryOptions(flags),
        httpLimits: httpLimitsFromFlags(flags),
      }).catch(async (err: unknown) => {
        await Promise.all(containerizers.map((c) => c.close()));
        // A corrupt checkpoint or an engine that cannot be asked: one line saying which, no stack.
        if (err instanceof CheckpointCorruptError || err instanceof RecoveryError) throw new UsageError(err.message);
        throw err;
      });
      process.stdout.write(`orbit agent offering ${formatResources(resources)}; master ${master}; ${security.mode === 'tls' ? 'https' : 'http'}://${flags.ip}:${agent.httpPort}/state\n`);
      // A refusal for good (marked gone, resources that no longer hold its tasks) ends the agent, non-zero.
      const refusal = await Promise.race([waitForSignal().then(() => undefined), agent.refused]);
      await (flags.killTasksOnExit ? agent.shutdown() : agent.stop());
      if (refusal) throw new UsageError(refusal.line);
    });
}
