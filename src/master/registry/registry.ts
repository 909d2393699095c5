/**
 * The registry, typed: agents, frameworks, weights and quotas over any RegistryStore, with an
 * in-memory copy for reads. Every setter resolves once the store made the change durable, and only
 * then does the copy change, so reads never show state a crash could take back.
 *
 * Values are shape-checked both ways with the same readers: a malformed value read back is a
 * RegistryCorruptError naming its key; a malformed entry handed to a setter is an
 * InvalidArgumentError and is never written (so the registry cannot persist what it cannot recover).
 */
import type { FrameworkInfo } from '../../common/cluster.js';
import { InvalidArgumentError } from '../../common/errors.js';
import { within } from '../../common/task-limits.js';
import { ROLE_WEIGHT } from '../quota.js';
import { RegistryCorruptError, type RegistryOp, type RegistryStore } from './registry-store.js';
import { isTokenList, type StoredToken } from '../security/join-tokens.js';

export { MemoryRegistryStore } from './memory-store.js';

/** Where an agent stands with the master. */
export type AgentStatus =
  /** Registered and allowed to run tasks. */
  | 'admitted'
  /** Missed its heartbeats; it may come back and re-register. */
  | 'unreachable'
  /** Gone for good: its tasks are GONE and it may not re-register. */
  | 'gone';

/** Every AgentStatus, for validation. */
export const AGENT_STATUSES: readonly AgentStatus[] = ['admitted', 'unreachable', 'gone'];

/** An agent the master has admitted, lost or given up on (key `agent/ID`). */
export interface AgentEntry {
  id: string;
  hostname: string;
  status: AgentStatus;
  /** When it entered `status`, ms since the epoch. */
  since: number;
  /** Dynamic reservations, in the resource text form. */
  reservations?: string;
  /** An operator is draining it (kept across restarts, as Mesos keeps maintenance). */
  draining?: boolean;
  /** The principal of the certificate it first registered with: only that certificate may re-register it. */
  principal?: string;
}

/** A framework's subscription info as the registry keeps it: the domain FrameworkInfo. */
export type FrameworkInfoEntry = FrameworkInfo;

/** A framework the master knows (key `framework/ID`). */
export interface FrameworkEntry {
  info: FrameworkInfoEntry;
  /** Ms since the epoch when a disconnected framework is torn down; absent while connected. */
  failoverDeadline?: number;
  /** Torn down; kept so its id cannot subscribe again. */
  removed?: boolean;
}

/** A role's quota (key `quota/ROLE`), both in the resource text form. */
export interface QuotaEntry {
  guarantee: string;
  limit: string;
}

/** One change in an atomic `Registry.update`; build them with `registryChange`. */
export type RegistryChange =
  | { kind: 'put-agent'; entry: AgentEntry }
  | { kind: 'remove-agent'; id: string }
  | { kind: 'put-framework'; entry: FrameworkEntry }
  | { kind: 'remove-framework'; id: string }
  | { kind: 'set-weight'; role: string; weight: number }
  | { kind: 'set-quota'; role: string; entry: QuotaEntry }
  | { kind: 'remove-quota'; role: string }
  | { kind: 'set-tokens'; tokens: readonly StoredToken[] };

/** Builders for RegistryChange, one per setter: `registry.update([registryChange.putAgent(a), ...])`. */
export const registryChange = {
  putAgent: (entry: AgentEntry): RegistryChange => ({ kind: 'put-agent', entry }),
  removeAgent: (id: string): RegistryChange => ({ kind: 'remove-agent', id }),
  putFramework: (entry: FrameworkEntry): RegistryChange => ({ kind: 'put-framework', entry }),
  removeFramework: (id: string): RegistryChange => ({ kind: 'remove-framework', id }),
  setWeight: (role: string, weight: number): RegistryChange => ({ kind: 'set-weight', role, weight }),
  setQuota: (role: string, entry: QuotaEntry): RegistryChange => ({ kind: 'set-quota', role, entry }),
  removeQuota: (role: string): RegistryChange => ({ kind: 'remove-quota', role }),
  setTokens: (tokens: readonly StoredToken[]): RegistryChange => ({ kind: 'set-tokens', tokens }),
};

/** Role weight when none is stored. */
export const DEFAULT_WEIGHT = 1;

