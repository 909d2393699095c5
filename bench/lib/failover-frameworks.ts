/**
 * The frameworks of bench/failover.ts, in the benchmark's process, on the public SDK: together
 * they launch a fixed number of long-running simulated tasks (one per offer, so about one per
 * agent), then hold every offer they get (as bench/storm.ts's framework does), so that after a
 * failover each agent's free resources come back as a fresh offer once it has re-registered and
 * some framework has re-subscribed. Per kill (a "window", opened just before the SIGKILL) they
 * note when each framework re-subscribed, the first offer after that, when offers from every
 * agent had arrived, and every task update other than RUNNING ("disturbed").
 */
import { performance } from 'node:perf_hooks';
import { buildTask, isTerminal, SchedulerClient, type ClientSecurity, type Offer, type TaskStatus } from '../../src/framework-sdk/index.js';
import { sleep } from './cluster.js';

/** What one kill looked like from the frameworks' side (times from performance.now()). */
export interface FrameworkWindow {
  killedAt: number;
  /** Framework index → when it was subscribed again after the kill. */
  subscribedAt: Map<number, number>;
  /** The first offer any framework got on its new subscription. */
  firstOfferAt: number | undefined;
  /** Agents whose offers reached a framework on its new subscription. */
  offered: Set<string>;
  /** When `offered` held every agent. */
  allOffersAt: number | undefined;
  /** Updates other than RUNNING of tasks that were running when the window opened, in arrival order. */
  disturbed: TaskStatus[];
}

export interface FailoverFrameworksOptions {
  /** The masters' list, `h1:p1,h2:p2,h3:p3`. */
  master: string;
  security: ClientSecurity;
  frameworks: number;
  /** Every agent of the fleet: a window is complete once offers from this many agents arrived. */
  agents: number;
  /** Tasks to launch over all frameworks. */
  tasks: number;
  /** What each task takes (default `cpus:0.1;mem:32`). */
  taskResources?: string;
}

/** Launch calls outstanding at once over all frameworks: thousands of unary Accepts at once would time out on a busy master. */
const MAX_LAUNCHES_IN_FLIGHT = 64;

export class FailoverFrameworks {
  readonly clients: SchedulerClient[];
  /** Framework index → ids of its tasks that reached RUNNING. */
  readonly running: Set<string>[];
  private budget: number;
  private launchFailures = 0;
  /** Why launch calls failed, by message, for the error when the tasks do not all start. */
  private readonly launchErrors = new Map<string, number>();
  /** Offers waiting for a launch slot (held meanwhile), and launch calls outstanding. */
  private readonly queued: { i: number; offer: Offer }[] = [];
  private inFlight = 0;
  private steady = false;
  private window: FrameworkWindow | undefined;
  /** Framework index → subscribed on a stream opened after the window's kill. */
  private fresh: boolean[];
  private waiters: (() => void)[] = [];
  /** Terminal updates before the tasks were all running (launch faults, replaced; not counted as disturbed). */
  readonly launchPhaseUpdates: TaskStatus[] = [];

  constructor(private readonly options: FailoverFrameworksOptions) {
    this.budget = options.tasks;
    this.running = Array.from({ length: options.frameworks }, () => new Set<string>());
    this.fresh = Array.from({ length: options.frameworks }, () => false);
    this.clients = Array.from({ length: options.frameworks }, (_, i) => {
      const client = new SchedulerClient({
        master: options.master,
        security: options.security,
        framework: { name: `bench-failover-${i + 1}`, failoverTimeoutMs: 3_600_000 },
      });
      client.on('subscribed', () => this.onSubscribed(i));
      client.on('disconnected', () => (this.fresh[i] = false));
      client.on('offers', (offers) => this.onOffers(i, offers));
      client.on('update', (status) => this.onUpdate(i, status));
      return client;
    });
  }

