/**
 * The registry in etcd, for masters in HA: each key under `/orbit/CLUSTER/registry/`, each write
 * one transaction fenced on the leader key's create revision (this master's epoch), so a write by
 * a master that no longer leads changes nothing and fails with FencedWriteError. A store belongs to
 * one term of leadership: a master that leads again opens a new one, with its new epoch.
 *
 * A batch of more than ETCD_MAX_TXN_OPS operations (etcd's default limit) goes in several fenced
 * transactions, in order; only role weights are ever set that many at once.
 */
import { quote } from '../../common/echo.js';
import { clusterKeys, ETCD_MAX_TXN_OPS, type EtcdClient, type EtcdOp } from '../../common/etcd-client.js';
import { RegistryClosedError, RegistryCorruptError, type RegistryOp, type RegistryStore } from './registry-store.js';

/** A registry write refused because this master no longer holds the leader key it was elected with. */
export class FencedWriteError extends Error {
  override readonly name = 'FencedWriteError';
  readonly reason = 'NOT_LEADER' as const;
  constructor(readonly epoch: number) {
    super(`the write was refused: this master no longer leads (its epoch ${epoch} is not the leader key's)`);
  }
}

export class EtcdRegistryStore implements RegistryStore {
  private closed = false;
  private readonly leaderKey: string;
  private readonly prefix: string;

  /** A store for the term that began with `epoch` (the leader key's create revision). */
  constructor(private readonly client: EtcdClient, cluster: string, private readonly epoch: number) {
    const keys = clusterKeys(cluster);
    this.leaderKey = keys.leader;
    this.prefix = keys.registry;
  }

  async load(): Promise<Map<string, unknown>> {
    this.check();
    const out = new Map<string, unknown>();
    for (const [key, text] of await this.client.readPrefix(this.prefix)) {
      try {
        out.set(key, JSON.parse(text));
      } catch (err) {
        throw new RegistryCorruptError(`etcd key ${quote(this.prefix + key)} does not hold JSON`, this.prefix + key, { cause: err });
      }
    }
    return out;
  }

  async write(ops: readonly RegistryOp[]): Promise<void> {
    this.check();
    const etcdOps: EtcdOp[] = ops.map((op) => {
      if (op.op === 'delete') return { op: 'delete', key: this.prefix + op.key };
      const json = JSON.stringify(op.value) as string | undefined;
      if (json === undefined) throw new TypeError(`value for key '${op.key}' cannot be stored as JSON`);
      return { op: 'put', key: this.prefix + op.key, value: json };
    });
    for (let i = 0; i < etcdOps.length || i === 0; i += ETCD_MAX_TXN_OPS) {
      if (!(await this.client.fencedTxn(this.leaderKey, this.epoch, etcdOps.slice(i, i + ETCD_MAX_TXN_OPS)))) throw new FencedWriteError(this.epoch);
    }
  }

  /** The epoch this store was opened with: the leader key's create revision. */
  async takeEpoch(): Promise<number> {
    return this.epoch;
  }

  /** Later writes reject; the etcd connection belongs to the caller. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw new RegistryClosedError('the etcd registry store of this term is closed');
  }
}