const AGENT = 'agent/';
const FRAMEWORK = 'framework/';
const WEIGHT = 'weight/';
const QUOTA = 'quota/';
/** The masters' join and API tokens, in HA (an embedded master keeps them in its work dir). */
const TOKENS = 'security/tokens';

/** Typed registry over a RegistryStore; create with `Registry.recover`. Returned entries are frozen. */
export class Registry {
  private readonly agentMap = new Map<string, AgentEntry>();
  private readonly frameworkMap = new Map<string, FrameworkEntry>();
  private readonly weightMap = new Map<string, number>();
  private readonly quotaMap = new Map<string, QuotaEntry>();
  private tokenList: readonly StoredToken[] = [];
  private applied: Promise<unknown> = Promise.resolve();

  private constructor(private readonly store: RegistryStore) {}

  /**
   * Loads and checks everything in `store`. Throws RegistryCorruptError naming the first key whose
   * value is malformed. Keys under other prefixes (written by a newer master) are left alone.
   */
  static async recover(store: RegistryStore): Promise<Registry> {
    const registry = new Registry(store);
    for (const [key, value] of await store.load()) {
      try {
        registry.recoverEntry(key, value);
      } catch (err) {
        if (!(err instanceof ShapeError)) throw err;
        throw new RegistryCorruptError(`registry key '${key}' holds a malformed value: ${err.message}`, key, { cause: err });
      }
    }
    return registry;
  }

