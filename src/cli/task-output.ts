/**
 * Streams a task's stdout and stderr from its agent's HTTP endpoint
 * (`GET /tasks/{id}/{stdout|stderr}?offset=N`), polling with offsets while the task runs and
 * draining what is left after it ended.
 */
import { agentFetch } from './agent-http.js';

/** How often the output is polled while the task runs. */
export const OUTPUT_POLL_MS = 200;
const REQUEST_TIMEOUT_MS = 3_000;
/** After the task ended, at most this many reads per stream (each returns what is new). */
const MAX_DRAIN_READS = 50;

type StreamName = 'stdout' | 'stderr';

/** Where the bytes go: anything with a write(Uint8Array). */
export interface OutputSink {
  write(chunk: Uint8Array): unknown;
}

/** Which task, on which agent, and where its output goes. */
export interface TaskOutputOptions {
  /** `http://host:port` of the agent. */
  agentUrl: string;
  taskId: string;
  stdout: OutputSink;
  stderr: OutputSink;
  pollMs?: number;
}

/** Polls one task's output; start() begins, drain() stops polling and fetches the rest. */
export class TaskOutput {
  private readonly offsets: Record<StreamName, number> = { stdout: 0, stderr: 0 };
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: TaskOutputOptions) {}

  /** Starts polling; a no-op when already started or drained. */
  start(): void {
    if (this.timer || this.stopped) return;
    const tick = (): void => {
      this.inFlight = this.pollOnce().finally(() => {
        this.inFlight = undefined;
        if (!this.stopped) this.timer = setTimeout(tick, this.options.pollMs ?? OUTPUT_POLL_MS);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Stops polling and reads each stream until nothing new comes back. */
  async drain(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
    for (const name of ['stdout', 'stderr'] as const) {
      for (let i = 0; i < MAX_DRAIN_READS; i++) {
        if ((await this.read(name)) === 0) break;
      }
    }
  }

  /** Stops polling without reading the rest. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async pollOnce(): Promise<void> {
    await this.read('stdout');
    await this.read('stderr');
  }

  /** Reads what is new on one stream and writes it out; returns the byte count (0 on any failure). */
  private async read(name: StreamName): Promise<number> {
    const { agentUrl, taskId } = this.options;
    const url = `${agentUrl}/tasks/${encodeURIComponent(taskId)}/${name}?offset=${this.offsets[name]}`;
    try {
      const res = await agentFetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      // 404: the agent does not know the task (yet); anything else non-2xx: try again later.
      if (!res.ok) {
        await res.body?.cancel();
        return 0;
      }
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.length > 0) {
        this.offsets[name] += bytes.length;
        this.options[name].write(bytes);
      }
      return bytes.length;
    } catch {
      return 0;
    }
  }
}
