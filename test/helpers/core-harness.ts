/**
 * A MasterCore with fake channels and a manual clock: what unit tests of the core drive.
 */
import type { FrameworkInfo, Offer } from '../../src/common/cluster.js';
import { ManualClock } from '../../src/common/clock.js';
import { formatResources, type Resources } from '../../src/common/resources.js';
import type { TaskSpec, TaskStatus } from '../../src/common/tasks.js';
import { MasterCore, type MasterCoreOptions } from '../../src/master/core.js';
import type { MasterView } from '../../src/master/master-view.js';
import type { AgentChannel, AgentCommand, FrameworkChannel, SchedulerEvent } from '../../src/master/ports.js';
import { agentInfo, frameworkInfo, makeTask } from './builders.js';

export const START = 1_700_000_000_000;

/** An agent's end of the AgentLink stream: records every command. */
export class FakeAgentChannel implements AgentChannel {
  readonly address = '10.0.0.7';
  readonly sent: AgentCommand[] = [];
  closed = false;

  send(command: AgentCommand): void {
    this.sent.push(command);
  }

  close(): void {
    this.closed = true;
  }

  types(): string[] {
    return this.sent.map((c) => c.type);
  }
}

/** A framework's end of the Subscribe stream: records every event but heartbeats. */
export class FakeFrameworkChannel implements FrameworkChannel {
  readonly events: SchedulerEvent[] = [];
  closed = false;

  send(event: SchedulerEvent): void {
    if (event.type !== 'heartbeat') this.events.push(event);
  }

  close(): void {
    this.closed = true;
  }

  /** Every offer received since the last `fresh()`, in order. */
  offers(): Offer[] {
    return this.events.flatMap((e) => (e.type === 'offers' ? e.offers : []));
  }

  /** Every status update received since the last `fresh()`, in order. */
  updates(): TaskStatus[] {
    return this.events.flatMap((e) => (e.type === 'update' ? [e.status] : []));
  }

  /** Takes the events received so far, so the next look sees only what happens after. */
  fresh(): SchedulerEvent[] {
    return this.events.splice(0);
  }
}

/** Flushes the microtasks of durable changes (there is no registry here, but the writes are still awaited). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function setup(t: { teardown(fn: () => unknown): void }, options: Partial<MasterCoreOptions> = {}) {
  const clock = new ManualClock(START);
  const core = new MasterCore({ masterId: 'm', epoch: 1, clock, allocationIntervalMs: 1000, ...options });
  t.teardown(() => core.stop());
  const view = core.view;

  const addAgent = async (resources = 'cpus:4;mem:4096;ports:[31000-31009]', containerizers = ['process']) => {
    const channel = new FakeAgentChannel();
    const id = await core.registerAgent(channel, agentInfo(resources, { containerizers }));
    return agentHandle(view, id, channel);
  };

  const addFramework = async (overrides: Partial<FrameworkInfo> = {}) => {
    const channel = new FakeFrameworkChannel();
    const { frameworkId, streamId } = await core.subscribe(frameworkInfo(overrides), channel);
    return frameworkHandle(view, frameworkId, streamId, channel);
  };

  return { clock, core, view, addAgent, addFramework };
}

/** An agent in a test: its id, its end of the stream, and what the master's books say of it. */
export function agentHandle(view: MasterView, id: string, channel: FakeAgentChannel) {
  return {
    id,
    channel,
    record: () => view.agent(id)!,
    used: () => view.usedOn(id),
    offered: () => view.offeredOn(id),
    taskCount: () => view.tasksOn(id),
  };
}

/** A framework in a test: its ids, its end of the stream, and what the master's books say of it. */
export function frameworkHandle(view: MasterView, id: string, streamId: string, channel: FakeFrameworkChannel) {
  return {
    id,
    streamId,
    channel,
    /** Its record, live or (once removed) as kept for operators. */
    record: () => view.framework(id) ?? view.removedFrameworks().find((f) => f.info.id === id)!,
    used: () => view.usedBy(id),
    offerIds: () => view.offerIdsOf(id),
    task: (taskId: string) => view.task(id, taskId),
    taskCount: () => [...view.tasksOf(id)].length,
    ended: () => view.endedOf(id),
  };
}

/** One agent, one framework, and the first offer already made (at START). */
export async function withOffer(t: { teardown(fn: () => unknown): void }, agentResources?: string, fwInfo: Partial<FrameworkInfo> = {}) {
  const s = setup(t);
  const agent = await s.addAgent(agentResources);
  const fw = await s.addFramework(fwInfo);
  s.clock.advance(0);
  const offer = fw.channel.offers()[0]!;
  fw.channel.fresh();
  return { ...s, agent, fw, offer };
}

export const launch = (...tasks: TaskSpec[]) => [{ type: 'LAUNCH' as const, tasks }];

/** A task on `agentId`, sized by text. */
export const task = (taskId: string, agentId: string, resources = 'cpus:1;mem:128'): TaskSpec =>
  makeTask(taskId).on(agentId).resources(resources).obj();

export const fmt = (r: Resources): string => formatResources(r);

