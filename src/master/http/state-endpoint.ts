/**
 * GET /state on a large cluster: one body built at a time, over several event-loop turns
 * (clusterStateJson), and shared by every request waiting for it. A request that arrives while a
 * body is being built waits for the next build, whose snapshot is taken after it arrived, so no
 * response shows the books older than its request; all requests that arrived during one build
 * share the next. Mesos batches its /state requests the same way (since 1.7).
 */
import type { Handler } from './router.js';

/** Runs `build` for callers, one build at a time; callers that come during a build share the next. */
export class BatchedBuild<T> {
  private running: Promise<T> | undefined;
  private queued: Promise<T> | undefined;

  constructor(private readonly build: () => Promise<T>) {}

  /** A result built after this call; the build is shared with every other call waiting for it. */
  get(): Promise<T> {
    if (!this.running) return this.launch();
    // The running build's snapshot may be older than this call: wait for the next one.
    this.queued ??= this.running.then(noop, noop).then(() => {
      this.queued = undefined;
      return this.launch();
    });
    return this.queued;
  }

  private launch(): Promise<T> {
    const build = this.build().finally(() => {
      if (this.running === build) this.running = undefined;
    });
    this.running = build;
    return build;
  }
}

const noop = (): void => undefined;

/** A route serving the JSON body (UTF-8) `build` makes, batched as above. */
export function batchedJsonRoute(build: () => Promise<Buffer>): Handler {
  const bodies = new BatchedBuild(build);
  return async (_req, res) => {
    const body = await bodies.get();
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store' });
    res.end(body);
  };
}
