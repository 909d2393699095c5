/**
 * A whole cluster around one MasterCore, in memory and on a manual clock: simulated agents that
 * behave as the real agent does where it matters for task ends (commands arrive on a stream that a
 * crash cuts, updates are queued per task and resent until acknowledged, a restart reports what
 * the checkpoint holds), and simulated frameworks that hold offers, launch, kill and acknowledge.
 * Property tests drive it with random steps and then check what the frameworks saw.
 */
import type { FrameworkInfo, Offer } from '../../src/common/cluster.js';
import { ManualClock } from '../../src/common/clock.js';
import { newUpdateUuid } from '../../src/common/ids.js';
import { add, contains, formatResources, parseResources, type Resources } from '../../src/common/resources.js';
import { isTerminal, type TaskSpec, type TaskState, type TaskStatus } from '../../src/common/tasks.js';
import { MasterCore } from '../../src/master/core.js';
import type { AgentChannel, AgentCommand, FrameworkChannel, SchedulerEvent } from '../../src/master/ports.js';
import { agentInfo, frameworkInfo, makeTask } from './builders.js';
import { settle } from './core-harness.js';

export const SIM_START = 1_700_000_000_000;
const HEARTBEAT_MS = 5_000;

/** A stream end: what one side sent, until the stream is cut. */
class SimAgentChannel implements AgentChannel {
  readonly address = '127.0.0.1';
  readonly inbox: AgentCommand[] = [];
  closed = false;
  send(command: AgentCommand): void {
    if (!this.closed) this.inbox.push(command);
  }
  close(): void {
    this.closed = true;
  }
}

class SimFrameworkChannel implements FrameworkChannel {
  readonly inbox: SchedulerEvent[] = [];
  closed = false;
  send(event: SchedulerEvent): void {
    if (!this.closed && event.type !== 'heartbeat') this.inbox.push(event);
  }
  close(): void {
    this.closed = true;
  }
}

interface SimTask {
  spec: TaskSpec;
  framework: FrameworkInfo;
  state: TaskState;
  /** Unacknowledged updates, oldest first (the head is the one in flight). */
  queue: TaskStatus[];
  latest: TaskStatus;
}

export class SimAgent {
  id = '';
  channel: SimAgentChannel | undefined;
  readonly tasks = new Map<string, SimTask>();
  /** Not heartbeating (a partition, or a frozen process). */
  silent = false;
  gone = false;

  constructor(private readonly sim: Sim, readonly hostname: string, readonly resources: string) {}

  get connected(): boolean {
    return this.channel !== undefined && !this.channel.closed;
  }

  /** (Re)connects: registers the first time, afterwards re-registers with what the checkpoint holds. */
  async connect(resources = this.resources): Promise<boolean> {
    if (this.gone) return false;
    const channel = new SimAgentChannel();
    const info = agentInfo(resources, { id: this.id, hostname: this.hostname, containerizers: ['process'] });
    if (!this.id) {
      this.id = await this.sim.core.registerAgent(channel, info);
      this.channel = channel;
      return true;
    }
    const reported = [...this.tasks.values()].filter((t) => !isTerminal(t.state) || t.queue.length > 0);
    try {
      await this.sim.core.reregisterAgent(channel, info, reported.map((t) => ({ spec: t.spec, frameworkId: t.framework.id, latest: t.latest })), [...new Map(reported.map((t) => [t.framework.id, t.framework])).values()]);
    } catch {
      return false; // refused (resources that do not hold its tasks, or marked gone)
    }
    this.channel = channel;
    this.resendAll();
    return true;
  }

  /** The stream breaks: whatever was on its way is lost. */
  disconnect(): void {
    const channel = this.channel;
    if (!channel) return;
    this.channel = undefined;
    channel.closed = true;
    if (this.id) this.sim.core.agentDisconnected(this.id, channel);
  }

