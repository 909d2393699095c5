/**
 * The master's durable state goes through this port: a small key-value store whose writes are
 * durable when they resolve. Embedded default: an append-only, fsync'd log in the master's work
 * dir (log-store.ts). HA: etcd, every write a transaction fenced on the leader key (etcd-store.ts).
 *
 * Keys (values are JSON):
 *   agent/ID        AgentEntry        admitted, unreachable or gone agents
 *   framework/ID    FrameworkEntry    framework infos and failover deadlines
 *   weight/ROLE     number            role weights
 *   quota/ROLE      QuotaEntry        quota guarantee and limit, in the resource text form
 *   security/tokens {tokens}          join and API tokens, hashed (HA only; embedded: the work dir)
 * Tasks are not here: after a master restart they come back from agent re-registration.
 */
export type RegistryOp = { op: 'put'; key: string; value: unknown } | { op: 'delete'; key: string };

export interface RegistryStore {
  /** Every record, as last written. Recovers from a torn last write (it is dropped, never parsed). */
  load(): Promise<Map<string, unknown>>;
  /** Applies a batch atomically (all or none survive a crash); resolves once durable. */
  write(ops: readonly RegistryOp[]): Promise<void>;
  /**
   * Takes this master's epoch: higher than any master using this store took before, durable
   * before it resolves (the embedded store counts in a file; etcd's is the leader key's revision).
   */
  takeEpoch(): Promise<number>;
  /** Flushes and closes; later writes reject. Idempotent. */
  close(): Promise<void>;
}

/** Thrown when stored state cannot be read back; names the file or key. */
export class RegistryCorruptError extends Error {
  override readonly name = 'RegistryCorruptError';
  constructor(message: string, readonly where: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A write to a closed store, or to one that stopped after a failed write (`cause` says why). */
export class RegistryClosedError extends Error {
  override readonly name = 'RegistryClosedError';
}
