/**
 * The session table: each agent's and framework's live stream, owned by the rpc layer and handed
 * to the core as its Sessions port. Sending to an id with no stream is a no-op (the agent or
 * framework will resynchronise when it comes back: agents resend, frameworks reconcile and get
 * unacknowledged master-made updates again).
 */
import type { AgentChannel, AgentCommand, FrameworkChannel, SchedulerEvent, Sessions } from '../ports.js';

export class SessionTable implements Sessions {
  private readonly agents = new Map<string, AgentChannel>();
  private readonly frameworks = new Map<string, FrameworkChannel>();

  attachAgent(agentId: string, channel: AgentChannel): void {
    const earlier = this.agents.get(agentId);
    if (earlier && earlier !== channel) earlier.close();
    this.agents.set(agentId, channel);
  }

  isAgentStream(agentId: string, channel: AgentChannel): boolean {
    return this.agents.get(agentId) === channel;
  }

  hasAgentStream(agentId: string): boolean {
    return this.agents.has(agentId);
  }

  detachAgent(agentId: string, close: boolean): void {
    const channel = this.agents.get(agentId);
    this.agents.delete(agentId);
    if (close) channel?.close();
  }

  toAgent(agentId: string, command: AgentCommand): void {
    this.agents.get(agentId)?.send(command);
  }

  attachFramework(frameworkId: string, channel: FrameworkChannel): void {
    this.frameworks.set(frameworkId, channel);
  }

  detachFramework(frameworkId: string, close: boolean): void {
    const channel = this.frameworks.get(frameworkId);
    this.frameworks.delete(frameworkId);
    if (close) channel?.close();
  }

  toFramework(frameworkId: string, event: SchedulerEvent): void {
    this.frameworks.get(frameworkId)?.send(event);
  }

  eachFramework(fn: (frameworkId: string) => void): void {
    for (const id of this.frameworks.keys()) fn(id);
  }
}
