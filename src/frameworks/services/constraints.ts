/**
 * Placement constraints, Marathon's operators, evaluated purely: may one more instance of an app
 * go on an agent, given where its other instances already are?
 *
 * A constraint is `FIELD:OPERATOR[:VALUE]`, where FIELD is `hostname` or an agent attribute name.
 * - `UNIQUE`: no two instances share a value of FIELD.
 * - `CLUSTER:value`: only agents whose FIELD is `value`; `CLUSTER` alone: the value the first
 *   instance landed on.
 * - `GROUP_BY[:n]`: spread evenly over FIELD's values; with `n`, expect `n` values and fill each
 *   before doubling up on one.
 * - `MAX_PER:n`: at most `n` instances per value of FIELD.
 * - `LIKE:regex` / `UNLIKE:regex`: FIELD (the whole value) matches / does not match the regex.
 * An agent without the attribute fails every operator but UNLIKE.
 */

export const CONSTRAINT_OPERATORS = ['UNIQUE', 'CLUSTER', 'GROUP_BY', 'MAX_PER', 'LIKE', 'UNLIKE'] as const;
export type ConstraintOperator = (typeof CONSTRAINT_OPERATORS)[number];

/** One parsed constraint; `text` is its canonical `FIELD:OPERATOR[:VALUE]` form. */
export type Constraint =
  | { field: string; operator: 'UNIQUE'; text: string }
  | { field: string; operator: 'CLUSTER'; value: string | undefined; text: string }
  | { field: string; operator: 'GROUP_BY'; groups: number | undefined; text: string }
  | { field: string; operator: 'MAX_PER'; max: number; text: string }
  | { field: string; operator: 'LIKE' | 'UNLIKE'; pattern: string; regex: RegExp; text: string };

/** What a constraint looks at: an agent's hostname and attributes. */
export interface Placement {
  hostname: string;
  attributes: readonly { name: string; value: string }[];
}

/** The verdict for one agent: fine, or the constraint it breaks and why. */
export type ConstraintCheck = { ok: true } | { ok: false; constraint: string; reason: string };

const FIELD = /^[A-Za-z0-9_.-]+$/;
const POSITIVE_INT = /^[1-9][0-9]*$/;

/**
 * Parses `FIELD:OPERATOR[:VALUE]` (or Marathon's array form, `[field, operator, value?]`).
 * Returns the constraint, or a message saying what is wrong with it.
 */
export function parseConstraint(input: unknown): { ok: true; constraint: Constraint } | { ok: false; message: string } {
  let parts: string[];
  if (typeof input === 'string') {
    const first = input.indexOf(':');
    if (first < 0) return { ok: false, message: `'${input}' is not FIELD:OPERATOR[:VALUE]` };
    const second = input.indexOf(':', first + 1);
    parts = second < 0 ? [input.slice(0, first), input.slice(first + 1)] : [input.slice(0, first), input.slice(first + 1, second), input.slice(second + 1)];
  } else if (Array.isArray(input) && input.every((p) => typeof p === 'string') && (input.length === 2 || input.length === 3)) {
    parts = input as string[];
  } else {
    return { ok: false, message: 'expected "FIELD:OPERATOR[:VALUE]" or ["FIELD", "OPERATOR", "VALUE"]' };
  }
  const [field = '', op = '', value] = parts.map((p) => p.trim());
  if (!FIELD.test(field)) return { ok: false, message: `'${field}' is not a field name (hostname or an attribute, [A-Za-z0-9_.-]+)` };
  const operator = op.toUpperCase();
  const text = (v?: string) => (v === undefined ? `${field}:${operator}` : `${field}:${operator}:${v}`);
  switch (operator) {
    case 'UNIQUE':
      if (value !== undefined) return { ok: false, message: `UNIQUE takes no value, got '${value}'` };
      return { ok: true, constraint: { field, operator, text: text() } };
    case 'CLUSTER':
      if (value === '') return { ok: false, message: 'CLUSTER: the value is empty' };
      return { ok: true, constraint: { field, operator, value, text: text(value) } };
    case 'GROUP_BY':
      if (value !== undefined && !POSITIVE_INT.test(value)) return { ok: false, message: `GROUP_BY: the group count must be a positive integer, got '${value}'` };
      return { ok: true, constraint: { field, operator, groups: value === undefined ? undefined : Number(value), text: text(value) } };
    case 'MAX_PER':
      if (value === undefined || !POSITIVE_INT.test(value)) return { ok: false, message: `MAX_PER needs a positive integer, got '${value ?? ''}'` };
      return { ok: true, constraint: { field, operator, max: Number(value), text: text(value) } };
    case 'LIKE':
    case 'UNLIKE': {
      if (value === undefined || value === '') return { ok: false, message: `${operator} needs a regular expression` };
      try {
        return { ok: true, constraint: { field, operator, pattern: value, regex: new RegExp(`^(?:${value})$`), text: text(value) } };
      } catch (err) {
        return { ok: false, message: `${operator}: '${value}' is not a valid regular expression (${(err as Error).message})` };
      }
    }
    default:
      return { ok: false, message: `unknown operator '${op}' (one of ${CONSTRAINT_OPERATORS.join(', ')})` };
  }
}

