/**
 * GET /stream: server-sent events for the dashboard. Every tick (1 s by default) the snapshot is
 * built once and written to every connected browser:
 * - `event: snapshot` with the whole DashboardSnapshot when anything but the time changed;
 * - `event: tick` with just `{"time":T}` when nothing did (a quiet cluster costs a few bytes).
 * No browser connected, no work. On a large cluster, where a snapshot takes tens of milliseconds,
 * ticks are skipped so that building snapshots stays under 1/MAX_BUILD_SHARE of the event loop.
 * A browser that stops reading is dropped once a megabyte is queued for it; EventSource
 * reconnects by itself and gets a fresh snapshot on arrival.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../../common/clock.js';
import type { DashboardSnapshot } from './dashboard-feed.js';

/** How often connected browsers get an update. */
export const STREAM_INTERVAL_MS = 1_000;
/** A browser with more than this queued is dropped (it reconnects). */
const MAX_QUEUED_BYTES = 1 << 20;
/** EventSource waits this long before reconnecting. */
const RETRY_MS = 2_000;
/** After a snapshot that took B ms, the next one is built no sooner than B × this later. */
const MAX_BUILD_SHARE = 20;

export class DashboardStream {
  private readonly clients = new Set<ServerResponse>();
  private timer: TimerHandle | undefined;
  /** The last snapshot sent, without its time, to tell whether anything changed. */
  private lastBody = '';
  private lastMessage = '';
  /** When the next snapshot may be built (see MAX_BUILD_SHARE). */
  private notBefore = 0;

  constructor(
    private readonly snapshot: () => DashboardSnapshot,
    private readonly clock: Clock,
    private readonly intervalMs = STREAM_INTERVAL_MS,
  ) {}

  get connections(): number {
    return this.clients.size;
  }

  /** Starts ticking; a no-op when already started. */
  start(): void {
    this.timer ??= this.clock.setRepeating(this.intervalMs, () => this.tick());
  }

  /** Stops ticking and ends every open stream. Idempotent. */
  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  /** The GET /stream handler. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.write(`retry: ${RETRY_MS}\n\n`);
    this.clients.add(res);
    const forget = (): void => void this.clients.delete(res);
    req.once('close', forget);
    res.once('close', forget);
    // A newcomer gets the whole picture at once; if it changed, so does everyone else (they
    // would otherwise miss this version: the next tick compares against it).
    const frame = (): string => `event: snapshot\ndata: ${this.lastMessage}\n\n`;
    if (this.refresh()) for (const client of this.clients) this.send(client, frame());
    else this.send(res, frame());
  };

  private tick(): void {
    if (this.clients.size === 0) {
      this.lastBody = '';
      return;
    }
    if (performance.now() < this.notBefore) return;
    const changed = this.refresh();
    const frame = changed ? `event: snapshot\ndata: ${this.lastMessage}\n\n` : `event: tick\ndata: {"time":${this.clock.now()}}\n\n`;
    for (const res of this.clients) this.send(res, frame);
  }

  /** Builds the snapshot; true when it differs from the last one beyond its time. */
  private refresh(): boolean {
    const started = performance.now();
    const { time, ...rest } = this.snapshot();
    const body = JSON.stringify(rest);
    const took = performance.now() - started;
    this.notBefore = started + took * MAX_BUILD_SHARE;
    const changed = body !== this.lastBody;
    this.lastBody = body;
    this.lastMessage = `{"time":${time},${body.slice(1)}`;
    return changed;
  }

  private send(res: ServerResponse, frame: string): void {
    if (res.writableLength > MAX_QUEUED_BYTES) {
      this.clients.delete(res);
      res.destroy();
      return;
    }
    res.write(frame);
  }
}
