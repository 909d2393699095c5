/**
 * An in-memory RegistryStore for unit tests and simulations. Values go through JSON on the way in
 * and out, as with a real store, so a test sees the same copies and the same unstorable values.
 */
import { RegistryClosedError } from './registry-store.js';
import type { RegistryOp, RegistryStore } from './registry-store.js';

/** A RegistryStore held in a Map; nothing survives the process. Can be told to fail writes. */
export class MemoryRegistryStore implements RegistryStore {
  private readonly entries = new Map<string, string>();
  private closed = false;
  private failure: Error | undefined;
  /** Batches written so far (including empty ones); lets a test see how many writes a call made. */
  writes = 0;

  /** Starts with `initial` stored as is, unvalidated (to seed a malformed value, say). */
  constructor(initial: Iterable<readonly [string, unknown]> = []) {
    for (const [key, value] of initial) this.entries.set(key, JSON.stringify(value));
  }

  /** A copy of every entry; rejects after close(). */
  async load(): Promise<Map<string, unknown>> {
    if (this.closed) throw new RegistryClosedError('memory registry store is closed');
    const out = new Map<string, unknown>();
    for (const [key, json] of this.entries) out.set(key, JSON.parse(json));
    return out;
  }

  /** Applies the batch atomically; rejects, changing nothing, while failWrites is set or after close(). */
  async write(ops: readonly RegistryOp[]): Promise<void> {
    if (this.closed) throw new RegistryClosedError('memory registry store is closed');
    if (this.failure) throw this.failure;
    const staged: [string, string | undefined][] = ops.map((op) => {
      if (op.op === 'delete') return [op.key, undefined];
      const json = JSON.stringify(op.value) as string | undefined;
      if (json === undefined) throw new TypeError(`value for key '${op.key}' cannot be stored as JSON`);
      return [op.key, json];
    });
    this.writes += 1;
    for (const [key, json] of staged) {
      if (json === undefined) this.entries.delete(key);
      else this.entries.set(key, json);
    }
  }

  private epoch = 0;

  async takeEpoch(): Promise<number> {
    return ++this.epoch;
  }

  /** Makes every later write reject with `error` (a simulated disk failure); undefined clears it. */
  failWrites(error: Error | undefined): void {
    this.failure = error;
  }

  /** Later loads and writes reject. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
  }
}
