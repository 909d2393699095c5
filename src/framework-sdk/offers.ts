/**
 * Offer helpers: take concrete resources out of an offer for a request written in the Mesos text
 * form, where `ports:N` (a bare count) asks for any N ports and `ports:[a-b]` for exactly those.
 */
import type { Offer } from '../common/cluster.js';
import { formatRanges, intersectRanges, normalizeRanges, rangeCount, subtractRanges, takeLowest } from '../common/ranges.js';
import {
  normalize,
  parseResources,
  rangesOf,
  reservedFor,
  subtract,
  UNRESERVED_ROLE,
  type FitResult,
  type Range,
  type Resource,
  type Resources,
  type Shortfall,
} from '../common/resources.js';

/** A `ports:N` or `ports(role):N` item: a count, not a range list. */
const PORT_COUNT = /^ports(?:\(([^()]*)\))?:(\d+)$/;
const MILLI = 1000;
const toMilli = (x: number): number => Math.round(x * MILLI);

interface Request {
  exact: Resources;
  portCounts: { role: string; count: number }[];
}

/** Splits a request into exact resources and port counts; throws ResourceParseError when malformed. */
function parseRequest(text: string): Request {
  const rest: string[] = [];
  const portCounts: Request['portCounts'] = [];
  for (const raw of text.split(';')) {
    const m = PORT_COUNT.exec(raw.replace(/\s+/g, ''));
    if (m) portCounts.push({ role: m[1] || UNRESERVED_ROLE, count: Number(m[2]) });
    else rest.push(raw);
  }
  return { exact: parseResources(rest.join(';')), portCounts };
}

const label = (name: string, role: string): string => (role === UNRESERVED_ROLE ? name : `${name}(${role})`);

/**
 * The entries a request of `requestRole` may draw from, in the order they are drawn: a
 * reservation is served only by that role; an unreserved request by `role`'s reservation first
 * (when a role is given), then by unreserved resources.
 */
function pool(available: Resources, requestRole: string, role: string): Resource[] {
  if (requestRole !== UNRESERVED_ROLE) return [...reservedFor(available, requestRole)];
  const own = role === UNRESERVED_ROLE ? [] : reservedFor(available, role);
  return [...own, ...reservedFor(available, UNRESERVED_ROLE)];
}

type TakeResult = { ok: true; resources: Resources } | { ok: false; reasons: Shortfall[] };

function take(available: Resources, text: string, role: string): TakeResult {
  const request = parseRequest(text);
  let remaining = normalize(available);
  const taken: Resource[] = [];
  const reasons: Shortfall[] = [];
  const use = (pieces: Resource[]): void => {
    taken.push(...pieces);
    remaining = subtract(remaining, pieces);
  };

  for (const want of request.exact) {
    const candidates = pool(remaining, want.role, role).filter((e) => e.name === want.name && e.kind === want.kind);
    const pieces: Resource[] = [];
    if (want.kind === 'scalar') {
      let left = toMilli(want.scalar ?? 0);
      for (const e of candidates) {
        const part = Math.min(left, toMilli(e.scalar ?? 0));
        if (part > 0) pieces.push({ ...e, scalar: part / MILLI });
        left -= part;
      }
      if (left > 0) {
        const have = candidates.reduce((sum, e) => sum + toMilli(e.scalar ?? 0), 0) / MILLI;
        reasons.push({ resource: label(want.name, want.role), requested: want.scalar ?? 0, available: have });
        continue;
      }
    } else {
      let left: Range[] = [...(want.ranges ?? [])];
      for (const e of candidates) {
        const part = intersectRanges(e.ranges ?? [], left);
        if (part.length > 0) pieces.push({ ...e, ranges: part });
        left = subtractRanges(left, part);
      }
      if (left.length > 0) {
        const have = formatRanges(normalizeRanges(candidates.flatMap((e) => e.ranges ?? [])));
        reasons.push({ resource: label(want.name, want.role), requested: formatRanges(want.ranges ?? []), available: have });
        continue;
      }
    }
    use(pieces);
  }

  for (const { role: requestRole, count } of request.portCounts) {
    const candidates = pool(remaining, requestRole, role).filter((e) => e.name === 'ports' && e.kind === 'ranges');
    const pieces: Resource[] = [];
    let left = count;
    for (const e of candidates) {
      const n = Math.min(left, rangeCount(e.ranges ?? []));
      const part = n > 0 ? takeLowest(e.ranges ?? [], n) : undefined;
      if (part) pieces.push({ ...e, ranges: part });
      left -= n;
    }
    if (left > 0) {
      const have = candidates.reduce((sum, e) => sum + rangeCount(e.ranges ?? []), 0);
      reasons.push({ resource: label('ports', requestRole), requested: count, available: have });
      continue;
    }
    use(pieces);
  }
  return reasons.length > 0 ? { ok: false, reasons } : { ok: true, resources: normalize(taken) };
}

function resolve(from: Offer | Resources, role: string | undefined): [Resources, string] {
  if (isOffer(from)) return [from.resources, role ?? (from.role || UNRESERVED_ROLE)];
  return [from, role ?? UNRESERVED_ROLE];
}

function isOffer(from: Offer | Resources): from is Offer {
  return !Array.isArray(from);
}

/**
 * Concrete resources for `request` (e.g. `cpus:0.5;mem:128;ports:2`) taken from an offer or a
 * resource list, or undefined when they do not fit. `ports:N` picks the lowest N free ports.
 * An unreserved request is served from `role`'s reservation first, then from unreserved
 * resources; `role` defaults to the offer's role (`*` for a plain resource list). Throws
 * ResourceParseError for a malformed request.
 */
export function takeResources(from: Offer | Resources, request: string, role?: string): Resources | undefined {
  const [available, effectiveRole] = resolve(from, role);
  const result = take(available, request, effectiveRole);
  return result.ok ? result.resources : undefined;
}

/**
 * Whether `request` fits, and if not why: one shortfall per resource that is short (for a port
 * count, `requested` and `available` are counts). Same rules as takeResources.
 */
export function checkFit(from: Offer | Resources, request: string, role?: string): FitResult {
  const [available, effectiveRole] = resolve(from, role);
  const result = take(available, request, effectiveRole);
  return result.ok ? { ok: true } : result;
}

/** True when `request` can be taken from the offer (see takeResources). */
export function offerFits(offer: Offer, request: string, role?: string): boolean {
  return checkFit(offer, request, role).ok;
}

/**
 * The port numbers in `resources`, ascending: the order in which the agent hands them to the task
 * as PORT0, PORT1, ... (so `portsOf(task.resources)[i]` is the task's `$PORTi`).
 */
export function portsOf(resources: Resources): number[] {
  const ports: number[] = [];
  for (const r of rangesOf(resources, 'ports')) {
    for (let p = r.begin; p <= r.end; p++) ports.push(p);
  }
  return ports;
}
