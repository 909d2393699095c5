/**
 * `orbit run`: a one-shot framework, like mesos-execute. It waits for an offer that fits, launches
 * one task (a Docker container with --image, a process with --process), prints its state changes
 * to stderr, streams its stdout/stderr live, tears the framework down and exits with the task's
 * exit code (see exitCodeFor).
 */
import { Option, type Command } from 'commander';
import { newTaskId } from '../common/ids.js';
import { nameProblem } from '../common/names.js';
import {
  buildTask,
  checkFit,
  formatResources,
  isTerminal,
  SchedulerClient,
  takeResources,
  type Offer,
  type Shortfall,
  type TaskStatus,
} from '../framework-sdk/index.js';
import { masterOption, numberFlag, resolveMaster, UsageError } from './common.js';
import { fetchAgents } from './operator-call.js';
import { TaskOutput } from './task-output.js';
import { cliSecurity } from './cli-security.js';
import { agentBaseUrl } from './agent-http.js';

/** Exit code after Ctrl-C, as shells report SIGINT. */
export const EXIT_INTERRUPTED = 130;
/** Exit code of a KILLED task that reported no exit code of its own (128 + SIGTERM). */
export const EXIT_KILLED = 143;
/** How long to wait for the first subscription before giving up on the master. */
const CONNECT_TIMEOUT_MS = 5_000;
/** Declined offers that do not fit come back after this long; after the launch, much later. */
const REFUSE_WHILE_WAITING_S = 1;
const REFUSE_AFTER_LAUNCH_S = 60;
/** After Ctrl-C, how long past the kill grace to wait for the terminal update. */
const KILL_WAIT_EXTRA_MS = 5_000;
const TEARDOWN_WAIT_MS = 5_000;
/**
 * The one-shot framework's failover timeout: long enough that a dropped connection or a master
 * restart does not remove it and kill its task while `orbit run` re-subscribes; if `orbit run`
 * itself dies, its task is killed this long after.
 */
const RUN_FAILOVER_TIMEOUT_MS = 120_000;

