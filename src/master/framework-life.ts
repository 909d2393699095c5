/**
 * A framework's lifecycle beyond a call: leaving `subscribed`, the failover timer of a disconnected
 * framework, frameworks adopted without a subscription (from the registry or an agent after a
 * restart), and removal. Each exit is written once here; the protocols call these.
 */
import type { FrameworkInfo } from '../common/cluster.js';
import { FailedPreconditionError } from '../common/errors.js';
import type { Allocator } from './allocator/allocator.js';
import type { Effects } from './effects.js';
import type { FrameworkState } from './framework-lifecycle.js';
import type { FrameworkBook } from './frameworks.js';
import type { OfferFlow } from './offer-flow.js';
import type { Sessions } from './ports.js';
import type { FrameworkRecord } from './records.js';
import type { StatusRelay } from './status-relay.js';
import type { TaskBook } from './tasks.js';

/**
 * After a master restart, a framework that was subscribed gets at least this long to re-subscribe
 * before its failover timeout may remove it: its client needs time to notice the restart and back
 * off (the SDK waits at most a minute between tries). A one-shot framework (failover timeout 0)
 * thus rides out a restart.
 */
export const DEFAULT_FRAMEWORK_RESUBSCRIBE_TIMEOUT_MS = 120_000;

export class FrameworkLife {
  /** Frameworks whose removal is being made durable: they may not subscribe meanwhile. */
  private readonly removing = new Set<string>();

  constructor(
    private readonly frameworks: FrameworkBook,
    private readonly tasks: TaskBook,
    private readonly offers: OfferFlow,
    private readonly relay: StatusRelay,
    private readonly allocator: Allocator,
    private readonly sessions: Sessions,
    private readonly effects: Effects,
    readonly resubscribeMs: number,
  ) {}

  /** Throws FRAMEWORK_REMOVED for a retired id, or one being retired. */
  refuseRetired(id: string): void {
    if (this.frameworks.isRetired(id) || this.removing.has(id)) {
      throw new FailedPreconditionError('FRAMEWORK_REMOVED', `framework '${id}' was torn down or failed over too late; subscribe without an id to start afresh`);
    }
  }

  /** Leaving `subscribed`: its offers go back, it gets no more, its stream is forgotten. Written once. */
  leaveSubscribed(framework: FrameworkRecord, closeStream: boolean): void {
    const id = framework.info.id;
    this.offers.discardAllOf(id);
    this.allocator.deactivateFramework(id);
    this.sessions.detachFramework(id, closeStream);
  }

  /**
   * The framework's stream ended. A no-op unless `streamId` is its current one. Its offers return
   * to the pool; its tasks are kept until its failover deadline, made durable before the timer
   * starts; with a failover timeout of 0 it is removed at once.
   */
  async disconnected(frameworkId: string, streamId: string): Promise<void> {
    const framework = this.frameworks.get(frameworkId);
    if (!framework || framework.state !== 'subscribed' || framework.streamId !== streamId) return;
    const now = this.effects.clock.now();
    this.leaveSubscribed(framework, false);
    this.frameworks.disconnected(framework, now);
    const timeoutMs = framework.info.failoverTimeoutMs;
    this.effects.log.warn({ frameworkId, failoverTimeoutMs: timeoutMs }, 'framework disconnected');
    this.effects.event('framework-disconnected', `framework ${framework.info.name} disconnected`, { frameworkId });
    if (timeoutMs <= 0) return this.remove(framework, 'its failover timeout is 0');
    await this.effects.persist('save failover deadline', (r) => r.saveFramework(framework.info, now + timeoutMs));
    if ((framework.state as FrameworkState) === 'disconnected') this.armFailover(framework, timeoutMs);
  }

  /**
   * A framework known without a subscription: from the registry after a restart, or from an agent
   * that re-registered with its tasks. It waits, disconnected, for its deadline.
   */
  adopt(info: FrameworkInfo, deadlineInMs: number): FrameworkRecord {
    const framework = this.frameworks.adopt(info, this.effects.clock.now());
    this.allocator.addFramework(info.id, info.roles, { active: false });
    this.armFailover(framework, deadlineInMs);
    return framework;
  }

  /** Removes a disconnected framework once `ms` have passed without a re-subscription. */
  armFailover(framework: FrameworkRecord, ms: number): void {
    const id = framework.info.id;
    this.frameworks.armFailover(id, Math.max(0, ms), () => {
      const current = this.frameworks.get(id);
      if (current && current.state === 'disconnected') {
        this.remove(current, 'it did not re-subscribe within its failover timeout').catch(() => undefined);
      }
    });
  }

  /**
   * Removes a framework for good, once its retirement is durable: its tasks are KILLED (its
   * agents told to shut it down), its stream gets an ERROR and ends, and its id is retired.
   * Rejects with RegistryWriteError when the write fails (nothing changed; the master stops).
   */
  async remove(framework: FrameworkRecord, why: string): Promise<void> {
    const id = framework.info.id;
    if (this.removing.has(id)) return;
    this.removing.add(id);
    try {
      await this.effects.persist('retire framework', (r) => r.retireFramework(framework.info));
    } finally {
      this.removing.delete(id);
    }
    if (framework.state === 'removed') return;
    this.effects.log.info({ frameworkId: id }, `framework removed: ${why}`);
    this.effects.event('framework-removed', `framework ${framework.info.name} removed: ${why}`, { frameworkId: id });
    this.offers.discardAllOf(id);
    const agentIds = new Set<string>();
    for (const task of [...this.tasks.ofFramework(id)]) {
      agentIds.add(task.agentId);
      const status = this.relay.masterStatus(task, 'KILLED', 'FRAMEWORK_REMOVED', `framework removed: ${why}`);
      // Told before its stream ends, if it is open; nothing is kept: the framework id is retired.
      if (this.relay.apply(task, status) !== 'refused') this.relay.send(status);
    }
    for (const agentId of agentIds) this.effects.toAgent(agentId, { type: 'shutdownFramework', frameworkId: id });
    if (framework.state === 'subscribed') {
      this.effects.toFramework(id, { type: 'error', reason: 'FRAMEWORK_REMOVED', message: `framework '${id}' removed: ${why}` });
    }
    this.sessions.detachFramework(id, true);
    this.allocator.removeFramework(id);
    this.tasks.dropPendingUpdates(id);
    this.offers.forget(id);
    const dropped = this.frameworks.removed(framework);
    if (dropped) this.tasks.forgetFramework(dropped.info.id);
    this.offers.request();
  }
}
