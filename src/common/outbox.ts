/**
 * Coalesces what is sent in one turn of the event loop into one write: one message on an AgentLink
 * stream, one Acknowledge call from a framework. A burst (the tasks of one Accept, the updates of
 * tasks launched together, their acknowledgements) then costs one gRPC message instead of one
 * each; a lone item goes out as it is, one turn later. A turn's items past `maxItems` go in further
 * writes, so that one write stays under the receiver's message limit however much piles up in a
 * turn (an agent resending every unacknowledged update after re-registering, say).
 */
export class Outbox<T> {
  private queued: T[] = [];
  private scheduled = false;

  /** `write` gets one to `maxItems` items, oldest first. */
  constructor(
    private readonly write: (items: T[]) => void,
    private readonly maxItems = Number.POSITIVE_INFINITY,
  ) {}

  /** An Outbox for a stream: a lone message is written as it is, several (at most `maxItems`) as `batchOf(them)`, one message. */
  static forStream<T>(write: (message: T) => void, batchOf: (messages: T[]) => T, maxItems?: number): Outbox<T> {
    return new Outbox<T>((messages) => write(messages.length === 1 ? messages[0]! : batchOf(messages)), maxItems);
  }

  push(item: T): void {
    this.queued.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Writes what is queued now (before the stream is ended, say). */
  flush(): void {
    if (this.queued.length === 0) return;
    const items = this.queued;
    this.queued = [];
    if (items.length <= this.maxItems) return this.write(items);
    for (let i = 0; i < items.length; i += this.maxItems) this.write(items.slice(i, i + this.maxItems));
  }

  /** Drops what is queued (the stream is gone). */
  clear(): void {
    this.queued = [];
  }
}
