/**
 * The core's effects, in the order every change takes: decide → persist → apply → send. Protocol
 * code decides (pure checks), awaits `persist` for anything the registry holds, then applies the
 * change to the books and sends through the session table. Nothing reaches memory or the wire
 * before the write is durable.
 *
 * A failed registry write means the registry may no longer say what memory says: the master must
 * stop (a supervisor, or later a standby, takes over). `persist` then logs the write that failed,
 * calls `onFatal` once, and rejects this and every later write with RegistryWriteError.
 */
import type { Logger } from 'pino';
import type { Clock } from '../common/clock.js';
import { errorMessage } from '../common/errors.js';
import type { ClusterEvent, MasterMetrics } from './metrics-port.js';
import type { AgentCommand, MasterPersistence, SchedulerEvent, Sessions } from './ports.js';

/** A registry write failed (or an earlier one did): the change was not made, and the master stops. */
export class RegistryWriteError extends Error {
  override readonly name = 'RegistryWriteError';
  readonly reason = 'REGISTRY_UNAVAILABLE' as const;
  constructor(readonly write: string, cause: unknown) {
    super(`the registry write '${write}' failed (${errorMessage(cause)}); nothing was changed, and the master stops`, { cause });
  }
}

export interface EffectsOptions {
  clock: Clock;
  log: Logger;
  metrics: MasterMetrics;
  sessions: Sessions;
  persistence?: MasterPersistence;
  /** Called once, at the first failed registry write: stop the master (the CLI exits non-zero). */
  onFatal?: (err: RegistryWriteError) => void;
}

export class Effects {
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: MasterMetrics;
  private readonly sessions: Sessions;
  private readonly persistence: MasterPersistence | undefined;
  private readonly onFatal: ((err: RegistryWriteError) => void) | undefined;
  private failure: RegistryWriteError | undefined;

  constructor(options: EffectsOptions) {
    this.clock = options.clock;
    this.log = options.log;
    this.metrics = options.metrics;
    this.sessions = options.sessions;
    this.persistence = options.persistence;
    this.onFatal = options.onFatal;
  }

  /** True once a registry write has failed: the master is stopping. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /**
   * Makes a change durable; resolves once it is (at once without a registry: tests). Rejects with
   * RegistryWriteError naming `what` when the write fails or an earlier one did.
   */
  async persist(what: string, write: (registry: MasterPersistence) => Promise<void>): Promise<void> {
    if (this.failure) throw new RegistryWriteError(what, this.failure);
    if (!this.persistence) return;
    const started = performance.now();
    try {
      await write(this.persistence);
    } catch (err) {
      const failure = new RegistryWriteError(what, err);
      if (!this.failure) {
        this.failure = failure;
        this.log.fatal({ write: what, err: errorMessage(err) }, `registry write failed (${what}): ${errorMessage(err)}; the master stops, since its memory would run ahead of its registry`);
        this.onFatal?.(failure);
      }
      throw failure;
    } finally {
      this.metrics.registryWrite(performance.now() - started);
    }
  }

  toAgent(agentId: string, command: AgentCommand): void {
    this.sessions.toAgent(agentId, command);
  }

  toFramework(frameworkId: string, event: SchedulerEvent): void {
    this.sessions.toFramework(frameworkId, event);
  }

  /** Tells the metrics (and the dashboard's event list) that something happened. */
  event(type: ClusterEvent['type'], message: string, ids: Omit<ClusterEvent, 'type' | 'time' | 'message'> = {}): void {
    this.metrics.clusterEvent({ type, time: this.clock.now(), message, ...ids });
  }
}
