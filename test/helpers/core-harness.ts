/**
 * A MasterCore with fake channels and a manual clock: what unit tests of the core drive.
 */
import type { FrameworkInfo, Offer } from '../../src/common/cluster.js';
import { ManualClock } from '../../src/common/clock.js';
import { formatResources, type Resources } from '../../src/common/resources.js';
import type { TaskSpec, TaskStatus } from '../../src/common/tasks.js';
import { MasterCore, type MasterCoreOptions } from '../../src/master/core.js';
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

export function setup(t: { teardown(fn: () => unknown): void }, options: Partial<MasterCoreOptions> = {}) {
  const clock = new ManualClock(START);
  const core = new MasterCore({ masterId: 'm', epoch: 1, clock, allocationIntervalMs: 1000, ...options });
  t.teardown(() => core.stop());

  const addAgent = (resources = 'cpus:4;mem:4096;ports:[31000-31009]', containerizers = ['process']) => {
    const channel = new FakeAgentChannel();
    const id = core.registerAgent(channel, agentInfo(resources, { containerizers }));
    const record = core.agents.get(id)!;
    return { id, channel, record };
  };

  const addFramework = (overrides: Partial<FrameworkInfo> = {}) => {
    const channel = new FakeFrameworkChannel();
    const { frameworkId, streamId } = core.subscribe(frameworkInfo(overrides), channel);
    return { id: frameworkId, streamId, channel, record: core.frameworks.get(frameworkId)! };
  };

  return { clock, core, addAgent, addFramework };
}

/** One agent, one framework, and the first offer already made (at START). */
export function withOffer(t: { teardown(fn: () => unknown): void }, agentResources?: string, fwInfo: Partial<FrameworkInfo> = {}) {
  const s = setup(t);
  const agent = s.addAgent(agentResources);
  const fw = s.addFramework(fwInfo);
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

