/**
 * Agent health, purely: which agents have been silent too long, and how fast the master may
 * mark them unreachable. Mesos' defaults: a heartbeat is due every 15 s, and an agent silent for
 * 5 of those is unreachable. The removal rate limit keeps a network blip from taking out a whole
 * cluster at once (Mesos' --agent_removal_rate_limit).
 */
import { InvalidArgumentError } from '../common/errors.js';

export const DEFAULT_AGENT_PING_TIMEOUT_MS = 15_000;
export const DEFAULT_MAX_AGENT_PING_MISSES = 5;
/** How long a restarted master waits for the agents its registry expects (Mesos: 10 min). */
export const DEFAULT_AGENT_REREGISTER_TIMEOUT_MS = 10 * 60_000;

/** At most `count` removals per `perMs`. */
export interface RemovalRate {
  count: number;
  perMs: number;
}

const UNITS: Record<string, number> = { s: 1_000, sec: 1_000, secs: 1_000, m: 60_000, min: 60_000, mins: 60_000, h: 3_600_000, hr: 3_600_000, hrs: 3_600_000 };

/** Parses `N/DURATION` (Mesos' form, e.g. `1/20mins`, `10/1m`, `5/30s`). */
export function parseRemovalRate(text: string): RemovalRate {
  const m = /^(\d+)\/(\d+)?(s|secs?|m|mins?|h|hrs?)$/.exec(text.trim());
  const unit = m ? UNITS[m[3]!] : undefined;
  if (!m || !unit || Number(m[1]) <= 0) {
    throw new InvalidArgumentError('--agent-removal-rate', `expected N/DURATION such as 1/20mins or 5/30s, got '${text}'`);
  }
  return { count: Number(m[1]), perMs: Number(m[2] ?? 1) * unit };
}

/** A token bucket over injected time: `take(now)` is true when a removal may happen now. */
export class RemovalLimiter {
  private tokens: number;
  private last: number | undefined;

  constructor(private readonly rate: RemovalRate | undefined) {
    this.tokens = rate?.count ?? Infinity;
  }

  take(now: number): boolean {
    if (!this.rate) return true;
    if (this.last !== undefined) this.tokens = Math.min(this.rate.count, this.tokens + ((now - this.last) * this.rate.count) / this.rate.perMs);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Ids of reachable agents whose last word is older than timeout × misses, oldest first. */
export function silentAgents(agents: Iterable<{ id: string; lastHeartbeatAt: number; reachable: boolean }>, now: number, pingTimeoutMs: number, maxMisses: number): string[] {
  const deadline = now - pingTimeoutMs * maxMisses;
  return [...agents].filter((a) => a.reachable && a.lastHeartbeatAt < deadline).sort((a, b) => a.lastHeartbeatAt - b.lastHeartbeatAt).map((a) => a.id);
}
