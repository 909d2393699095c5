/**
 * The one file that imports the etcd client (STYLE.md 5): the few etcd operations the masters
 * need — a lease, a create-if-absent leader key, fenced transactions, prefix reads — behind a
 * narrow class, with every call under a deadline and no hidden retries (a leader must learn of a
 * failure at once; it decides what to retry).
 *
 * Keys of a cluster live under `/orbit/CLUSTER/`: `leader` (the leader's MasterAddress, on its
 * lease), `members/MASTER_ID` (every live master's MasterAddress, on its lease) and `registry/KEY`
 * (the registry, see registry-store.ts).
 */
import { noop } from 'cockatiel';
import { Etcd3, type IOptions } from 'etcd3';

/** How long one etcd call may take before it fails. */
export const ETCD_CALL_TIMEOUT_MS = 1_500;

/** At most this many operations in one transaction: etcd's default --max-txn-ops. */
export const ETCD_MAX_TXN_OPS = 128;

/** Where a master is reached, as the masters publish it to each other and to clients. */
export interface MasterAddress {
  masterId: string;
  /** gRPC, HOST:PORT. */
  address: string;
  /** HTTP base URL, https://HOST:PORT (http:// under --insecure). */
  httpUrl: string;
}

export { parseEtcdUrl } from './connection.js';

/** A registry operation as etcd applies it. */
export type EtcdOp = { op: 'put'; key: string; value: string } | { op: 'delete'; key: string };

/** The keys of one cluster. */
export function clusterKeys(cluster: string): { root: string; leader: string; members: string; registry: string } {
  const root = `/orbit/${cluster}/`;
  return { root, leader: `${root}leader`, members: `${root}members/`, registry: `${root}registry/` };
}

/** A leader key as read: who holds it, and the revision that created it (the epoch). */
export interface LeaderRecord {
  holder: MasterAddress | undefined;
  createRevision: number;
}

/** A connection to an etcd cluster. */
export class EtcdClient {
  private readonly etcd: Etcd3;

  constructor(readonly endpoints: readonly string[], callTimeoutMs = ETCD_CALL_TIMEOUT_MS) {
    const options: IOptions = {
      hosts: [...endpoints],
      dialTimeout: callTimeoutMs,
      // No retries or circuit breakers inside the client: callers see each failure at once.
      faultHandling: { host: () => noop, global: noop },
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    };
    this.etcd = new Etcd3(options);
  }

  /** Grants a lease of `ttlSeconds`; resolves to its id. */
  async grantLease(ttlSeconds: number): Promise<string> {
    const res = await this.etcd.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 });
    return String(res.ID);
  }

  /** Renews a lease once; resolves to the TTL left in seconds (0 or less: the lease is gone). */
  async keepAlive(leaseId: string): Promise<number> {
    const stream = await this.etcd.leaseClient.leaseKeepAlive();
    try {
      const answer = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`etcd did not answer a lease renewal within ${ETCD_CALL_TIMEOUT_MS} ms`)), ETCD_CALL_TIMEOUT_MS);
        stream.on('data', (res: { TTL: string }) => {
          clearTimeout(timer);
          resolve(Number(res.TTL));
        });
        stream.on('error', (err: Error) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      stream.write({ ID: leaseId });
      return await answer;
    } finally {
      stream.end();
    }
  }

  /** Revokes a lease (its keys go at once); a no-op for an unknown lease. */
  async revokeLease(leaseId: string): Promise<void> {
    await this.etcd.leaseClient.leaseRevoke({ ID: leaseId }).catch((err: Error) => {
      if (!/not found/i.test(err.message)) throw err;
    });
  }

  /**
   * Creates `key` = `value` on `leaseId` unless it exists. Resolves to the key as it stands after:
   * ours (`createRevision` of this write) or whoever holds it.
   */
  async createIfAbsent(key: string, value: MasterAddress, leaseId: string): Promise<{ created: boolean; record: LeaderRecord }> {
    const res = await this.etcd
      .if(key, 'Create', '==', 0)
      .then(this.etcd.put(key).value(JSON.stringify(value)).lease(leaseId))
      .else(this.etcd.get(key))
      .commit();
    if (res.succeeded) return { created: true, record: { holder: value, createRevision: Number(res.header.revision) } };
    const kv = res.responses[0]?.response_range?.kvs?.[0];
    return { created: false, record: kv ? { holder: readAddress(kv.value.toString()), createRevision: Number(kv.create_revision) } : { holder: undefined, createRevision: 0 } };
  }

  /** The key as it stands: its holder and create revision (0 when absent). */
  async readLeader(key: string): Promise<LeaderRecord> {
    const res = await this.etcd.kv.range({ key: Buffer.from(key) });
    const kv = res.kvs[0];
    return kv ? { holder: readAddress(kv.value.toString()), createRevision: Number(kv.create_revision) } : { holder: undefined, createRevision: 0 };
  }

  /** Puts `key` on a lease (a member's address). */
  async putOnLease(key: string, value: string, leaseId: string): Promise<void> {
    await this.etcd.put(key).value(value).lease(leaseId).exec();
  }

  /** Every key under `prefix`, with its value (the prefix stripped). */
  async readPrefix(prefix: string): Promise<Map<string, string>> {
    const all = await this.etcd.getAll().prefix(prefix).strings();
    const out = new Map<string, string>();
    for (const [key, value] of Object.entries(all)) out.set(key.slice(prefix.length), value);
    return out;
  }

  /**
   * Applies `ops` in one transaction if `fenceKey` still has `createRevision` (this master still
   * leads); false when the fence refused it (nothing applied).
   */
  async fencedTxn(fenceKey: string, createRevision: number, ops: readonly EtcdOp[]): Promise<boolean> {
    const res = await this.etcd
      .if(fenceKey, 'Create', '==', createRevision)
      .then(...ops.map((o) => (o.op === 'put' ? this.etcd.put(o.key).value(o.value) : this.etcd.delete().key(o.key))))
      .commit();
    return res.succeeded;
  }

  /** Closes the connection; idempotent. */
  close(): void {
    this.etcd.close();
  }
}

/** A MasterAddress read back from etcd, or undefined when the value is not one (written by something else). */
export function readAddress(text: string): MasterAddress | undefined {
  try {
    const v = JSON.parse(text) as Partial<MasterAddress>;
    if (typeof v.masterId === 'string' && typeof v.address === 'string' && typeof v.httpUrl === 'string') return { masterId: v.masterId, address: v.address, httpUrl: v.httpUrl };
  } catch {
    // not JSON
  }
  return undefined;
}

/**
 * The live masters of `cluster` as etcd lists them, the leader first: how a client given
 * `etcd://...` instead of a master list finds the masters. Empty when none has registered.
 */
export async function readMasters(endpoints: readonly string[], cluster: string): Promise<MasterAddress[]> {
  const client = new EtcdClient(endpoints);
  try {
    const keys = clusterKeys(cluster);
    const [leader, members] = await Promise.all([client.readLeader(keys.leader), client.readPrefix(keys.members)]);
    const all = [...members.values()].map(readAddress).filter((m): m is MasterAddress => m !== undefined);
    const first = leader.holder ? all.filter((m) => m.masterId === leader.holder!.masterId) : [];
    return [...first, ...all.filter((m) => !first.includes(m))];
  } finally {
    client.close();
  }
}
