/**
 * A policy file: YAML, read once at start, checked whole. A file with any problem is refused with
 * every problem at once, one line each, naming the file, the line, the rule (1-based, with its
 * `name:`) and the field: `/etc/orbit/policy.yaml:14: rule 3 'data-team', field images, item 2:
 * 'redis latest' is not a valid image pattern: ...`. The shape is checked by the zod schema in
 * policy-schema.ts; this module reads, parses YAML and places each problem in the file.
 *
 * ```yaml
 * groups:
 *   data-team: [framework:spark, framework:redis-svc]
 * rules:
 *   - name: operators
 *     allow: all                 # or one action, or a list of actions
 *     principals: [operator:*]   # kind:name, kind:*, group:NAME
 *   - name: data-team-roles
 *     allow: [register_framework, reserve, unreserve]
 *     principals: [group:data-team]
 *     roles: [analytics, analytics/*]   # a lone * must be quoted in YAML: ['*']
 * ```
 */
import { open } from 'node:fs/promises';
import { isMap, isSeq, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { quote, truncateText } from '../../common/echo.js';
import { errorMessage } from '../../common/errors.js';
import type { Policy, PolicyRule, PrincipalKind, PrincipalSet } from './policy.js';
import { policyFileSchema, zodProblem, type PolicyFileShape, type RuleShape } from './policy-schema.js';

/** The largest policy file read, in bytes (1 MiB). */
export const MAX_POLICY_FILE_BYTES = 1024 * 1024;

/** Problems listed in one PolicyFileError; the rest are counted. */
export const MAX_REPORTED_PROBLEMS = 50;

/** A policy file that cannot be used; `problems` holds one line per problem (also the message). */
export class PolicyFileError extends Error {
  override readonly name = 'PolicyFileError';
  constructor(readonly file: string, readonly problems: readonly string[], options?: { cause?: unknown }) {
    const shown = problems.slice(0, MAX_REPORTED_PROBLEMS);
    const more = problems.length - shown.length;
    super([...shown, ...(more > 0 ? [`${file}: ... and ${more} more problem${more === 1 ? '' : 's'}`] : [])].join('\n'), options);
  }
}

/** Reads and checks the policy file at `path`; throws PolicyFileError. The only I/O in security/policy*. */
export async function loadPolicyFile(path: string): Promise<Policy> {
  let bytes: Uint8Array;
  try {
    const handle = await open(path, 'r');
    try {
      // Read at most one byte past the cap, so a huge file (or /dev/zero) costs no more than that.
      const buffer = Buffer.alloc(MAX_POLICY_FILE_BYTES + 1);
      let size = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, size, buffer.length - size, null);
        if (bytesRead === 0) break;
        size += bytesRead;
        if (size === buffer.length) break;
      }
      bytes = buffer.subarray(0, size);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw new PolicyFileError(path, [`${escapeControls(path)}: cannot read the policy file: ${errorMessage(err)}`], { cause: err });
  }
  return parsePolicy(bytes, path);
}

/**
 * The policy written in `source` (the file's bytes, or its text), `file` naming it in errors and
 * decisions; throws PolicyFileError listing every problem.
 */
export function parsePolicy(source: string | Uint8Array, file: string): Policy {
  const shownFile = escapeControls(file);
  const size = typeof source === 'string' ? Buffer.byteLength(source, 'utf8') : source.length;
  if (size > MAX_POLICY_FILE_BYTES) throw new PolicyFileError(file, [`${shownFile}: the policy file is larger than ${MAX_POLICY_FILE_BYTES} bytes (1 MiB)`]);
  let text: string;
  try {
    text = typeof source === 'string' ? source : new TextDecoder('utf-8', { fatal: true }).decode(source);
  } catch (err) {
    throw new PolicyFileError(file, [`${shownFile}: the policy file is not UTF-8 text`], { cause: err });
  }

  // Duplicate keys are found below, where they can be named; YAML's own check only gives a line.
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false, lineCounter: lines });
  const at = (offset: number): string => `${shownFile}:${lines.linePos(offset).line}`;
  const syntax = [...doc.errors, ...doc.warnings].map((e) => `${at(e.pos[0])}: YAML: ${escapeControls(truncateText(e.message.split('\n')[0] ?? '', 200))}`);
  if (syntax.length > 0) throw new PolicyFileError(file, syntax);

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // An alias to an anchor not yet set, or aliases expanding past the cap (a "billion laughs").
    throw new PolicyFileError(file, [`${shownFile}: YAML: ${escapeControls(truncateText(errorMessage(err), 200))}`], { cause: err });
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new PolicyFileError(file, [`${shownFile}: the policy file must be a mapping with 'rules:' (and optionally 'groups:'), not ${data === null || data === undefined ? 'empty' : Array.isArray(data) ? 'a list' : `a ${typeof data}`}`]);
  }

  const place = placer(doc, lines, shownFile, data);
  const problems = duplicateKeys(doc).map((d) => place(d.path, `${d.what} twice (first on line ${lines.linePos(d.first).line})`, { offset: d.again }));
  const parsed = policyFileSchema.safeParse(data, { error: zodProblem });
  if (!parsed.success) for (const issue of parsed.error.issues) problems.push(place(issue.path, issue.message, { key: unknownKey(issue) }));
  if (problems.length > 0 || !parsed.success) throw new PolicyFileError(file, problems.sort((a, b) => a.line - b.line).map((p) => p.text));
  return toPolicy(parsed.data, file);
}

/** A file name or a YAML library message as shown in errors: control characters escaped, never cut. */
function escapeControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** For an unknown-key issue, the first unknown key (to find its line). */
function unknownKey(issue: { code: string; keys?: unknown }): string | undefined {
  return issue.code === 'unrecognized_keys' && Array.isArray(issue.keys) && typeof issue.keys[0] === 'string' ? issue.keys[0] : undefined;
}