/** The value of `field` on an agent: its hostname, or an attribute; undefined when it has none. */
export function fieldValue(p: Placement, field: string): string | undefined {
  if (field === 'hostname') return p.hostname;
  return p.attributes.find((a) => a.name === field)?.value;
}

/** How many of `placed` have each value of `field` (agents without it are not counted). */
function countsBy(placed: readonly Placement[], field: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const p of placed) {
    const v = fieldValue(p, field);
    if (v !== undefined) counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return counts;
}

/** Whether one more instance may go on `candidate`, with the app's other instances at `placed`. */
export function checkConstraint(c: Constraint, candidate: Placement, placed: readonly Placement[]): ConstraintCheck {
  const value = fieldValue(candidate, c.field);
  const broken = (reason: string): ConstraintCheck => ({ ok: false, constraint: c.text, reason });
  if (value === undefined) {
    return c.operator === 'UNLIKE' ? { ok: true } : broken(`the agent has no attribute '${c.field}'`);
  }
  switch (c.operator) {
    case 'UNIQUE':
      return countsBy(placed, c.field).has(value) ? broken(`an instance already runs where ${c.field} is ${value}`) : { ok: true };
    case 'CLUSTER': {
      const wanted = c.value ?? placed.map((p) => fieldValue(p, c.field)).find((v) => v !== undefined);
      if (wanted === undefined || wanted === value) return { ok: true };
      return broken(`${c.field} is ${value}, not ${wanted}`);
    }
    case 'GROUP_BY': {
      // Marathon's rule: a value not used yet is always fine; a used one only when at least `n`
      // values are in use and it holds the fewest instances.
      const counts = countsBy(placed, c.field);
      const mine = counts.get(value);
      if (mine === undefined) return { ok: true };
      const min = Math.min(...counts.values());
      if (counts.size < (c.groups ?? 0)) return broken(`only ${counts.size} of ${c.groups} ${c.field} values used yet, and ${value} has an instance`);
      return mine === min ? { ok: true } : broken(`${c.field} ${value} has ${mine} instances, another value has ${min}`);
    }
    case 'MAX_PER': {
      const n = countsBy(placed, c.field).get(value) ?? 0;
      return n < c.max ? { ok: true } : broken(`${c.field} ${value} already has ${n} of at most ${c.max} instances`);
    }
    case 'LIKE':
      return c.regex.test(value) ? { ok: true } : broken(`${c.field} ${value} does not match ${c.pattern}`);
    case 'UNLIKE':
      return c.regex.test(value) ? broken(`${c.field} ${value} matches ${c.pattern}`) : { ok: true };
  }
}

/** Every constraint in order; the first broken one is the verdict. */
export function checkConstraints(constraints: readonly Constraint[], candidate: Placement, placed: readonly Placement[]): ConstraintCheck {
  for (const c of constraints) {
    const check = checkConstraint(c, candidate, placed);
    if (!check.ok) return check;
  }
  return { ok: true };
}

/**
 * Constraints that no cluster can satisfy together for `instances` instances, each as a message
 * naming them: two CLUSTER values for one field, CLUSTER:v with UNIQUE or MAX_PER:n below the
 * instance count, CLUSTER:v that LIKE/UNLIKE rule out, LIKE and UNLIKE of the same regex.
 */
export function contradictions(constraints: readonly Constraint[], instances: number): string[] {
  const out: string[] = [];
  const byField = new Map<string, Constraint[]>();
  for (const c of constraints) byField.set(c.field, [...(byField.get(c.field) ?? []), c]);
  for (const list of byField.values()) {
    const clusters = list.filter((c): c is Extract<Constraint, { operator: 'CLUSTER' }> => c.operator === 'CLUSTER');
    const fixed = clusters.filter((c) => c.value !== undefined);
    for (const c of fixed.slice(1)) {
      if (c.value !== fixed[0]!.value) out.push(`${fixed[0]!.text} and ${c.text} cannot both hold`);
    }
    const pinned = fixed[0]?.value;
    const anyCluster = clusters[0];
    for (const c of list) {
      if (anyCluster && c.operator === 'UNIQUE' && instances > 1) out.push(`${anyCluster.text} with ${c.text} allows only 1 instance, not ${instances}`);
      if (anyCluster && c.operator === 'MAX_PER' && instances > c.max) out.push(`${anyCluster.text} with ${c.text} allows only ${c.max} instance(s), not ${instances}`);
      if (pinned !== undefined && c.operator === 'LIKE' && !c.regex.test(pinned)) out.push(`${fixed[0]!.text} is ruled out by ${c.text}`);
      if (pinned !== undefined && c.operator === 'UNLIKE' && c.regex.test(pinned)) out.push(`${fixed[0]!.text} is ruled out by ${c.text}`);
      if (c.operator === 'LIKE' && list.some((d) => d.operator === 'UNLIKE' && d.pattern === c.pattern)) out.push(`${c.text} and ${c.field}:UNLIKE:${c.pattern} exclude every agent`);
    }
  }
  return out;
}
