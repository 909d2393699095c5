/**
 * The DRF sorter (Mesos' Sorter): ranks clients — roles, or the frameworks inside a role — by
 * weighted dominant share, lowest first; ties go to the client allocated to fewer times (as in
 * Mesos: among equals, the one served less often goes first, so a client that keeps being offered
 * and letting its offers lapse cannot stay ahead of a newcomer), then by name. It only orders; it never decides what to
 * offer. Kept sorted incrementally: a change to one client moves that client alone (binary search,
 * then a splice inside one short block of the order), so a cycle with k allocations costs k small
 * moves, not k full sorts.
 */
import { accumulate, dominantShare, type Scalars } from '../../common/scalars.js';
import { BlockList } from './block-list.js';

interface Client {
  name: string;
  weight: number;
  allocation: Scalars;
  active: boolean;
  /** Weighted dominant share: dominant share / weight. */
  key: number;
  /** How many times resources were allocated to it: the first tie-break. */
  allocations: number;
}

export class DrfSorter {
  private readonly clients = new Map<string, Client>();
  /** Active clients in order. */
  private readonly order = new BlockList<Client>(compare);
  /** Names in order, rebuilt only after the order changes (most changes leave it as it was). */
  private names: string[] | undefined;
  private total: Scalars = {};

  /** Adds an active client with no allocation; a no-op if it is there. */
  add(name: string, weight = 1): void {
    if (this.clients.has(name)) return;
    const client: Client = { name, weight, allocation: {}, active: true, key: 0, allocations: 0 };
    this.clients.set(name, client);
    this.insert(client);
  }

  /** Removes a client; a no-op if it is not there. */
  remove(name: string): void {
    const client = this.clients.get(name);
    if (!client) return;
    if (client.active) this.detach(client);
    this.clients.delete(name);
  }

  has(name: string): boolean {
    return this.clients.has(name);
  }

  /** Puts a client back into the order; a no-op if it is active or unknown. */
  activate(name: string): void {
    const client = this.clients.get(name);
    if (!client || client.active) return;
    client.active = true;
    this.insert(client);
  }

  /** Takes a client out of the order, keeping its allocation; a no-op if inactive or unknown. */
  deactivate(name: string): void {
    const client = this.clients.get(name);
    if (!client || !client.active) return;
    this.detach(client);
    client.active = false;
  }

  /** Records resources given to a client (offered or used). */
  allocated(name: string, amount: Scalars): void {
    this.change(name, amount, 1);
  }

  /** Records resources a client gave back. */
  unallocated(name: string, amount: Scalars): void {
    this.change(name, amount, -1);
  }

  /** Sets a client's weight (default 1); a share counts as share / weight. */
  updateWeight(name: string, weight: number): void {
    const client = this.clients.get(name);
    if (!client) return;
    this.reposition(client, () => {
      client.weight = weight;
    });
  }

  /** Sets the cluster total that shares are fractions of; re-ranks everyone. */
  updateTotal(total: Scalars): void {
    this.total = { ...total };
    for (const c of this.clients.values()) c.key = this.keyOf(c);
    this.order.resort();
    this.names = undefined;
  }

  /** A client's allocation (empty for unknown clients). */
  allocation(name: string): Scalars {
    return this.clients.get(name)?.allocation ?? {};
  }

  /** A client's dominant share, unweighted. */
  share(name: string): number {
    const client = this.clients.get(name);
    return client ? dominantShare(client.allocation, this.total) : 0;
  }

  weight(name: string): number {
    return this.clients.get(name)?.weight ?? 1;
  }

  /**
   * Active clients, lowest weighted share first. A snapshot, never changed later: a change that
   * reorders clients makes a new array (one that leaves the order as it was returns the same one).
   */
  sort(): readonly string[] {
    this.names ??= this.order.toArray().map((c) => c.name);
    return this.names;
  }

  /**
   * The first active client, lowest weighted share first, that `accept` approves; undefined when
   * none does. Walks the live order without copying it, so `accept` must not change this sorter.
   */
  find(accept: (name: string) => boolean): string | undefined {
    return this.order.find((client) => accept(client.name))?.name;
  }

  /** Number of active clients. */
  get size(): number {
    return this.order.size;
  }

  private change(name: string, amount: Scalars, sign: 1 | -1): void {
    const client = this.clients.get(name);
    if (!client) return;
    const mutate = (): void => {
      accumulate(client.allocation, amount, sign);
      if (sign === 1) client.allocations++;
      client.key = this.keyOf(client);
    };
    if (!client.active) mutate();
    else if (this.order.update(client, mutate)) this.names = undefined;
  }

  private reposition(client: Client, mutate: () => void): void {
    if (client.active) this.detach(client);
    mutate();
    client.key = this.keyOf(client);
    if (client.active) this.insert(client);
  }

  private keyOf(client: Client): number {
    return dominantShare(client.allocation, this.total) / (client.weight > 0 ? client.weight : 1);
  }

  private insert(client: Client): void {
    client.key = this.keyOf(client);
    this.order.insert(client);
    this.names = undefined;
  }

  private detach(client: Client): void {
    this.names = undefined;
    this.order.remove(client);
  }
}

function compare(a: Client, b: Client): number {
  return a.key - b.key || a.allocations - b.allocations || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