/**
 * A function that writes a problem at `path` (zod's) as one line: the file and line, then where
 * (`rule 3 'name', field images, item 2` or `group 'data-team'`), then the problem. `line` (0 when
 * unknown) sorts the lines.
 */
function placer(doc: Document, lines: LineCounter, shownFile: string, data: object): (path: readonly PropertyKey[], problem: string, at?: { key?: string | undefined; offset?: number }) => { line: number; text: string } {
  const rules = (data as { rules?: unknown }).rules;
  return (path, problem, at = {}) => {
    // The deepest node the path (and an unknown key) reaches in the document gives the line.
    let offset = at.offset;
    if (offset === undefined) {
      let node: unknown = doc.contents;
      for (const step of at.key === undefined ? path : [...path, at.key]) {
        const next = isMap(node) ? node.get(step, true) : isSeq(node) && typeof step === 'number' ? node.get(step, true) : undefined;
        if (next === undefined || next === null) break;
        node = next;
      }
      offset = (node as { range?: [number, number, number] } | null)?.range?.[0];
    }
    const line = offset === undefined ? undefined : lines.linePos(offset).line;

    const where: string[] = [];
    const [top, second, field, item] = path;
    if (top === 'rules' && typeof second === 'number') {
      const rule = Array.isArray(rules) ? (rules[second] as { name?: unknown } | undefined) : undefined;
      where.push(ruleTitle(second + 1, typeof rule?.name === 'string' ? rule.name : undefined));
      if (typeof field === 'string') where.push(`field ${field}`);
      // `allow: run_task` is checked as a list of one; name an item only where the file has a list.
      if (typeof item === 'number' && typeof field === 'string' && isSeq(doc.getIn(['rules', second, field], true))) where.push(`item ${item + 1}`);
    } else if (top === 'groups' && typeof second === 'string') {
      where.push(`group ${quote(second)}`);
      if (typeof field === 'number') where.push(`member ${field + 1}`);
    } else if (typeof top === 'string') {
      where.push(`field ${top}`);
    }
    const text = `${shownFile}${line === undefined ? '' : `:${line}`}: ${where.length > 0 ? `${where.join(', ')}: ` : ''}${problem}`;
    return { line: line ?? 0, text };
  };
}

/** `rule 3 'data-team-roles'`, or `rule 3` when it has no name. */
function ruleTitle(index: number, name: string | undefined): string {
  return name === undefined ? `rule ${index}` : `rule ${index} ${quote(name)}`;
}

/** A key written twice in one mapping: `path` leads to it, the offsets are of its two writings. */
interface DuplicateKey {
  path: readonly PropertyKey[];
  what: string;
  first: number;
  again: number;
}

/** Keys written twice in the top mapping, in `groups:` (a group declared twice) or in a rule. */
function duplicateKeys(doc: Document): DuplicateKey[] {
  const found: DuplicateKey[] = [];
  const check = (node: unknown, path: readonly PropertyKey[], what: string): void => {
    if (!isMap(node)) return;
    const seen = new Map<string, number>();
    for (const pair of node.items) {
      if (!isScalar(pair.key)) continue;
      const key = String(pair.key.value);
      const offset = pair.key.range?.[0] ?? 0;
      const first = seen.get(key);
      if (first === undefined) seen.set(key, offset);
      else found.push({ path: [...path, key], what, first, again: offset });
    }
  };
  check(doc.contents, [], 'written');
  check(doc.get('groups', true), ['groups'], 'declared');
  const rules = doc.get('rules', true);
  if (isSeq(rules)) rules.items.forEach((rule, i) => check(rule, ['rules', i], 'written'));
  return found;
}

/** The checked file as a Policy. */
function toPolicy(shape: PolicyFileShape, file: string): Policy {
  const groups = new Map<string, PrincipalSet>();
  for (const [name, members] of Object.entries(shape.groups ?? {})) groups.set(name, principalSet(members));
  const rules = shape.rules.map((rule, i) => toRule(rule, i + 1, file));
  return { kind: 'file', file: escapeControls(file), groups, rules };
}

function toRule(rule: RuleShape, index: number, file: string): PolicyRule {
  const { name, allow, principals, ...fields } = rule;
  // Two stars in a row mean what one does; keep the lone `*` recognisable.
  const squash = (list: readonly string[] | undefined): readonly string[] | undefined => list?.map((p) => p.replace(/\*+/g, '*'));
  return {
    index,
    ...(name === undefined ? {} : { name }),
    label: `${ruleTitle(index, name)} in ${escapeControls(file)}`,
    actions: new Set(allow),
    principals: principalSet(principals),
    ...definedOnly({
      roles: squash(fields.roles),
      containerizers: fields.containerizers,
      images: squash(fields.images),
      users: squash(fields.users),
      frameworks: fields.frameworks,
      agents: squash(fields.agents),
      certificates: squash(fields.certificates),
    }),
  };
}

/** The checked principal texts (`kind:name`, `kind:*`, `group:NAME`) as a set. */
function principalSet(texts: readonly string[]): PrincipalSet {
  const exact = new Set<string>();
  const kinds = new Set<PrincipalKind>();
  const groups: string[] = [];
  for (const text of texts) {
    const colon = text.indexOf(':');
    const kind = text.slice(0, colon);
    const name = text.slice(colon + 1);
    if (kind === 'group') groups.push(name);
    else if (name === '*') kinds.add(kind as PrincipalKind);
    else exact.add(text);
  }
  return { exact, kinds, groups };
}

/** `fields` without its undefined members, so a rule holds only the fields its file names. */
function definedOnly<T extends object>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
}
