/**
 * Leader election among masters on etcd. Each master holds a lease (renewed every quarter of its
 * TTL) and publishes its address under `members/` on it; a master without a leader campaigns by
 * creating the leader key on its lease if it is absent. The winner's epoch is the key's create
 * revision, which every registry write is fenced on (etcd-store.ts).
 *
 * A lock is not mutual exclusion without fencing, and the etcd client learns of a lost lease
 * late: so a leader keeps its own deadline — the send time of its last acknowledged renewal plus
 * three quarters of the TTL, before etcd (which counts from when it received the renewal) can let
 * the lease expire — and steps down when it passes, whether or not etcd has said anything.
 * `isLeading()` checks that deadline synchronously, for callers about to act as the leader.
 *
 * States: 'candidate' (no lease yet, or campaigning), 'leader', 'standby' (someone else leads).
 */
import type { Clock, TimerHandle } from '../../common/clock.js';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logging.js';
import { clusterKeys, type EtcdClient, type MasterAddress } from '../../common/etcd-client.js';

/** The shortest lease etcd grants with its default timings (1.5 × election timeout, rounded up). */
export const MIN_LEASE_TTL_MS = 2_000;
/** The longest lease accepted: a leader that dies holds the cluster up for this long. */
export const MAX_LEASE_TTL_MS = 60_000;
/** The default lease: etcd's minimum, so a dead leader is replaced within about two seconds. */
export const DEFAULT_LEASE_TTL_MS = 2_000;
/** How often a master without the lead looks for (or tries to take) it. */
export const DEFAULT_CAMPAIGN_INTERVAL_MS = 200;

export type ElectionRole = 'candidate' | 'leader' | 'standby';

export interface ElectionOptions {
  client: EtcdClient;
  cluster: string;
  /** This master, as clients and other masters reach it. */
  self: MasterAddress;
  leaseTtlMs?: number;
  campaignIntervalMs?: number;
  clock: Clock;
  log: Logger;
  /** This master now leads, with this epoch. */
  onElected(epoch: number): void;
  /** This master led and no longer does (it could not renew in time, or the key is another's): stop acting as leader now. */
  onDeposed(reason: string): void;
  /** The leader as last seen changed (undefined: none known). */
  onLeaderChanged?(leader: MasterAddress | undefined): void;
}

export class LeaderElection {
  private role: ElectionRole = 'candidate';
  private leaseId: string | undefined;
  private lastRenewAt = 0;
  /** While leading: the moment this master must have stepped down by unless it renewed. */
  private validUntil = 0;
  private currentEpoch = 0;
  private knownLeader: MasterAddress | undefined;
  private ticker: TimerHandle | undefined;
  private deadline: TimerHandle | undefined;
  private leaseBusy = false;
  private campaignBusy = false;
  private stopped = false;
  private etcdProblem: string | undefined;
  private readonly keys;
  private readonly ttlMs: number;
  private readonly renewEveryMs: number;

  constructor(private readonly options: ElectionOptions) {
    this.keys = clusterKeys(options.cluster);
    this.ttlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    this.renewEveryMs = Math.floor(this.ttlMs / 4);
  }

  /** Starts holding a lease and campaigning; idempotent. */
  start(): void {
    if (this.ticker || this.stopped) return;
    const every = Math.min(this.options.campaignIntervalMs ?? DEFAULT_CAMPAIGN_INTERVAL_MS, this.renewEveryMs);
    this.ticker = this.options.clock.setRepeating(every, () => this.tick());
    this.tick();
  }

  get state(): ElectionRole {
    return this.role;
  }

  /** Why etcd could not be used at the last attempt (undefined once a call succeeds again). */
  get problem(): string | undefined {
    return this.etcdProblem;
  }

  /** The epoch of the current lead (0 when this master does not lead). */
  get epoch(): number {
    return this.role === 'leader' ? this.currentEpoch : 0;
  }

  /** The leader as last seen (this master when it leads); undefined when none is known. */
  get leader(): MasterAddress | undefined {
    return this.role === 'leader' ? this.options.self : this.knownLeader;
  }

  /**
   * True when this master leads and its own deadline has not passed; steps down first (at once,
   * synchronously) when it has, so a master that was paused finds out before it acts.
   */
  isLeading(): boolean {
    if (this.role !== 'leader') return false;
    if (this.options.clock.now() < this.validUntil) return true;
    this.depose('its lease was not renewed in time (the process or etcd was too slow)');
    return false;
  }

  /** Gives up the lead now (a failed registry write: memory may differ from etcd), and campaigns again with a new lease. */
  stepDown(reason: string): void {
    this.depose(reason);
  }

  /** The live masters' addresses, from their member keys. */
  async members(): Promise<MasterAddress[]> {
    const found = await this.options.client.readPrefix(this.keys.members);
    const out: MasterAddress[] = [];
    for (const value of found.values()) {
      try {
        out.push(JSON.parse(value) as MasterAddress);
      } catch {
        // not ours
      }
    }
    return out;
  }

