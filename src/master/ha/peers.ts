/**
 * The cluster's masters and their health, for /state and the dashboard: the live masters from
 * their member keys in etcd, each asked for its /health every few seconds (the open endpoint, over
 * HTTPS trusting the cluster CA). The list is kept between polls, so a reader never waits on the
 * network; a master that stops answering shows as unhealthy with why until its member key lapses.
 */
import type { Clock, TimerHandle } from '../../common/clock.js';
import type { MasterAddress } from '../../common/etcd-client.js';
import { errorMessage } from '../../common/errors.js';
import type { OrbitFetch } from '../../common/http-client.js';
import type { MasterPeerView } from '../../common/state-view.js';

/** How often the masters are polled. */
export const PEER_POLL_MS = 2_000;
/** How long one /health may take. */
const HEALTH_TIMEOUT_MS = 1_000;

export interface MasterPeersOptions {
  /** This master and what it says of itself (asked, not fetched). */
  self: () => { address: MasterAddress; role: MasterPeerView['role']; problem?: string };
  /** The live masters, this one included. */
  members: () => Promise<MasterAddress[]>;
  fetch: OrbitFetch;
  clock: Clock;
  intervalMs?: number;
}

const ROLES: readonly MasterPeerView['role'][] = ['leader', 'standby', 'candidate'];

export class MasterPeers {
  private known: MasterPeerView[] = [];
  private timer: TimerHandle | undefined;
  private polling = false;

  constructor(private readonly options: MasterPeersOptions) {}

  /** Polls now and every interval until stop(); idempotent. */
  start(): void {
    if (this.timer) return;
    this.timer = this.options.clock.setRepeating(this.options.intervalMs ?? PEER_POLL_MS, () => void this.poll());
    void this.poll();
  }

  /** Stops polling; idempotent. */
  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** The masters as last seen, this one first and as it is now. */
  list(): MasterPeerView[] {
    const self = this.selfView();
    return [self, ...this.known.filter((p) => p.masterId !== self.masterId)];
  }

  private selfView(): MasterPeerView {
    const { address, role, problem } = this.options.self();
    return { ...address, role, healthy: problem === undefined, checkedAt: this.options.clock.now(), ...(problem !== undefined ? { problem } : {}) };
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const self = this.options.self().address.masterId;
      const members = (await this.options.members()).filter((m) => m.masterId !== self);
      this.known = await Promise.all(members.map((m) => this.check(m)));
    } catch (err) {
      // etcd did not answer: keep the last list, each marked as not checked now.
      this.known = this.known.map((p) => ({ ...p, healthy: false, problem: `cannot list the masters: ${errorMessage(err)}` }));
    } finally {
      this.polling = false;
    }
  }

  private async check(member: MasterAddress): Promise<MasterPeerView> {
    const now = this.options.clock.now();
    const previous = this.known.find((p) => p.masterId === member.masterId);
    try {
      const res = await this.options.fetch(`${member.httpUrl}/health`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
      const body = (await res.json()) as { role?: unknown; etcdProblem?: unknown };
      const role = ROLES.find((r) => r === body.role) ?? 'unknown';
      const problem = typeof body.etcdProblem === 'string' ? `etcd: ${body.etcdProblem.slice(0, 200)}` : undefined;
      return { ...member, role, healthy: res.ok && problem === undefined, checkedAt: now, ...(problem !== undefined ? { problem } : {}) };
    } catch (err) {
      return { ...member, role: 'unknown', healthy: false, checkedAt: previous?.checkedAt ?? now, problem: `/health did not answer: ${errorMessage(err)}` };
    }
  }
}