  /** Subscribes every framework. */
  async start(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.start()));
  }

  /** Tasks RUNNING now, over all frameworks. */
  runningCount(): number {
    return this.running.reduce((n, s) => n + s.size, 0);
  }

  /** Resolves once every task is RUNNING; from then on offers are held and other updates count as disturbed. */
  async launched(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.runningCount() < this.options.tasks) {
      if (performance.now() > deadline) {
        const why = [...this.launchErrors].map(([m, n]) => `${n}× ${m}`).join('; ');
        throw new Error(`${this.runningCount()} of ${this.options.tasks} tasks RUNNING within ${timeoutMs} ms (${this.launchFailures} launch calls failed${why ? `: ${why}` : ''})`);
      }
      await this.wait(200);
    }
    this.steady = true;
  }

  /** Starts noting a kill that happens now. */
  open(killedAt: number): FrameworkWindow {
    this.fresh = this.fresh.map(() => false);
    this.window = { killedAt, subscribedAt: new Map(), firstOfferAt: undefined, offered: new Set(), allOffersAt: undefined, disturbed: [] };
    return this.window;
  }

  /** Resolves once every framework is back, has had an offer, and offers from every agent arrived; rejects after `timeoutMs`. */
  async recovered(w: FrameworkWindow, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (w.subscribedAt.size < this.clients.length || w.firstOfferAt === undefined || w.allOffersAt === undefined) {
      if (performance.now() > deadline) {
        throw new Error(`within ${timeoutMs} ms of the kill: ${w.subscribedAt.size} of ${this.clients.length} frameworks back, offers from ${w.offered.size} of ${this.options.agents} agents`);
      }
      await this.wait(200);
    }
  }

  close(): void {
    for (const c of this.clients) c.close();
  }

  private onSubscribed(i: number): void {
    this.fresh[i] = true;
    const w = this.window;
    if (w && !w.subscribedAt.has(i)) w.subscribedAt.set(i, performance.now());
    this.wake();
  }

  private onOffers(i: number, offers: Offer[]): void {
    const w = this.window;
    if (w && this.fresh[i]) {
      const now = performance.now();
      w.firstOfferAt ??= now;
      for (const o of offers) w.offered.add(o.agentId);
      if (w.offered.size >= this.options.agents) w.allOffersAt ??= now;
      this.wake();
    }
    if (this.budget <= 0) return; // held: never declined, so each agent stays offered to one framework
    for (const offer of offers) {
      if (this.budget <= 0) break;
      this.budget -= 1;
      this.queued.push({ i, offer });
    }
    this.pump();
  }

  /** Launches one task on each queued offer, at most MAX_LAUNCHES_IN_FLIGHT calls at a time. */
  private pump(): void {
    while (this.inFlight < MAX_LAUNCHES_IN_FLIGHT && this.queued.length > 0) {
      const { i, offer } = this.queued.shift()!;
      const task = buildTask({ offer, resources: this.options.taskResources ?? 'cpus:0.1;mem:32', simulated: {} });
      this.inFlight += 1;
      this.clients[i]!.launch(offer, [task])
        .catch((err: unknown) => {
          this.launchFailures += 1;
          this.budget += 1;
          const m = (err instanceof Error ? err.message : String(err)).slice(0, 100);
          this.launchErrors.set(m, (this.launchErrors.get(m) ?? 0) + 1);
        })
        .finally(() => {
          this.inFlight -= 1;
          this.pump();
        });
    }
  }

  private onUpdate(i: number, status: TaskStatus): void {
    const mine = this.running[i]!;
    if (status.state === 'RUNNING') {
      mine.add(status.taskId);
    } else if (!this.steady) {
      // Launch faults (a dropped launch): launch another in its place.
      if (isTerminal(status.state)) {
        this.launchPhaseUpdates.push(status);
        mine.delete(status.taskId);
        this.budget += 1;
      }
    } else {
      this.window?.disturbed.push(status);
    }
    this.wake();
  }

  private wait(ms: number): Promise<void> {
    return Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), sleep(ms)]);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