  /**
   * The process dies and starts again; with `loseTask`, one live task's checkpoint is unreadable
   * (its container is removed as an orphan). Returns whether a live task was lost.
   */
  restart(loseTask: boolean): boolean {
    this.disconnect();
    if (!loseTask) return false;
    const victim = [...this.tasks].find(([, t]) => !isTerminal(t.state))?.[0];
    if (victim) this.tasks.delete(victim);
    return victim !== undefined;
  }

  /** Carries out the commands that reached it, in order. */
  deliver(): void {
    const channel = this.channel;
    if (!channel) return;
    if (channel.closed) {
      this.disconnect();
      return;
    }
    for (const command of channel.inbox.splice(0)) {
      switch (command.type) {
        case 'runTask': {
          const key = `${command.framework.id}/${command.task.taskId}`;
          if (this.tasks.has(key) && !isTerminal(this.tasks.get(key)!.state)) break;
          const task: SimTask = { spec: command.task, framework: command.framework, state: 'STAGING', queue: [], latest: this.status(command.framework.id, command.task.taskId, 'STAGING') };
          this.tasks.set(key, task);
          this.update(task, 'STARTING');
          break;
        }
        case 'killTask': {
          const task = this.tasks.get(`${command.frameworkId}/${command.taskId}`);
          if (task && !isTerminal(task.state)) this.update(task, 'KILLED');
          break;
        }
        case 'shutdownFramework':
          for (const task of this.tasks.values()) if (task.framework.id === command.frameworkId && !isTerminal(task.state)) this.update(task, 'KILLED');
          break;
        case 'ack': {
          const task = this.tasks.get(`${command.frameworkId}/${command.taskId}`);
          if (task?.queue[0]?.uuid === command.uuid) {
            task.queue.shift();
            if (task.queue[0]) this.send(task.queue[0]);
          }
          break;
        }
        case 'refused':
          this.gone = true;
          this.channel = undefined;
          return;
        default:
          break;
      }
    }
  }

  /** One task moves on by itself: STARTING → RUNNING → FINISHED or FAILED. */
  progress(pick: number, fail: boolean): void {
    const live = [...this.tasks.values()].filter((t) => !isTerminal(t.state));
    const task = live[pick % Math.max(1, live.length)];
    if (!task) return;
    if (task.state === 'STARTING' || task.state === 'STAGING') this.update(task, 'RUNNING');
    else if (task.state === 'RUNNING') this.update(task, fail ? 'FAILED' : 'FINISHED');
  }

  /** The retry timer: the head of every queue again. */
  resendAll(): void {
    for (const task of this.tasks.values()) if (task.queue[0]) this.send(task.queue[0]);
  }

  heartbeat(): void {
    if (this.connected && !this.silent) this.sim.core.agentHeartbeat(this.id);
  }

  private status(frameworkId: string, taskId: string, state: TaskState): TaskStatus {
    return { taskId, frameworkId, agentId: this.id, state, source: 'AGENT', reason: 'NONE', message: '', timestamp: this.sim.clock.now(), uuid: newUpdateUuid() };
  }

  private update(task: SimTask, state: TaskState): void {
    const status = this.status(task.framework.id, task.spec.taskId, state);
    task.state = state;
    task.latest = status;
    task.queue.push(status);
    if (task.queue.length === 1) this.send(status);
  }

  private send(status: TaskStatus): void {
    if (this.connected && !this.silent) this.sim.core.agentStatusUpdate(this.id, status);
  }
}

export class SimFramework {
  id = '';
  streamId = '';
  channel: SimFrameworkChannel | undefined;
  removed = false;
  readonly offers = new Map<string, Offer>();
  readonly usedOfferIds: string[] = [];
  /** Every task id it asked to launch. */
  readonly launched = new Set<string>();
  /** Updates with a uuid it acted on, once each, per task. */
  readonly seen = new Map<string, TaskStatus[]>();
  private readonly uuids = new Set<string>();

  constructor(private readonly sim: Sim, readonly info: FrameworkInfo) {}

