/**
 * The load for the end-to-end benchmark: F frameworks on the public SDK, in this process, that
 * launch short simulated tasks on the offers they get. Each offer is filled with as many tasks as
 * fit (one Accept launches them all), within an allowance: in `peak` mode a cap on tasks launched
 * but not yet RUNNING (a closed loop, so an overloaded master is measured, not buried); in `rate`
 * mode a token bucket shared by all frameworks. Offers left over are declined in one call with a
 * short refuse so they come back at the next allocation.
 *
 * It records, per task, when the offer it was launched on arrived, and per RUNNING update the time
 * from that arrival (offer→RUNNING, all in this process's clock), and counts RUNNING updates per
 * 100 ms so a window's rate can be read afterwards.
 */
import { buildTask, parseResources, SchedulerClient, type Offer, type Resources, type TaskSpec, type TaskStatus } from '../src/framework-sdk/index.js';
import type { ClientSecurity } from '../src/common/credentials.js';

export interface LoadOptions {
  master: string;
  frameworks: number;
  /** What each task asks for (unreserved scalars only). */
  task: string;
  taskMs: number;
  /** Peak mode: tasks launched but not yet RUNNING, over all frameworks. */
  maxInFlight: number;
  /** Refuse seconds for declines and for what an Accept leaves over. */
  refuseSeconds: number;
  /** How the frameworks reach the master (default: the SDK's, $ORBIT_CREDENTIALS). */
  security?: ClientSecurity;
}

type Mode = { kind: 'peak' } | { kind: 'rate'; perS: number; burstS: number };

const BUCKET_MS = 100;

export interface WindowStats {
  running: number;
  wallMs: number;
  perS: number;
  /** Per-second rates across the window (rolling 1 s over 100 ms buckets): min and max. */
  minPerS: number;
  maxPerS: number;
  latencies: number[];
}

export class Load {
  private readonly clients: SchedulerClient[] = [];
  private readonly taskResources: Resources;
  private readonly perTask: { cpus: number; mem: number };
  private mode: Mode = { kind: 'peak' };
  private tokens = 0;
  private tokensAt = performance.now();
  /** Offer arrival time of every task launched and not yet RUNNING (or ended). */
  private readonly offerAt = new Map<string, number>();
  private seq = 0;
  /** RUNNING updates per 100 ms bucket since `t0`. */
  private readonly buckets: number[] = [];
  private readonly t0 = performance.now();
  private latencies: number[] | undefined;
  readonly problems = new Map<string, number>();
  launched = 0;
  running = 0;
  accepts = 0;
  declines = 0;

  constructor(private readonly options: LoadOptions) {
    this.taskResources = parseResources(options.task);
    const scalarOf = (name: string) => this.taskResources.find((r) => r.name === name && r.kind === 'scalar')?.scalar ?? 0;
    this.perTask = { cpus: scalarOf('cpus'), mem: scalarOf('mem') };
    if (this.perTask.cpus <= 0 && this.perTask.mem <= 0) throw new Error(`--task must ask for cpus or mem: '${options.task}'`);
  }

  /** Subscribes every framework; resolves once all are subscribed. */
  async start(): Promise<void> {
    for (let i = 0; i < this.options.frameworks; i++) {
      const client = new SchedulerClient({ master: this.options.master, framework: { name: `e2e-${i}`, failoverTimeoutMs: 0 }, ...(this.options.security ? { security: this.options.security } : {}) });
      client.on('offers', (offers) => this.onOffers(client, i, offers));
      client.on('update', (status) => this.onUpdate(status));
      this.clients.push(client);
    }
    await Promise.all(this.clients.map((c) => c.start()));
  }

  /** Launch as fast as offers and the in-flight cap allow. */
  peak(): void {
    this.mode = { kind: 'peak' };
  }

  /** Launch at most `perS` tasks a second (bursts up to `burstS` seconds' worth). */
  rate(perS: number, burstS: number): void {
    this.mode = { kind: 'rate', perS, burstS };
    this.tokens = 0;
    this.tokensAt = performance.now();
  }

  /** Starts recording offer→RUNNING latencies and returns a function that ends the window. */
  window(): () => WindowStats {
    const start = performance.now();
    const running0 = this.running;
    this.latencies = [];
    return () => {
      const end = performance.now();
      const latencies = this.latencies ?? [];
      this.latencies = undefined;
      const running = this.running - running0;
      const wallMs = end - start;
      const per = this.rollingPerS(start, end);
      return { running, wallMs, perS: running / (wallMs / 1000), minPerS: per.min, maxPerS: per.max, latencies: latencies.sort((a, b) => a - b) };
    };
  }

