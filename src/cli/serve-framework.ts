/**
 * What `orbit services serve` and `orbit jobs serve` share: check the flags, lock the state dir,
 * load the framework's state, serve its API, subscribe, and run until a signal or until the
 * master ends the subscription. Every problem a user can fix is a one-line UsageError.
 */
import type { EventEmitter } from 'node:events';
import type { ClientSecurity, LogLevel, Logger, SubscribedInfo } from '../framework-sdk/index.js';
import { cliSecurity } from './cli-security.js';
import { createLogger, nameProblem } from '../framework-sdk/index.js';
import { userErrors } from '../frameworks/common/cli-support.js';
import type { CommandIo } from '../frameworks/common/command-io.js';
import type { RunningApi } from '../frameworks/common/api-server.js';
import { lockStateDir } from '../frameworks/common/state-dir-lock.js';
import { resolveMaster, UsageError } from './common.js';

export interface ServeFlags {
  master?: string;
  stateDir?: string;
  apiHost: string;
  apiPort: number;
  name: string;
  role: string;
  failoverTimeout?: number;
  logLevel: LogLevel;
}

/** The part of a framework server that serving needs. */
export interface ServableFramework extends Pick<EventEmitter, 'on'> {
  load(): void;
  start(): Promise<SubscribedInfo>;
  stop(): void;
}

export interface ServeSpec<F extends ServableFramework> {
  /** `services` or `jobs`: names the logger and the output lines. */
  kind: string;
  /** What the state dir holds, for the missing-flag message. */
  keeps: string;
  create(options: { master: string; security: ClientSecurity; stateDir: string; name: string; role: string; logger: Logger; failoverTimeoutMs?: number }): F;
  startApi(fw: F, host: string, port: number): Promise<RunningApi>;
}

const usage = (message: string) => new UsageError(message);

export async function serveFramework<F extends ServableFramework>(spec: ServeSpec<F>, flags: ServeFlags, io: CommandIo): Promise<void> {
  const stateDir = flags.stateDir;
  if (!stateDir) throw usage(`--state-dir is required (${spec.keeps} are kept there)`);
  if (flags.apiPort > 65535) throw usage(`--api-port must be at most 65535, got ${flags.apiPort}`);
  const roleProblem = nameProblem('role', flags.role);
  if (roleProblem !== undefined) throw usage(`--role: ${roleProblem}`);
  let master: string;
  try {
    master = resolveMaster(flags.master);
  } catch (err) {
    throw usage((err as Error).message);
  }
  const release = await userErrors(async () => lockStateDir(stateDir), usage);
  const fw = spec.create({
    master,
    security: cliSecurity(),
    stateDir,
    name: flags.name,
    role: flags.role,
    logger: createLogger(spec.kind, flags.logLevel),
    ...(flags.failoverTimeout !== undefined ? { failoverTimeoutMs: flags.failoverTimeout * 1000 } : {}),
  });
  try {
    try {
      fw.load();
    } catch (err) {
      throw usage((err as Error).message);
    }
    const api = await spec.startApi(fw, flags.apiHost, flags.apiPort).catch((err: NodeJS.ErrnoException) => {
      throw usage(`cannot serve the API on ${flags.apiHost}:${flags.apiPort}: ${err.code ?? err.message}`);
    });
    io.out(`orbit ${spec.kind}: API on ${api.url}, state in ${stateDir}; subscribing to ${master}\n`);
    let fatal: string | undefined;
    const failed = new Promise<string>((resolve) => fw.on('error', (message: string) => resolve((fatal = message))));
    fw.start().then(
      (info) => io.out(`orbit ${spec.kind}: subscribed as framework ${info.frameworkId}${info.resubscribed ? ' (resumed)' : ''}\n`),
      () => undefined,
    );
    await Promise.race([io.waitForStop(), failed]);
    fw.stop();
    await api.close();
    if (fatal !== undefined) throw usage(fatal);
  } finally {
    fw.stop();
    release();
  }
}
