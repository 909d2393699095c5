/**
 * The shape of a policy file, as a zod schema, with the messages its problems are told in. Every
 * value from the file that a message repeats goes through `quote()`. Caps bound what one file can
 * make the master hold: MAX_POLICY_RULES rules, MAX_POLICY_GROUPS groups, MAX_POLICY_LIST_ITEMS
 * items in any list.
 */
import { z } from 'zod';
import { quote } from '../../common/echo.js';
import { ACTIONS, DEFAULT_USER, RULE_FIELDS, TASK_CONTAINERIZERS, type Action, type RuleField } from './policy.js';
import { principalProblem } from './policy-request.js';

/** The most rules a policy file may hold. */
export const MAX_POLICY_RULES = 10_000;
/** The most groups a policy file may declare. */
export const MAX_POLICY_GROUPS = 1_000;
/** The most items in one list (a rule's principals or patterns, a group's members). */
export const MAX_POLICY_LIST_ITEMS = 1_000;
/** The longest rule or group name, in characters. */
export const MAX_POLICY_NAME_CHARS = 128;

/** A glob over one kind of value: which characters it may hold besides `*`, and how long it may be. */
function patterns(what: string, pattern: RegExp, allows: string, maxChars: number) {
  const one = z
    .string()
    .min(1, { error: `an empty ${what} pattern matches nothing`, abort: true })
    .max(maxChars, { error: (iss) => `${quote(String(iss.input))} is not a valid ${what} pattern: at most ${maxChars} characters`, abort: true })
    .regex(pattern, { error: (iss) => `${quote(String(iss.input))} is not a valid ${what} pattern: ${allows}, and '*' for any run of characters` });
  return z.array(one).min(1).max(MAX_POLICY_LIST_ITEMS).optional();
}

const action = z.enum(ACTIONS as [Action, ...Action[]], {
  error: (iss) => `unknown action ${quote(String(iss.input))}${iss.input === 'all' ? " ('all' stands alone: allow: all)" : ''}; expected 'all' or one of ${ACTIONS.join(', ')}`,
});

/** `kind:name`, `kind:*`, or (in a rule, not in a group) `group:NAME`. */
function principalRef(inRule: boolean) {
  return z.string().superRefine((text, ctx) => {
    const problem = text.startsWith('group:')
      ? inRule ? groupNameProblem(text.slice('group:'.length)) : `${quote(text)}: a group cannot hold a group`
      : principalProblem(text, { wildcard: true });
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });
}

const GROUP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

function groupNameProblem(name: string): string | undefined {
  if (name.length > MAX_POLICY_NAME_CHARS) return `${quote(name)} is not a valid group name: at most ${MAX_POLICY_NAME_CHARS} characters`;
  if (!GROUP_NAME.test(name)) return `${quote(name)} is not a valid group name: letters, digits, '_', '.' and '-', not starting with '.' or '-'`;
  return undefined;
}