  /** Tears every framework down (the master kills their tasks). */
  async stop(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.teardown()));
    for (const c of this.clients) c.close();
  }

  get inFlight(): number {
    return this.offerAt.size;
  }

  private rollingPerS(start: number, end: number): { min: number; max: number } {
    const first = Math.ceil((start - this.t0) / BUCKET_MS);
    const last = Math.floor((end - this.t0) / BUCKET_MS);
    const per = 1000 / BUCKET_MS;
    let min = Infinity;
    let max = 0;
    for (let b = first; b + per <= last; b++) {
      let n = 0;
      for (let j = b; j < b + per; j++) n += this.buckets[j] ?? 0;
      min = Math.min(min, n);
      max = Math.max(max, n);
    }
    return { min: min === Infinity ? NaN : min, max };
  }

  private allowance(now: number): number {
    if (this.mode.kind === 'peak') return Math.max(0, this.options.maxInFlight - this.offerAt.size);
    const { perS, burstS } = this.mode;
    this.tokens = Math.min(perS * burstS, this.tokens + ((now - this.tokensAt) / 1000) * perS);
    this.tokensAt = now;
    return Math.floor(this.tokens);
  }

  private fitCount(offer: Offer): number {
    let cpus = 0;
    let mem = 0;
    for (const r of offer.resources) {
      if (r.kind !== 'scalar' || r.role !== '*') continue;
      if (r.name === 'cpus') cpus += r.scalar ?? 0;
      else if (r.name === 'mem') mem += r.scalar ?? 0;
    }
    const byCpus = this.perTask.cpus > 0 ? Math.floor((cpus + 1e-9) / this.perTask.cpus) : Infinity;
    const byMem = this.perTask.mem > 0 ? Math.floor((mem + 1e-9) / this.perTask.mem) : Infinity;
    return Math.min(byCpus, byMem);
  }

  private onOffers(client: SchedulerClient, index: number, offers: Offer[]): void {
    const now = performance.now();
    let allowed = this.allowance(now);
    const unused: string[] = [];
    const filters = { refuseSeconds: this.options.refuseSeconds };
    for (const offer of offers) {
      const n = Math.min(allowed, this.fitCount(offer));
      if (n <= 0) {
        unused.push(offer.id);
        continue;
      }
      allowed -= n;
      if (this.mode.kind === 'rate') this.tokens -= n;
      const tasks: TaskSpec[] = [];
      for (let k = 0; k < n; k++) {
        const taskId = `e2e-${index}-${++this.seq}`;
        tasks.push(buildTask({ offer, taskId, resources: this.taskResources, simulated: { durationMs: this.options.taskMs } }));
        this.offerAt.set(taskId, now);
      }
      this.launched += n;
      this.accepts++;
      client.launch(offer, tasks, filters).catch((err: unknown) => {
        this.problem(`Accept: ${err instanceof Error ? err.message.replace(/after [\d.]+s.*/, '').slice(0, 120) : String(err)}`);
        for (const t of tasks) this.offerAt.delete(t.taskId);
      });
    }
    if (unused.length > 0) {
      this.declines++;
      client.decline(unused, filters).catch((err: unknown) => this.problem(`Decline: ${err instanceof Error ? err.message.replace(/after [\d.]+s.*/, '').slice(0, 120) : String(err)}`));
    }
  }

  private onUpdate(status: TaskStatus): void {
    switch (status.state) {
      case 'STARTING':
      case 'FINISHED':
        return;
      case 'RUNNING': {
        const at = this.offerAt.get(status.taskId);
        if (at === undefined) return; // a duplicate (a resent update) or a task of an earlier phase
        this.offerAt.delete(status.taskId);
        const now = performance.now();
        this.running++;
        const b = Math.floor((now - this.t0) / BUCKET_MS);
        while (this.buckets.length <= b) this.buckets.push(0);
        this.buckets[b]!++;
        this.latencies?.push(now - at);
        return;
      }
      default:
        this.offerAt.delete(status.taskId);
        this.problem(`${status.state} ${status.reason ?? ''}`.trim());
    }
  }

  private problem(what: string): void {
    this.problems.set(what, (this.problems.get(what) ?? 0) + 1);
  }
}
