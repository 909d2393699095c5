/**
 * An agent's life at this master, as one state union and one transition check (the task state
 * machine's shape, and grpc-js' `transitionToState`). Draining is a maintenance mode beside it, as
 * Mesos keeps it: a draining agent may still disconnect and come back.
 */
import type { AgentStatusView } from '../common/state-view.js';

/** Where an agent is in its life at this master. */
export type AgentState =
  /** Registered on a live stream: its resources are offered and it runs what it is sent. */
  | 'active'
  /** Its stream ended: nothing is offered, its tasks are kept until it re-registers (or goes silent too long). */
  | 'disconnected'
  /** Silent past the ping timeout: its tasks are UNREACHABLE; it may still come back. */
  | 'unreachable'
  /** An operator marked it gone: its tasks are GONE, its id may never re-register. Final. */
  | 'gone';

const ALLOWED_FROM: Record<AgentState, readonly AgentState[]> = {
  active: ['active', 'disconnected', 'unreachable'],
  disconnected: ['active'],
  unreachable: ['active', 'disconnected'],
  gone: ['active', 'disconnected', 'unreachable'],
};

/** Whether the operator took the agent out of service. */
export type DrainState =
  /** In service. */
  | 'none'
  /** No offers; its tasks are being killed. */
  | 'draining'
  /** Draining, and no task is left. */
  | 'drained';

/** May an agent in `from` move to `to`? (Staying `active` is a re-registration on a new stream.) */
export function agentTransitionAllowed(from: AgentState, to: AgentState): boolean {
  return ALLOWED_FROM[to].includes(from);
}

/** The status operators see (AgentStatusView, defined with the state view): unreachable wins over a drain, a drain over a lost stream. */
export function agentStatusView(state: AgentState, drain: DrainState): AgentStatusView {
  if (state === 'unreachable') return 'unreachable';
  if (drain !== 'none') return drain;
  return state === 'active' ? 'active' : 'disconnected';
}
