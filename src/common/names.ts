/**
 * Every name a caller chooses that Orbit keeps, shows, or turns into a path, a label or a header:
 * one definition each, with its length cap and allowed characters (DESIGN.md "Limits"). Ids that
 * become path parts (framework, agent, task, container) start with a letter or digit and use only
 * `[A-Za-z0-9_.-]`, so none can be empty, `.`, `..`, or hold `/`, `\`, a control character or NUL.
 * Free text that is only shown (framework and task names, label values) may hold any printable
 * character. Caps count UTF-16 code units, as String.length does.
 *
 * `checkName` returns the value or throws InvalidArgumentError naming the field (with the value
 * quoted through echo.ts); `nameProblem` says why, for callers with their own error kind.
 */
import { quote } from './echo.js';
import { InvalidArgumentError } from './errors.js';

export type NameKind =
  | 'framework id'
  | 'framework name'
  | 'agent id'
  | 'task id'
  | 'task name'
  | 'container id'
  | 'update uuid'
  | 'stream id'
  | 'offer id'
  | 'hostname'
  | 'attribute name'
  | 'attribute value'
  | 'role'
  | 'label key'
  | 'label value'
  | 'principal'
  | 'principal name'
  | 'user'
  | 'environment variable name'
  | 'resource name'
  | 'image'
  | 'health check path';

interface NameRule {
  /** The longest value accepted, in characters. */
  maxChars: number;
  /** Allowed values; tested after the length cap. */
  pattern: RegExp;
  /** What the pattern allows, in words, for the error. */
  allows: string;
  /** True when '' is a value (it then means "none" or "the default"). */
  optional?: boolean;
}

/** A path part: letters and digits first, then `[A-Za-z0-9_.-]`. */
const PATH_PART = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const PATH_PART_TEXT = "letters, digits, '_', '.' and '-', starting with a letter or digit";
// Any character but control characters (C0, DEL, C1) and the line separators.
const PRINTABLE = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$/;
const PRINTABLE_TEXT = 'printable characters (no control characters)';

/** The rules, by kind (README, "What a message may say", lists the main ones). */
export const NAME_RULES: Readonly<Record<NameKind, NameRule>> = {
  'framework id': { maxChars: 128, pattern: PATH_PART, allows: PATH_PART_TEXT },
  'framework name': { maxChars: 256, pattern: /^(?=.*\S)[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$/, allows: `${PRINTABLE_TEXT}, not blank` },
  'agent id': { maxChars: 128, pattern: PATH_PART, allows: PATH_PART_TEXT },
  'task id': { maxChars: 200, pattern: PATH_PART, allows: PATH_PART_TEXT },
  'task name': { maxChars: 256, pattern: PRINTABLE, allows: PRINTABLE_TEXT, optional: true },
  'container id': { maxChars: 128, pattern: PATH_PART, allows: PATH_PART_TEXT },
  'update uuid': { maxChars: 64, pattern: /^[A-Za-z0-9_-]+$/, allows: "letters, digits, '_' and '-'" },
  'stream id': { maxChars: 64, pattern: /^[A-Za-z0-9_-]+$/, allows: "letters, digits, '_' and '-'" },
  'offer id': { maxChars: 64, pattern: PATH_PART, allows: PATH_PART_TEXT },
  hostname: { maxChars: 253, pattern: /^[A-Za-z0-9_:][A-Za-z0-9_.:-]*$/, allows: "letters, digits, '_', '.', ':' and '-', not starting with '.' or '-'" },
  'attribute name': { maxChars: 128, pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, allows: "letters, digits, '_', '.' and '-', not starting with '.' or '-'" },
  'attribute value': { maxChars: 256, pattern: /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029:;]+$/, allows: `${PRINTABLE_TEXT} but ':' and ';'` },
  role: { maxChars: 128, pattern: /^(\*|[A-Za-z0-9_][A-Za-z0-9_.-]*)$/, allows: "'*', or letters, digits, '_', '.' and '-', not starting with '.' or '-'" },
  'label key': { maxChars: 128, pattern: /^[A-Za-z0-9_][A-Za-z0-9_./-]*$/, allows: "letters, digits, '_', '.', '/' and '-', not starting with '.', '/' or '-'" },
  'label value': { maxChars: 1024, pattern: PRINTABLE, allows: PRINTABLE_TEXT, optional: true },
  // A framework's principal as the master records it, `kind:name` (the name alone is 'principal name').
  principal: { maxChars: 160, pattern: /^[A-Za-z0-9_][A-Za-z0-9_.@-]*(:[A-Za-z0-9_][A-Za-z0-9_.@-]*)?$/, allows: "letters, digits, '_', '.', '@' and '-', not starting with '.', '@' or '-', with an optional 'kind:' in front", optional: true },
  'principal name': { maxChars: 128, pattern: /^[A-Za-z0-9_][A-Za-z0-9_.@-]*$/, allows: "letters, digits, '_', '.', '@' and '-', not starting with '.', '@' or '-'" },
  user: { maxChars: 64, pattern: /^[A-Za-z0-9_][A-Za-z0-9_.@:-]*$/, allows: "letters, digits, '_', '.', '@', ':' and '-', not starting with '.', '@', ':' or '-'", optional: true },
  'environment variable name': { maxChars: 256, pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, allows: "letters, digits and '_', not starting with a digit" },
  'resource name': { maxChars: 64, pattern: /^[a-z][a-z0-9_-]*$/, allows: "lowercase letters, digits, '_' and '-', starting with a letter" },
  image: { maxChars: 512, pattern: /^[A-Za-z0-9][A-Za-z0-9_.\/:@-]*$/, allows: "a Docker image reference (letters, digits, '_', '.', '/', ':', '@' and '-')" },
  'health check path': { maxChars: 2048, pattern: /^[\x21-\x7e]*$/, allows: 'printable ASCII without spaces', optional: true },
};

/** Why `value` is not a valid `kind`, or undefined when it is. */
export function nameProblem(kind: NameKind, value: string): string | undefined {
  const rule = NAME_RULES[kind];
  if (value === '') return rule.optional ? undefined : `an empty ${kind} is not allowed`;
  if (value.length > rule.maxChars) return `${quote(value)} is not a valid ${kind}: at most ${rule.maxChars} characters`;
  if (!rule.pattern.test(value)) return `${quote(value)} is not a valid ${kind}: ${rule.allows}`;
  return undefined;
}

/** True when `value` is a valid `kind`. */
export function isValidName(kind: NameKind, value: string): boolean {
  return nameProblem(kind, value) === undefined;
}

/** `value` when it is a valid `kind`; otherwise throws InvalidArgumentError naming `field`. */
export function checkName(kind: NameKind, value: string, field: string): string {
  const problem = nameProblem(kind, value);
  if (problem !== undefined) throw new InvalidArgumentError(field, problem);
  return value;
}