const ENV_PAIR = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;
/** A single command argument with any of these runs under `sh -c`. */
const SHELL_CHARS = /[\s;&|<>()$`\\"'*?~{}[\]!#]/;

/** A validated `orbit run` invocation. */
export interface RunOptions {
  master: string;
  image?: string;
  /** Shell form (`sh -c value`) or argv form (value plus args). */
  command?: { value: string; args?: string[] };
  cpus: number;
  mem: number;
  disk?: number;
  ports?: number;
  env: Record<string, string>;
  name: string;
  role: string;
  killGraceMs?: number;
  timeoutMs?: number;
}

interface RawFlags {
  master?: string;
  image?: string;
  process?: boolean;
  cpus: number;
  mem: number;
  disk?: number;
  ports?: number;
  env: string[];
  name?: string;
  role: string;
  killGrace?: number;
  timeout?: number;
}

/** How the words after `--` run: one word with shell characters under `sh -c`, otherwise as argv. */
export function commandFor(words: string[]): RunOptions['command'] {
  const [first, ...rest] = words;
  if (first === undefined) return undefined;
  if (rest.length === 0 && SHELL_CHARS.test(first)) return { value: first };
  return { value: first, args: rest };
}

/** Checks the flags, naming the one that is wrong in a UsageError. */
export function parseRunOptions(flags: RawFlags, words: string[]): RunOptions {
  if (flags.image !== undefined && flags.process) throw new UsageError('--image and --process: give exactly one of them');
  if (flags.image === undefined && !flags.process) throw new UsageError('--image IMAGE or --process is required');
  if (flags.image !== undefined && flags.image.trim() === '') throw new UsageError('--image: the image name is empty');
  if (flags.process && words.length === 0) throw new UsageError('--process needs a command: orbit run --process -- CMD [ARGS...]');
  const roleProblem = nameProblem('role', flags.role);
  if (roleProblem !== undefined) throw new UsageError(`--role: ${roleProblem}`);
  if (flags.name !== undefined && flags.name.trim() === '') throw new UsageError('--name: the name is empty');
  const env: Record<string, string> = {};
  for (const pair of flags.env) {
    const m = ENV_PAIR.exec(pair);
    if (!m) throw new UsageError(`--env: expected NAME=VALUE with NAME a valid variable name, got '${pair}'`);
    env[m[1] ?? ''] = m[2] ?? '';
  }
  let master: string;
  try {
    master = resolveMaster(flags.master);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const opts: RunOptions = { master, cpus: flags.cpus, mem: flags.mem, env, name: flags.name ?? 'orbit-run', role: flags.role };
  const command = commandFor(words);
  if (command) opts.command = command;
  if (flags.image !== undefined) opts.image = flags.image;
  if (flags.disk) opts.disk = flags.disk;
  if (flags.ports) opts.ports = flags.ports;
  if (flags.killGrace !== undefined) opts.killGraceMs = flags.killGrace * 1000;
  if (flags.timeout !== undefined) opts.timeoutMs = flags.timeout * 1000;
  return opts;
}

/** The resource request in text form, e.g. `cpus:0.1;mem:32;ports:2`. */
export function requestText(o: RunOptions): string {
  return [`cpus:${o.cpus}`, `mem:${o.mem}`, o.disk ? `disk:${o.disk}` : '', o.ports ? `ports:${o.ports}` : ''].filter(Boolean).join(';');
}

/**
 * The exit code for a task's terminal status: FINISHED → its exit code, else 0; FAILED → its
 * non-zero exit code, else 1; KILLED → its non-zero exit code, else 143 (128 + SIGTERM);
 * ERROR, DROPPED, GONE, LOST (never ran, or lost) → 1.
 */
export function exitCodeFor(status: TaskStatus): number {
  const own = status.exitCode !== undefined && status.exitCode !== 0 ? status.exitCode : undefined;
  switch (status.state) {
    case 'FINISHED':
      return status.exitCode ?? 0;
    case 'FAILED':
      return own ?? 1;
    case 'KILLED':
      return own ?? EXIT_KILLED;
    default:
      return 1;
  }
}

/** One line per state change: `[12:00:01] TASK_RUNNING on agent-x (host): message (REASON)`. */
export function statusLine(s: TaskStatus, hostname: string): string {
  const time = new Date(s.timestamp || Date.now()).toTimeString().slice(0, 8);
  const where = s.agentId ? ` on ${s.agentId}${hostname ? ` (${hostname})` : ''}` : '';
  const details = [s.message, s.reason !== 'NONE' ? `(${s.reason})` : '', s.exitCode !== undefined ? `[exit code ${s.exitCode}]` : '']
    .filter(Boolean)
    .join(' ');
  return `[${time}] TASK_${s.state}${where}${details ? `: ${details}` : ''}`;
}

function noOfferMessage(request: string, waitedMs: number, seen: Map<string, { offer: Offer; reasons: Shortfall[] }>): string {
  const head = `no offer fitted ${request} within ${Math.round(waitedMs / 1000)} s`;
  if (seen.size === 0) return `${head}: no offers arrived (are agents registered, with free resources for this role?)`;
  const lines = [...seen.values()].map(({ offer, reasons }) => {
    const why = reasons.map((r) => `${r.resource} requested ${r.requested}, available ${r.available}`).join('; ');
    return `  ${offer.agentId} (${offer.hostname}): ${why}`;
  });
  return `${head}; the last offers seen:\n${lines.join('\n')}`;
}

const say = (line: string): void => void process.stderr.write(`${line}\n`);

/** Runs one task to its end and returns the exit code for `orbit run`. */
export function runTask(o: RunOptions): Promise<number> {
  const request = requestText(o);
  const taskId = newTaskId(o.name.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 40) || 'run');
  const client = new SchedulerClient({
    master: o.master,
    security: cliSecurity(),
    framework: { name: `orbit-run ${o.name}`, roles: [o.role], failoverTimeoutMs: RUN_FAILOVER_TIMEOUT_MS },
    reconnectBaseMs: 500,
    reconnectMaxMs: 5_000,
  });
  const seen = new Map<string, { offer: Offer; reasons: Shortfall[] }>();
  const startedAt = Date.now();
  let phase: 'waiting' | 'launched' | 'done' = 'waiting';
  let interrupted = false;
  let hostname = '';
  let agentId = '';
  let lastDisconnect = '';
  let output: Promise<TaskOutput | undefined> | undefined;
  const timers: NodeJS.Timeout[] = [];

  return new Promise<number>((resolve) => {
    const finish = async (code: number, message?: string): Promise<void> => {
      if (phase === 'done') return;
      phase = 'done';
      timers.forEach(clearTimeout);
      process.off('SIGINT', onSigint);
      if (message) say(`orbit: ${message}`);
      const out = await output;
      await out?.drain();
      if (client.subscribed) {
        // Bounded: a master that does not answer must not keep the command from exiting.
        await Promise.race([client.teardown().catch(() => undefined), new Promise((r) => setTimeout(r, TEARDOWN_WAIT_MS).unref())]);
      }
      client.close();
      resolve(interrupted ? EXIT_INTERRUPTED : code);
    };

    const streamOutput = (agent: string): Promise<TaskOutput | undefined> =>
      fetchAgents(o.master)
        .then((agents) => {
          const a = agents.find((x) => x.id === agent);
          if (!a || !a.httpPort) return undefined;
          const out = new TaskOutput({ agentUrl: agentBaseUrl(a.address || a.hostname, a.httpPort), taskId, stdout: process.stdout, stderr: process.stderr });
          if (phase !== 'done') out.start();
          return out;
        })
        .catch(() => undefined);

    const onSigint = (): void => {
      if (interrupted || phase !== 'launched') {
        interrupted = true;
        void finish(EXIT_INTERRUPTED, 'interrupted');
        return;
      }
      interrupted = true;
      say('orbit: interrupted; killing the task (Ctrl-C again to stop waiting)');
      client.kill(taskId, agentId).catch((err: unknown) => say(`orbit: kill failed: ${err instanceof Error ? err.message : String(err)}`));
      const waitMs = (o.killGraceMs ?? 3_000) + KILL_WAIT_EXTRA_MS;
      timers.push(setTimeout(() => void finish(EXIT_INTERRUPTED, 'the task did not end in time; tearing the framework down'), waitMs));
    };
    process.on('SIGINT', onSigint);

    const launch = (offer: Offer, resources: NonNullable<ReturnType<typeof takeResources>>): void => {
      phase = 'launched';
      hostname = offer.hostname;
      agentId = offer.agentId;
      say(`launching ${taskId} on ${offer.agentId} (${offer.hostname}) with ${formatResources(resources)}`);
      const task = buildTask({
        taskId,
        name: o.name,
        offer,
        resources,
        ...(o.command ? { command: o.command.value, ...(o.command.args ? { args: o.command.args } : {}) } : {}),
        ...(o.image !== undefined ? { image: o.image } : { process: true }),
        env: o.env,
        ...(o.killGraceMs !== undefined ? { killGraceMs: o.killGraceMs } : {}),
      });
      client
        .launch(offer, [task])
        .then(() => client.suppress())
        .catch((err: unknown) => void finish(1, `launch failed: ${err instanceof Error ? err.message : String(err)}`));
    };

    client.on('offers', (offers) => {
      const declined: string[] = [];
      for (const offer of offers) {
        if (phase === 'waiting') {
          const resources = takeResources(offer, request, o.role);
          if (resources) {
            launch(offer, resources);
            continue;
          }
          const fit = checkFit(offer, request, o.role);
          seen.set(offer.agentId, { offer, reasons: fit.ok ? [] : fit.reasons });
        }
        declined.push(offer.id);
      }
      if (declined.length > 0) {
        const refuseSeconds = phase === 'waiting' ? REFUSE_WHILE_WAITING_S : REFUSE_AFTER_LAUNCH_S;
        client.decline(declined, { refuseSeconds }).catch(() => undefined);
      }
    });

    client.on('update', (s) => {
      if (s.taskId !== taskId || phase === 'done') return;
      if (s.agentId) agentId = s.agentId;
      say(statusLine(s, hostname));
      if (!output && s.agentId && (s.state === 'STARTING' || s.state === 'RUNNING' || isTerminal(s.state))) output = streamOutput(s.agentId);
      if (isTerminal(s.state)) void finish(exitCodeFor(s));
    });

    client.on('subscribed', (info) => {
      if (!info.resubscribed) say(`waiting for an offer with ${request}...`);
      else if (phase === 'launched') client.reconcile([{ taskId, agentId }]).catch(() => undefined);
    });
    client.on('disconnected', (reason) => {
      lastDisconnect = reason;
    });
    client.on('error', (error) => void finish(1, error.message));

    client.start().catch(() => undefined);
    timers.push(
      setTimeout(() => {
        if (!client.subscribed && phase === 'waiting') {
          void finish(1, `cannot reach the master at ${o.master}${lastDisconnect ? ` (${lastDisconnect})` : ''}`);
        }
      }, CONNECT_TIMEOUT_MS),
    );
    if (o.timeoutMs !== undefined) {
      timers.push(
        setTimeout(() => {
          if (phase === 'waiting') void finish(1, noOfferMessage(request, Date.now() - startedAt, seen));
        }, o.timeoutMs),
      );
    }
  });
}

/** Adds `orbit run (--image IMG | --process) [resources] [--env K=V]... -- CMD [ARGS...]`. */
export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run one task on the cluster and stream its output (a one-shot framework, like mesos-execute)')
    .argument('[command...]', 'the command and its arguments, after --; one argument with shell characters runs under sh -c')
    .addOption(masterOption())
    .option('--image <image>', 'run in a Docker container from this image')
    .option('--process', 'run as a plain process on the agent')
    .option('--cpus <n>', 'cpus to request', numberFlag('--cpus'), 0.1)
    .option('--mem <mib>', 'memory to request, MiB', numberFlag('--mem'), 32)
    .option('--disk <mib>', 'disk to request, MiB', numberFlag('--disk'))
    .option('--ports <n>', 'how many ports to request (any free ones)', numberFlag('--ports', { integer: true }))
    .option('--env <name=value>', 'an environment variable for the task (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--name <name>', 'the task name', undefined)
    .option('--role <role>', 'the role to subscribe with', '*')
    .addOption(new Option('--kill-grace <seconds>', 'seconds between SIGTERM and SIGKILL').argParser(numberFlag('--kill-grace')))
    .addOption(new Option('--timeout <seconds>', 'give up when no offer fits within this long').argParser(numberFlag('--timeout')))
    .action(async (words: string[], flags: RawFlags) => {
      const code = await runTask(parseRunOptions(flags, words));
      process.exitCode = code;
      // Nothing should be left running; if something is, do not let it hold the exit.
      setTimeout(() => process.exit(code), 2_000).unref();
    });
}