  get connected(): boolean {
    return this.channel !== undefined && !this.channel.closed && !this.removed;
  }

  async subscribe(): Promise<void> {
    if (this.removed) return;
    const channel = new SimFrameworkChannel();
    try {
      const ids = await this.sim.core.subscribe({ ...this.info, id: this.id }, channel);
      this.id = ids.frameworkId;
      this.streamId = ids.streamId;
      this.channel = channel;
      this.offers.clear();
    } catch {
      this.removed = true;
    }
  }

  async disconnect(): Promise<void> {
    if (!this.channel) return;
    this.channel.closed = true;
    this.channel = undefined;
    this.offers.clear();
    this.sim.core.frameworkDisconnected(this.id, this.streamId);
    await settle();
  }

  /** Handles what reached it: offers are held, updates recorded once and acknowledged. */
  deliver(): void {
    const channel = this.channel;
    if (!channel) return;
    for (const event of channel.inbox.splice(0)) {
      if (event.type === 'offers') for (const o of event.offers) this.offers.set(o.id, o);
      else if (event.type === 'rescind') this.offers.delete(event.offerId);
      else if (event.type === 'error') this.removed = true;
      else if (event.type === 'update' && event.status.uuid) {
        const s = event.status;
        if (!this.uuids.has(s.uuid!)) {
          this.uuids.add(s.uuid!);
          this.seen.set(s.taskId, [...(this.seen.get(s.taskId) ?? []), s]);
        }
        this.call((record) => this.sim.core.acknowledge(record, s.agentId, s.taskId, s.uuid!));
      }
    }
    if (channel.closed && this.channel === channel) {
      this.channel = undefined;
      this.offers.clear();
    }
  }

  /** Accepts a held offer with `count` small tasks (`tooBig`: one asks for more than any agent has); false when it holds none. */
  async launch(count: number, tooBig: boolean): Promise<boolean> {
    const offer = [...this.offers.values()][0];
    if (!offer) return false;
    this.offers.delete(offer.id);
    this.usedOfferIds.push(offer.id);
    const tasks = Array.from({ length: count }, (_, i) => makeTask(`t${this.sim.nextTaskId()}`).on('').resources(tooBig && i === 0 ? 'cpus:64;mem:32' : 'cpus:0.1;mem:32').obj());
    if (await this.call((record) => this.sim.core.accept(record, [offer.id], [{ type: 'LAUNCH', tasks }], 0))) for (const task of tasks) this.launched.add(task.taskId);
    return true;
  }

  /** Accepts an offer it already used: every task is dropped. */
  async launchStale(): Promise<void> {
    const stale = this.usedOfferIds.at(-1);
    if (!stale) return;
    const task = makeTask(`t${this.sim.nextTaskId()}`).on('').resources('cpus:0.1;mem:32').obj();
    if (await this.call((record) => this.sim.core.accept(record, [stale], [{ type: 'LAUNCH', tasks: [task] }], 0))) this.launched.add(task.taskId);
  }

  async declineAll(): Promise<void> {
    const ids = [...this.offers.keys()];
    this.offers.clear();
    if (ids.length > 0) await this.call((record) => this.sim.core.decline(record, ids, 0));
  }

  async kill(pick: number): Promise<void> {
    const open = this.openTasks();
    const taskId = open[pick % Math.max(1, open.length)];
    if (taskId) await this.call((record) => this.sim.core.kill(record, taskId));
  }

  async reconcile(): Promise<void> {
    await this.call((record) => this.sim.core.reconcile(record, []));
  }

  async teardown(): Promise<void> {
    await this.call((record) => this.sim.core.teardown(record));
    this.deliver();
    this.removed = true;
  }

  /** Tasks it launched whose end it has not seen. */
  openTasks(): string[] {
    return [...this.launched].filter((id) => !(this.seen.get(id) ?? []).some((s) => isTerminal(s.state)));
  }