  /** Stops campaigning and gives up the lease (the lead passes at once when this master held it). Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.ticker?.cancel();
    this.deadline?.cancel();
    const lease = this.leaseId;
    this.leaseId = undefined;
    this.role = 'candidate';
    if (lease) await this.options.client.revokeLease(lease).catch((err: unknown) => this.options.log.warn({ err: errorMessage(err) }, 'could not revoke the election lease; it expires on its own'));
  }

  private tick(): void {
    if (this.stopped) return;
    if (this.role === 'leader') this.isLeading();
    const now = this.options.clock.now();
    if (!this.leaseBusy && (this.leaseId === undefined || now - this.lastRenewAt >= this.renewEveryMs)) void this.tendLease();
    if (!this.campaignBusy && this.leaseId !== undefined && this.role !== 'leader') void this.campaign();
  }

  /** Grants a lease (publishing this master's address on it) or renews the one held. */
  private async tendLease(): Promise<void> {
    this.leaseBusy = true;
    const { client, log, clock } = this.options;
    const sentAt = clock.now();
    try {
      if (this.leaseId === undefined) {
        const id = await client.grantLease(Math.ceil(this.ttlMs / 1000));
        if (this.stopped) return void client.revokeLease(id).catch(() => {});
        await client.putOnLease(this.keys.members + this.options.self.masterId, JSON.stringify(this.options.self), id);
        this.leaseId = id;
        this.lastRenewAt = sentAt;
        this.etcdProblem = undefined;
        log.info({ lease: id, ttlMs: this.ttlMs }, 'holding an election lease');
        return;
      }
      const id = this.leaseId;
      const ttl = await client.keepAlive(id);
      if (this.leaseId !== id || this.stopped) return;
      if (ttl <= 0) {
        this.dropLease('etcd says the election lease expired');
        return;
      }
      this.lastRenewAt = sentAt;
      this.etcdProblem = undefined;
      if (this.role === 'leader') this.extend(sentAt);
    } catch (err) {
      this.etcdProblem = errorMessage(err);
      log.warn({ err: errorMessage(err) }, 'could not reach etcd to hold the election lease');
      // A lease not renewed for its whole TTL is gone in etcd: start over with a new one.
      if (this.leaseId !== undefined && clock.now() - this.lastRenewAt >= this.ttlMs) this.dropLease('the election lease could not be renewed for its whole TTL');
    } finally {
      this.leaseBusy = false;
    }
  }

  /** Tries to take the leader key; otherwise notes who holds it. */
  private async campaign(): Promise<void> {
    const lease = this.leaseId;
    if (lease === undefined) return;
    this.campaignBusy = true;
    const sentAt = this.options.clock.now();
    try {
      const { created, record } = await this.options.client.createIfAbsent(this.keys.leader, this.options.self, lease);
      if (this.stopped || this.leaseId !== lease || this.role === 'leader') return;
      if (created) {
        this.role = 'leader';
        this.currentEpoch = record.createRevision;
        this.extend(Math.min(sentAt, this.lastRenewAt));
        this.options.log.info({ epoch: this.currentEpoch }, 'elected leader');
        this.options.onLeaderChanged?.(this.options.self);
        this.options.onElected(this.currentEpoch);
        return;
      }
      this.role = 'standby';
      this.noteLeader(record.holder);
    } catch (err) {
      this.etcdProblem = errorMessage(err);
      this.options.log.warn({ err: errorMessage(err) }, 'could not reach etcd to look for the leader');
      if (this.role === 'standby') this.noteLeader(undefined);
    } finally {
      this.campaignBusy = false;
    }
  }

  private noteLeader(leader: MasterAddress | undefined): void {
    const before = this.knownLeader;
    this.knownLeader = leader;
    if (before?.masterId !== leader?.masterId || before?.address !== leader?.address) this.options.onLeaderChanged?.(leader);
  }

  /** Moves the leader's deadline to three quarters of a TTL past `renewSentAt`. */
  private extend(renewSentAt: number): void {
    this.validUntil = renewSentAt + Math.floor((this.ttlMs * 3) / 4);
    this.deadline?.cancel();
    this.deadline = this.options.clock.setTimer(Math.max(0, this.validUntil - this.options.clock.now()), () => void this.isLeading());
  }

  private dropLease(reason: string): void {
    const lease = this.leaseId;
    this.leaseId = undefined;
    if (lease) void this.options.client.revokeLease(lease).catch(() => {});
    if (this.role === 'leader') this.depose(reason);
    else this.options.log.warn(reason);
  }

  private depose(reason: string): void {
    if (this.role !== 'leader') return;
    this.role = 'candidate';
    this.currentEpoch = 0;
    this.deadline?.cancel();
    this.options.log.error({ reason }, 'stepped down as leader');
    // A new lease and a new campaign: the old lease may still hold the key until it expires.
    const lease = this.leaseId;
    this.leaseId = undefined;
    if (lease) void this.options.client.revokeLease(lease).catch(() => {});
    this.noteLeader(undefined);
    this.options.onDeposed(reason);
  }
}