/** One allow rule; a field it names must apply to every action it allows. */
const ruleSchema = z
  .strictObject(
    {
      name: z
        .string()
        .max(MAX_POLICY_NAME_CHARS, { error: `a rule name has at most ${MAX_POLICY_NAME_CHARS} characters`, abort: true })
        .regex(/^(?=.*\S)[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$/, { error: (iss) => `${quote(String(iss.input))} is not a valid rule name: printable characters, not blank` })
        .optional(),
      // `allow: all` and `allow: run_task` are read as lists, so one schema checks every action.
      allow: z.preprocess((v) => (v === 'all' ? [...ACTIONS] : typeof v === 'string' ? [v] : v), z.array(action).min(1).max(MAX_POLICY_LIST_ITEMS)),
      principals: z.array(principalRef(true)).min(1).max(MAX_POLICY_LIST_ITEMS),
      roles: patterns('role', /^[A-Za-z0-9_*][A-Za-z0-9_.\/*-]*$/, "letters, digits, '_', '.', '/' and '-'", 256),
      containerizers: z
        .array(z.enum(TASK_CONTAINERIZERS as ['docker', 'process'], { error: (iss) => `unknown containerizer ${quote(String(iss.input))}; expected ${TASK_CONTAINERIZERS.join(' or ')}` }))
        .min(1)
        .max(MAX_POLICY_LIST_ITEMS)
        .optional(),
      images: patterns('image', /^[A-Za-z0-9*][A-Za-z0-9_.\/:@*-]*$/, "a Docker image reference's characters (letters, digits, '_', '.', '/', ':', '@' and '-')", 600),
      users: patterns('user', /^[A-Za-z0-9_*][A-Za-z0-9_.@:*-]*$/, `'${DEFAULT_USER}' (no user named), or letters, digits, '_', '.', '@', ':' and '-'`, 128),
      frameworks: z.enum(['own', 'any'], { error: (iss) => `expected 'own' or 'any', not ${describe(iss.input, true)}` }).optional(),
      agents: patterns('agent', /^[A-Za-z0-9_:*][A-Za-z0-9_.:*-]*$/, "a hostname's or agent id's characters (letters, digits, '_', '.', ':' and '-')", 260),
      certificates: patterns('certificate', /^(operator|framework|agent|master):[A-Za-z0-9_*][A-Za-z0-9_.@*-]*$/, "kind:name (kind is operator, framework, agent or master; name letters, digits, '_', '.', '@' and '-')", 200),
    },
    { error: (iss) => (iss.code === 'unrecognized_keys' ? `${unknownKeys(iss.keys)}; a rule may have name, allow, principals, ${Object.keys(RULE_FIELDS).join(', ')}` : undefined) },
  )
  // Runs despite problems elsewhere in the rule (all problems are told at once), but needs `allow`.
  .superRefine((rule, ctx) => {
    for (const field of Object.keys(RULE_FIELDS) as RuleField[]) {
      if (rule[field] === undefined) continue;
      const misfits = rule.allow.filter((a) => !RULE_FIELDS[field].includes(a));
      if (misfits.length === 0) continue;
      const shown = misfits.length > 3 ? `${misfits.slice(0, 3).join(', ')} and ${misfits.length - 3} more` : misfits.join(', ');
      ctx.addIssue({ code: 'custom', path: [field], message: `does not apply to ${shown}; it applies to ${RULE_FIELDS[field].join(', ')} (a rule's fields must apply to every action it allows)` });
    }
  }, { when: (payload) => isObject(payload.value) && !payload.issues.some((i) => i.path?.[0] === 'allow') });

/** A policy file's shape (policy-file.ts has an example). */
export const policyFileSchema = z
  .strictObject(
    {
      groups: z
        .record(
          z.string().superRefine((name, ctx) => {
            const problem = groupNameProblem(name);
            if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
          }),
          z.array(principalRef(false)).min(1, { error: 'a group needs at least one member' }).max(MAX_POLICY_LIST_ITEMS),
        )
        .optional(),
      rules: z.array(ruleSchema).min(1, { error: 'a policy file needs at least one rule (with none, everything is denied)' }).max(MAX_POLICY_RULES),
    },
    { error: (iss) => (iss.code === 'unrecognized_keys' ? `${unknownKeys(iss.keys)}; a policy file has groups and rules` : undefined) },
  )
  // Runs whatever else is wrong (all problems are told at once), so it reads the file warily.
  .superRefine((file, ctx) => {
    const groups = isObject(file.groups) ? Object.keys(file.groups) : [];
    if (groups.length > MAX_POLICY_GROUPS) ctx.addIssue({ code: 'custom', path: ['groups'], message: `at most ${MAX_POLICY_GROUPS} groups (${groups.length} declared)` });
    if (!Array.isArray(file.rules)) return;
    const declared = new Set(groups);
    const named = new Map<unknown, number>();
    file.rules.forEach((rule: unknown, i) => {
      if (!isObject(rule)) return;
      if (Array.isArray(rule.principals) && (file.groups === undefined || isObject(file.groups))) {
        rule.principals.forEach((p: unknown, j) => {
          const group = typeof p === 'string' && p.startsWith('group:') ? p.slice('group:'.length) : undefined;
          if (group !== undefined && !declared.has(group)) {
            ctx.addIssue({ code: 'custom', path: ['rules', i, 'principals', j], message: `group ${quote(group)} is not declared under groups:` });
          }
        });
      }
      if (typeof rule.name !== 'string') return;
      const first = named.get(rule.name);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `rule ${first} has this name too; names must be unique` });
      else named.set(rule.name, i + 1);
    });
  }, { when: (payload) => isObject(payload.value) });

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The checked file. */
export type PolicyFileShape = z.infer<typeof policyFileSchema>;
/** One checked rule. */
export type RuleShape = PolicyFileShape['rules'][number];

function unknownKeys(keys: readonly string[]): string {
  return `unknown key${keys.length === 1 ? '' : 's'} ${keys.slice(0, 5).map((k) => quote(k)).join(', ')}${keys.length > 5 ? ` and ${keys.length - 5} more` : ''}`;
}

const EXPECTED: Readonly<Record<string, string>> = { array: 'a list', object: 'a mapping', string: 'a string', record: 'a mapping' };

/** What a YAML value is, in words (with `echo`, a string is quoted back). */
function describe(value: unknown, echo = false): string {
  if (value === undefined || value === null) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return echo ? quote(value) : 'a string';
  if (typeof value === 'object') return value instanceof Uint8Array ? 'binary data' : 'a mapping';
  return `a ${typeof value}`;
}

/**
 * The message for a zod issue with no message of its own (passed to `safeParse` as `error`); a
 * value from the file is never repeated except through quote().
 */
export function zodProblem(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'missing (it is required)';
      // `[framework: spark]` is a list holding a mapping: YAML reads 'key: value' as one.
      if (iss.expected === 'string' && describe(iss.input) === 'a mapping') return "expected a string, not a mapping (YAML reads 'a: b' and 'a:' as a mapping; write 'a:b' or quote it)";
      return `expected ${EXPECTED[iss.expected] ?? iss.expected}, not ${describe(iss.input)}`;
    case 'too_small':
      return iss.origin === 'array' ? 'an empty list is not allowed (leave the field out instead, where that is allowed)' : 'must not be empty';
    case 'too_big':
      return `at most ${String(iss.maximum)} ${iss.origin === 'array' ? 'items' : 'characters'}`;
    case 'invalid_key':
      return iss.issues.map((i) => i.message).join('; ');
    default:
      return undefined;
  }
}
