/**
 * A sorted list kept in short blocks, for the DRF sorter's order. A plain sorted array costs a move
 * of every element after the changed one per insert or removal (≈2.5 µs per change at 1,000
 * frameworks, paid twice per offer); here a change moves at most one block's elements, and
 * iteration in order stays a walk over arrays.
 */

/** Blocks are split when they reach twice this length. */
const BLOCK = 32;

export class BlockList<T> {
  private blocks: T[][] = [];
  private count = 0;

  /** `compare` orders the items; it must not change for an item while the item is in the list. */
  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.count;
  }

  /** Adds an item at its place in the order (before equal items). */
  insert(item: T): void {
    this.count++;
    const b = this.blockFor(item);
    const block = this.blocks[b];
    if (block === undefined) {
      this.blocks.push([item]);
      return;
    }
    block.splice(lowerBound(block, item, this.compare), 0, item);
    if (block.length >= 2 * BLOCK) this.blocks.splice(b + 1, 0, block.splice(BLOCK));
  }

  /** Removes an item (found by `compare`, or by identity when compare cannot find it); false if absent. */
  remove(item: T): boolean {
    const [b, i] = this.locate(item);
    if (b < 0) return false;
    this.removeAt(b, i);
    return true;
  }

  /**
   * Applies `mutate`, which may change where `item` sorts, and moves the item to its new place;
   * returns whether it moved (false also when the item is absent: then `mutate` still runs).
   */
  update(item: T, mutate: () => void): boolean {
    const [b, i] = this.locate(item);
    mutate();
    if (b < 0) return false;
    const block = this.blocks[b]!;
    const before = i > 0 ? block[i - 1] : this.blocks[b - 1]?.at(-1);
    const after = i + 1 < block.length ? block[i + 1] : this.blocks[b + 1]?.[0];
    if ((before === undefined || this.compare(before, item) < 0) && (after === undefined || this.compare(item, after) < 0)) {
      return false;
    }
    this.removeAt(b, i);
    this.insert(item);
    return true;
  }

  /** The first item, in order, that `accept` approves; `accept` must not change the list. */
  find(accept: (item: T) => boolean): T | undefined {
    for (const block of this.blocks) for (const item of block) if (accept(item)) return item;
    return undefined;
  }

  /** Every item, in order, as a new array. */
  toArray(): T[] {
    const out: T[] = [];
    for (const block of this.blocks) for (const item of block) out.push(item);
    return out;
  }

  /** Sorts again after the order of items changed (compare now answers differently). */
  resort(): void {
    const all = this.toArray().sort(this.compare);
    this.blocks = [];
    for (let i = 0; i < all.length; i += BLOCK) this.blocks.push(all.slice(i, i + BLOCK));
  }

  /** The block and index of an item, or [-1, -1]. */
  private locate(item: T): [number, number] {
    const b = this.blockFor(item);
    const block = this.blocks[b];
    if (block !== undefined) {
      const i = lowerBound(block, item, this.compare);
      if (block[i] === item) return [b, i];
    }
    // Only reachable if an item's order changed while it was in the list.
    for (let k = 0; k < this.blocks.length; k++) {
      const i = this.blocks[k]!.indexOf(item);
      if (i >= 0) return [k, i];
    }
    return [-1, -1];
  }

  private removeAt(b: number, i: number): void {
    const block = this.blocks[b]!;
    block.splice(i, 1);
    this.count--;
    if (block.length === 0) this.blocks.splice(b, 1);
  }

  /** The first block whose last item does not sort before `item`, or the last block (0 when none). */
  private blockFor(item: T): number {
    let lo = 0;
    let hi = this.blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const block = this.blocks[mid]!;
      if (this.compare(block[block.length - 1]!, item) < 0) lo = mid + 1;
      else hi = mid;
    }
    return Math.max(0, lo);
  }
}

/** The first index whose item does not sort before `item`. */
function lowerBound<T>(list: readonly T[], item: T, compare: (a: T, b: T) => number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(list[mid]!, item) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