  /** A scheduler call on its current stream; false when it could not be made or was refused (nothing changed). */
  private async call(fn: (record: ReturnType<MasterCore['requireFramework']>) => unknown): Promise<boolean> {
    if (!this.connected) return false;
    try {
      await fn(this.sim.core.requireFramework(this.id, this.streamId));
      return true;
    } catch {
      // Refused: as a real framework, it finds out on its next subscription.
      return false;
    }
  }
}

export class Sim {
  readonly clock = new ManualClock(SIM_START);
  readonly core: MasterCore;
  readonly agents: SimAgent[] = [];
  readonly frameworks: SimFramework[] = [];
  private taskSeq = 0;

  private constructor() {
    this.core = new MasterCore({ masterId: 'sim', epoch: 1, clock: this.clock, allocationIntervalMs: 1000, agentPingTimeoutMs: HEARTBEAT_MS * 3, maxAgentPingMisses: 5 });
  }

  /** A cluster with an agent per entry of `agentResources`, and `frameworks` frameworks, all connected. */
  static async start(agentResources: string[], frameworks: number): Promise<Sim> {
    const sim = new Sim();
    for (const [i, r] of agentResources.entries()) {
      const agent = new SimAgent(sim, `sim-${i}`, r);
      await agent.connect();
      sim.agents.push(agent);
    }
    for (let i = 0; i < frameworks; i++) {
      const fw = new SimFramework(sim, frameworkInfo({ name: `fw-${i}`, failoverTimeoutMs: 60_000 }));
      // Ids of its own, not the master's random ones: the allocator breaks ties by id, so a seed replays.
      fw.id = `fw-${i}`;
      await fw.subscribe();
      sim.frameworks.push(fw);
    }
    return sim;
  }

  nextTaskId(): number {
    return ++this.taskSeq;
  }

  /** Time passes in heartbeat steps; agents that are connected and not silent heartbeat. */
  async tick(ms: number): Promise<void> {
    for (let left = ms; left > 0; left -= HEARTBEAT_MS) {
      this.clock.advance(Math.min(HEARTBEAT_MS, left));
      await settle();
      for (const a of this.agents) a.heartbeat();
    }
  }

  /** Everything delivered that was on its way, a few rounds (a delivery can cause more). */
  pump(rounds = 3): void {
    for (let i = 0; i < rounds; i++) {
      for (const a of this.agents) a.deliver();
      for (const f of this.frameworks) f.deliver();
    }
  }

  /**
   * The faults end: every agent that may come back does (with its own resources), every
   * framework not removed re-subscribes, then each kills whatever it has not seen end, and the
   * cluster runs until nothing is left to deliver.
   */
  async settle(): Promise<void> {
    for (let round = 0; round < 6; round++) {
      for (const a of this.agents) {
        a.silent = false;
        if (!a.connected) await a.connect();
      }
      for (const f of this.frameworks) if (!f.connected && !f.removed) await f.subscribe();
      this.pump();
      for (const a of this.agents) a.resendAll();
      this.pump();
      if (round >= 2) for (const f of this.frameworks) for (let i = 0; i < f.openTasks().length; i++) await f.kill(i);
      this.pump();
      await this.tick(1000);
    }
  }

  /** Agents whose used + offered exceeds what they have, as `hostname: text`. */
  overcommitted(): string[] {
    const bad: string[] = [];
    const view = this.core.view;
    for (const agent of view.agents()) {
      const committed: Resources = add(view.usedOn(agent.info.id), view.offeredOn(agent.info.id));
      if (!contains(agent.info.resources, committed)) bad.push(`${agent.info.id}: ${formatResources(committed)} of ${formatResources(agent.info.resources)}`);
    }
    return bad;
  }
}

export const SIM_RESOURCES = ['cpus:1;mem:512', 'cpus:2;mem:1024'];
export const smaller = (text: string): string => formatResources(parseResources(text).map((r) => (r.kind === 'scalar' ? { ...r, scalar: 0.1 } : r)));