  /** Every known agent, by id. */
  agents(): AgentEntry[] {
    return [...this.agentMap.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The agent with this id, or undefined. */
  agent(id: string): AgentEntry | undefined {
    return this.agentMap.get(id);
  }

  /** Stores (adds or replaces) an agent. */
  putAgent(entry: AgentEntry): Promise<void> {
    return this.update([registryChange.putAgent(entry)]);
  }

  /** Forgets an agent; a durable no-op if it is not there. */
  removeAgent(id: string): Promise<void> {
    return this.update([registryChange.removeAgent(id)]);
  }

  /** Every known framework (removed ones included), by id. */
  frameworks(): FrameworkEntry[] {
    return [...this.frameworkMap.values()].sort((a, b) => (a.info.id < b.info.id ? -1 : a.info.id > b.info.id ? 1 : 0));
  }

  /** The framework with this id, or undefined. */
  framework(id: string): FrameworkEntry | undefined {
    return this.frameworkMap.get(id);
  }

  /** Stores (adds or replaces) a framework. */
  putFramework(entry: FrameworkEntry): Promise<void> {
    return this.update([registryChange.putFramework(entry)]);
  }

  /** Forgets a framework entirely; a durable no-op if it is not there. */
  removeFramework(id: string): Promise<void> {
    return this.update([registryChange.removeFramework(id)]);
  }

  /** Weights that differ from DEFAULT_WEIGHT, by role (a copy). */
  weights(): Map<string, number> {
    return new Map(this.weightMap);
  }

  /** Sets a role's weight (> 0); DEFAULT_WEIGHT removes the stored key. */
  setWeight(role: string, weight: number): Promise<void> {
    return this.update([registryChange.setWeight(role, weight)]);
  }

  /** Quotas by role (a copy). */
  quotas(): Map<string, QuotaEntry> {
    return new Map(this.quotaMap);
  }

  /** Sets (adds or replaces) a role's quota. */
  setQuota(role: string, entry: QuotaEntry): Promise<void> {
    return this.update([registryChange.setQuota(role, entry)]);
  }

  /** Removes a role's quota; a durable no-op if it has none. */
  removeQuota(role: string): Promise<void> {
    return this.update([registryChange.removeQuota(role)]);
  }

  /** The join and API tokens kept here (HA), hashed. */
  tokens(): readonly StoredToken[] {
    return this.tokenList;
  }

  /** Replaces the tokens kept here. */
  setTokens(tokens: readonly StoredToken[]): Promise<void> {
    return this.update([registryChange.setTokens(tokens)]);
  }

  /**
   * Applies the changes as one atomic store write, then to the in-memory copy. Throws
   * InvalidArgumentError (field named, nothing written) for a malformed entry. If the store write
   * rejects, the copy is unchanged, but whether the write survived is unknown: treat it as fatal.
   */
  update(changes: readonly RegistryChange[]): Promise<void> {
    let planned: { op: RegistryOp; apply: () => void }[];
    try {
      planned = changes.map((change, i) => this.plan(change, `changes[${i}]`));
    } catch (err) {
      if (!(err instanceof ShapeError)) return Promise.reject(err);
      return Promise.reject(new InvalidArgumentError(err.field, err.problem));
    }
    const written = this.store.write(planned.map((p) => p.op));
    written.catch(() => {}); // handled below, possibly after an earlier update settles
    // Apply in call order even if some store resolved writes out of order.
    const done = this.applied.then(() => written).then(() => planned.forEach((p) => p.apply()));
    this.applied = done.catch(() => {});
    return done;
  }

  /** This master's epoch, taken from the store (see RegistryStore.takeEpoch). */
  takeEpoch(): Promise<number> {
    return this.store.takeEpoch();
  }

  /** Closes the store; later setters reject. Idempotent. */
  close(): Promise<void> {
    return this.store.close();
  }

  private plan(change: RegistryChange, at: string): { op: RegistryOp; apply: () => void } {
    switch (change.kind) {
      case 'put-agent': {
        const entry = readAgent(change.entry, `${at}.entry`);
        return { op: put(AGENT + entry.id, entry), apply: () => this.agentMap.set(entry.id, entry) };
      }
      case 'remove-agent': {
        const id = text(change.id, `${at}.id`);
        return { op: del(AGENT + id), apply: () => this.agentMap.delete(id) };
      }
      case 'put-framework': {
        const entry = readFramework(change.entry, `${at}.entry`);
        return { op: put(FRAMEWORK + entry.info.id, entry), apply: () => this.frameworkMap.set(entry.info.id, entry) };
      }
      case 'remove-framework': {
        const id = text(change.id, `${at}.id`);
        return { op: del(FRAMEWORK + id), apply: () => this.frameworkMap.delete(id) };
      }
      case 'set-weight': {
        const role = text(change.role, `${at}.role`);
        const weight = readWeight(change.weight, `${at}.weight`);
        if (weight === DEFAULT_WEIGHT) return { op: del(WEIGHT + role), apply: () => this.weightMap.delete(role) };
        return { op: put(WEIGHT + role, weight), apply: () => this.weightMap.set(role, weight) };
      }
      case 'set-quota': {
        const role = text(change.role, `${at}.role`);
        const entry = readQuota(change.entry, `${at}.entry`);
        return { op: put(QUOTA + role, entry), apply: () => this.quotaMap.set(role, entry) };
      }
      case 'remove-quota': {
        const role = text(change.role, `${at}.role`);
        return { op: del(QUOTA + role), apply: () => this.quotaMap.delete(role) };
      }
      case 'set-tokens': {
        const tokens = readTokens({ tokens: change.tokens }, `${at}`);
        return { op: put(TOKENS, { tokens }), apply: () => (this.tokenList = tokens) };
      }
      default: {
        const unknown: never = change;
        throw new ShapeError(`${at}.kind`, `is not a registry change: ${JSON.stringify((unknown as { kind: unknown }).kind)}`);
      }
    }
  }

  private recoverEntry(key: string, value: unknown): void {
    if (key.startsWith(AGENT)) {
      const entry = readAgent(value, 'value');
      if (AGENT + entry.id !== key) throw new ShapeError('value.id', `is '${entry.id}', not the id in the key`);
      this.agentMap.set(entry.id, entry);
    } else if (key.startsWith(FRAMEWORK)) {
      const entry = readFramework(value, 'value');
      if (FRAMEWORK + entry.info.id !== key) throw new ShapeError('value.info.id', `is '${entry.info.id}', not the id in the key`);
      this.frameworkMap.set(entry.info.id, entry);
    } else if (key.startsWith(WEIGHT)) {
      this.weightMap.set(text(key.slice(WEIGHT.length), 'role'), readWeight(value, 'value'));
    } else if (key.startsWith(QUOTA)) {
      this.quotaMap.set(text(key.slice(QUOTA.length), 'role'), readQuota(value, 'value'));
    } else if (key === TOKENS) {
      this.tokenList = readTokens(value, 'value');
    }
  }
}

function readTokens(v: unknown, at: string): readonly StoredToken[] {
  const list = record(v, at).tokens;
  if (!isTokenList(list)) throw new ShapeError(`${at}.tokens`, 'is not a list of tokens (id, secretHash, description, createdMs, expiresMs)');
  return Object.freeze(list.map((t) => Object.freeze({ ...t })));
}

const put = (key: string, value: unknown): RegistryOp => ({ op: 'put', key, value });
const del = (key: string): RegistryOp => ({ op: 'delete', key });

/** A value of the wrong shape; `field` is a path like `value.info.roles[1]`. */
class ShapeError extends Error {
  override readonly name = 'ShapeError';
  constructor(readonly field: string, readonly problem: string) {
    super(`${field} ${problem}`);
  }
}

/*
 * Readers: each checks a value and returns a fresh, frozen copy holding only the known fields, so the
 * in-memory copy shares nothing with the caller's object or the store's.
 */
function readAgent(v: unknown, at: string): AgentEntry {
  const o = record(v, at);
  const status = o.status;
  if (!AGENT_STATUSES.includes(status as AgentStatus)) {
    throw new ShapeError(`${at}.status`, `must be one of ${AGENT_STATUSES.join(', ')}`);
  }
  const entry: AgentEntry = {
    id: text(o.id, `${at}.id`),
    hostname: str(o.hostname, `${at}.hostname`),
    status: status as AgentStatus,
    since: num(o.since, `${at}.since`),
  };
  if (o.reservations !== undefined) entry.reservations = str(o.reservations, `${at}.reservations`);
  if (o.principal !== undefined) entry.principal = str(o.principal, `${at}.principal`);
  if (o.draining !== undefined) {
    if (typeof o.draining !== 'boolean') throw new ShapeError(`${at}.draining`, 'must be a boolean');
    entry.draining = o.draining;
  }
  return Object.freeze(entry);
}

function readFramework(v: unknown, at: string): FrameworkEntry {
  const o = record(v, at);
  const i = record(o.info, `${at}.info`);
  const roles = Array.isArray(i.roles) ? i.roles.map((r, n) => text(r, `${at}.info.roles[${n}]`)) : undefined;
  if (!roles) throw new ShapeError(`${at}.info.roles`, 'must be an array of strings');
  const labelsIn = record(i.labels, `${at}.info.labels`);
  const labels: Record<string, string> = {};
  for (const [k, value] of Object.entries(labelsIn)) labels[k] = str(value, `${at}.info.labels.${k}`);
  const info: FrameworkInfoEntry = {
    id: text(i.id, `${at}.info.id`),
    name: str(i.name, `${at}.info.name`),
    roles: Object.freeze(roles) as string[],
    user: str(i.user, `${at}.info.user`),
    hostname: str(i.hostname, `${at}.info.hostname`),
    failoverTimeoutMs: num(i.failoverTimeoutMs, `${at}.info.failoverTimeoutMs`),
    principal: str(i.principal, `${at}.info.principal`),
    labels: Object.freeze(labels),
  };
  const entry: FrameworkEntry = { info: Object.freeze(info) };
  if (o.failoverDeadline !== undefined) entry.failoverDeadline = num(o.failoverDeadline, `${at}.failoverDeadline`);
  if (o.removed !== undefined) {
    if (typeof o.removed !== 'boolean') throw new ShapeError(`${at}.removed`, 'must be a boolean');
    entry.removed = o.removed;
  }
  return Object.freeze(entry);
}

function readQuota(v: unknown, at: string): QuotaEntry {
  const o = record(v, at);
  return Object.freeze({ guarantee: str(o.guarantee, `${at}.guarantee`), limit: str(o.limit, `${at}.limit`) });
}

/** A role's weight, within the bounds an operator may set (quota.ts); anything else is refused, or corrupt when read back. */
function readWeight(v: unknown, at: string): number {
  const weight = num(v, at);
  if (!within(weight, ROLE_WEIGHT)) throw new ShapeError(at, `must be a number from ${ROLE_WEIGHT.min} to ${ROLE_WEIGHT.max}, got ${weight}`);
  return weight;
}

function record(v: unknown, at: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ShapeError(at, 'must be an object');
  return v as Record<string, unknown>;
}

function str(v: unknown, at: string): string {
  if (typeof v !== 'string') throw new ShapeError(at, 'must be a string');
  return v;
}

function text(v: unknown, at: string): string {
  if (str(v, at) === '') throw new ShapeError(at, 'must not be empty');
  return v as string;
}

function num(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ShapeError(at, 'must be a finite number');
  return v;
}
