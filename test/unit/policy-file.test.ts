import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { loadPolicyFile, MAX_POLICY_FILE_BYTES, MAX_REPORTED_PROBLEMS, parsePolicy, PolicyFileError } from '../../src/master/security/policy-file.js';
import { MAX_POLICY_GROUPS, MAX_POLICY_RULES } from '../../src/master/security/policy-schema.js';
import { decide } from '../../src/master/security/policy.js';

const FILE = '/etc/orbit/policy.yaml';

/** The problems a file is refused with (fails the test when it is accepted). */
function problemsOf(t: Test, yaml: string | Uint8Array): readonly string[] {
  try {
    parsePolicy(yaml, FILE);
  } catch (err) {
    if (!(err instanceof PolicyFileError)) throw err;
    t.equal(err.message, err.problems.slice(0, MAX_REPORTED_PROBLEMS).join('\n') + (err.problems.length > MAX_REPORTED_PROBLEMS ? `\n${FILE}: ... and ${err.problems.length - MAX_REPORTED_PROBLEMS} more problems` : ''), 'the message is the problems, one a line');
    t.equal(err.file, FILE);
    return err.problems;
  }
  t.fail('the file was accepted');
  return [];
}

/** A rule line that is fine, to put around a bad one. */
const OK_RULE = '  - allow: view\n    principals: [operator:*]\n';

/** `[what, file, the one problem expected]`: the problem is the whole line, file and line number included. */
const REFUSED: [string, string, string][] = [
  ['an unknown top-level key', `rules:\n${OK_RULE}rulez: []\n`, `${FILE}:4: unknown key 'rulez'; a policy file has groups and rules`],
  ['an unknown rule key', `rules:\n${OK_RULE}  - name: web\n    allow: run_task\n    principals: [framework:web]\n    imagez: [nginx]\n`,
    `${FILE}:7: rule 2 'web': unknown key 'imagez'; a rule may have name, allow, principals, roles, containerizers, images, users, frameworks, agents, certificates`],
  ['an unknown action', `rules:\n  - allow: launch\n    principals: [operator:*]\n`, `${FILE}:2: rule 1, field allow: unknown action 'launch'; expected 'all' or one of register_framework, run_task, reserve, unreserve, create_volume, destroy_volume, teardown_framework, update_weights, update_quota, drain_agent, mark_agent_gone, view, read_task_output, issue_certificate, manage_tokens`],
  ['an unknown action in a list', `rules:\n  - allow: [view, all]\n    principals: [operator:*]\n`, `${FILE}:2: rule 1, field allow, item 2: unknown action 'all' ('all' stands alone: allow: all); expected 'all' or one of register_framework, run_task, reserve, unreserve, create_volume, destroy_volume, teardown_framework, update_weights, update_quota, drain_agent, mark_agent_gone, view, read_task_output, issue_certificate, manage_tokens`],
  ['a group used but not declared', `groups:\n  ops: [operator:a]\nrules:\n${OK_RULE}  - name: data\n    allow: view\n    principals: [operator:b, group:data-team]\n`,
    `${FILE}:8: rule 2 'data', field principals, item 2: group 'data-team' is not declared under groups:`],
  ['a group declared twice', `groups:\n  ops: [operator:a]\n  ops: [operator:b]\nrules:\n${OK_RULE}`, `${FILE}:3: group 'ops': declared twice (first on line 2)`],
  ['an empty group', `groups:\n  ops: []\nrules:\n${OK_RULE}`, `${FILE}:2: group 'ops': a group needs at least one member`],
  ['a group in a group', `groups:\n  ops: [operator:a, group:ops]\nrules:\n${OK_RULE}`, `${FILE}:2: group 'ops', member 2: 'group:ops': a group cannot hold a group`],
  ['a bad group name', `groups:\n  "-ops": [operator:a]\nrules:\n${OK_RULE}`, `${FILE}:2: group '-ops': '-ops' is not a valid group name: letters, digits, '_', '.' and '-', not starting with '.' or '-'`],
  ['a principal that is not kind:name', `rules:\n  - allow: view\n    principals: [alice]\n`, `${FILE}:3: rule 1, field principals, item 1: 'alice' is not kind:name (kind is one of operator, framework, agent, master)`],
  ['a principal of an unknown kind', `rules:\n  - allow: view\n    principals: ['user:alice']\n`, `${FILE}:3: rule 1, field principals, item 1: 'user:alice' has an unknown kind 'user'; expected one of operator, framework, agent, master`],
  ['a principal with an invalid name', `rules:\n  - allow: view\n    principals: ['framework:../etc']\n`, `${FILE}:3: rule 1, field principals, item 1: '../etc' is not a valid principal name: letters, digits, '_', '.', '@' and '-', not starting with '.', '@' or '-'`],
  ['a principal with no name', `rules:\n  - allow: view\n    principals: ['framework:']\n`, `${FILE}:3: rule 1, field principals, item 1: 'framework:' has no name after 'framework:'`],
  ['a principal YAML reads as a mapping', `rules:\n  - allow: view\n    principals: [framework: spark]\n`, `${FILE}:3: rule 1, field principals, item 1: expected a string, not a mapping (YAML reads 'a: b' and 'a:' as a mapping; write 'a:b' or quote it)`],
  ['an empty list', `rules:\n  - name: r\n    allow: reserve\n    principals: [operator:*]\n    roles: []\n`, `${FILE}:5: rule 1 'r', field roles: an empty list is not allowed (leave the field out instead, where that is allowed)`],
  ['no principals', `rules:\n  - allow: view\n    principals: []\n`, `${FILE}:3: rule 1, field principals: an empty list is not allowed (leave the field out instead, where that is allowed)`],
  ['a missing principals field', `rules:\n  - allow: view\n`, `${FILE}:2: rule 1, field principals: missing (it is required)`],
  ['no rules', 'rules: []\n', `${FILE}:1: field rules: a policy file needs at least one rule (with none, everything is denied)`],
  ['a bad image pattern', `rules:\n  - allow: run_task\n    principals: [operator:*]\n    images: [redis, 'redis latest']\n`,
    `${FILE}:4: rule 1, field images, item 2: 'redis latest' is not a valid image pattern: a Docker image reference's characters (letters, digits, '_', '.', '/', ':', '@' and '-'), and '*' for any run of characters`],
  ['a bad role pattern', `rules:\n  - allow: reserve\n    principals: [operator:*]\n    roles: ['a;b']\n`, `${FILE}:4: rule 1, field roles, item 1: 'a;b' is not a valid role pattern: letters, digits, '_', '.', '/' and '-', and '*' for any run of characters`],
  ['a bad user pattern', `rules:\n  - allow: run_task\n    principals: [operator:*]\n    users: ['']\n`, `${FILE}:4: rule 1, field users, item 1: an empty user pattern matches nothing`],
  ['a bad certificate pattern', `rules:\n  - allow: issue_certificate\n    principals: [operator:*]\n    certificates: ['root:*']\n`, `${FILE}:4: rule 1, field certificates, item 1: 'root:*' is not a valid certificate pattern: kind:name (kind is operator, framework, agent or master; name letters, digits, '_', '.', '@' and '-'), and '*' for any run of characters`],
  ['an unknown containerizer', `rules:\n  - allow: run_task\n    principals: [operator:*]\n    containerizers: [vm]\n`, `${FILE}:4: rule 1, field containerizers, item 1: unknown containerizer 'vm'; expected docker or process`],
  ['frameworks other than own or any', `rules:\n  - allow: view\n    principals: [framework:*]\n    frameworks: mine\n`, `${FILE}:4: rule 1, field frameworks: expected 'own' or 'any', not 'mine'`],
  ['a field that does not apply to the action', `rules:\n  - name: r\n    allow: reserve\n    principals: [operator:*]\n    images: [redis]\n`,
    `${FILE}:5: rule 1 'r', field images: does not apply to reserve; it applies to run_task (a rule's fields must apply to every action it allows)`],
  ['a field that does not apply to every action', `rules:\n  - allow: all\n    principals: [operator:*]\n    roles: ['*']\n`,
    `${FILE}:4: rule 1, field roles: does not apply to teardown_framework, drain_agent, mark_agent_gone and 4 more; it applies to register_framework, run_task, reserve, unreserve, create_volume, destroy_volume, update_weights, update_quota (a rule's fields must apply to every action it allows)`],
  ['a field written twice', `rules:\n  - allow: reserve\n    principals: [operator:*]\n    roles: [a]\n    roles: [b]\n`, `${FILE}:5: rule 1, field roles: written twice (first on line 4)`],
  ['two rules of one name', `rules:\n  - name: r\n${OK_RULE.replace('  -', '   ')}  - name: r\n${OK_RULE.replace('  -', '   ')}`, `${FILE}:5: rule 2 'r', field name: rule 1 has this name too; names must be unique`],
  ['a YAML syntax error', `rules:\n${OK_RULE}  - allow: [view\n`, `${FILE}:5: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`],
  ['a YAML tag', `rules:\n  - allow: !action view\n    principals: [operator:*]\n`, `${FILE}:2: YAML: Unresolved tag: !action`],
  ['two YAML documents', `rules:\n${OK_RULE}---\nrules: []\n`, `${FILE}:4: YAML: Source contains multiple documents; please use YAML.parseAllDocuments()`],
  ['an empty file', '', `${FILE}: the policy file must be a mapping with 'rules:' (and optionally 'groups:'), not empty`],
  ['a list', '- allow: view\n', `${FILE}: the policy file must be a mapping with 'rules:' (and optionally 'groups:'), not a list`],
  ['a scalar', 'allow everything\n', `${FILE}: the policy file must be a mapping with 'rules:' (and optionally 'groups:'), not a string`],
  ['a rule that is not a mapping', 'rules:\n  - view\n', `${FILE}:2: rule 1: expected a mapping, not a string`],
];

t.test('a policy file is refused with a line naming the file, the line, the rule and the field', async (t) => {
  for (const [what, yaml, problem] of REFUSED) {
    t.test(what, async (t) => t.same(problemsOf(t, yaml), [problem]));
  }
});

t.test('every problem is told at once, in file order', async (t) => {
  const yaml = [
    'groups:', //                      1
    '  ops: []', //                    2
    'rules:', //                       3
    '  - name: first', //              4
    '    allow: [view, launch]', //    5
    '    principals: [group:nope]', // 6
    '  - allow: reserve', //           7
    '    principals: [alice]', //      8
    '    images: [x]', //              9
    'extra: 1', //                     10
  ].join('\n');
  const problems = problemsOf(t, yaml);
  t.same(problems.map((p) => p.split(': ')[0]), [2, 5, 6, 8, 9, 10].map((line) => `${FILE}:${line}`));
  t.match(problems, [/group 'ops'/, /rule 1 'first', field allow, item 2: unknown action 'launch'/, /rule 1 'first', field principals, item 1: group 'nope'/, /rule 2, field principals, item 1: 'alice'/, /rule 2, field images: does not apply to reserve/, /unknown key 'extra'/]);
});

t.test('a file with many problems lists the first ones and counts the rest', async (t) => {
  const rules = Array.from({ length: MAX_REPORTED_PROBLEMS + 10 }, () => '  - allow: launch\n    principals: [operator:*]\n').join('');
  try {
    parsePolicy(`rules:\n${rules}`, FILE);
    t.fail('accepted');
  } catch (err) {
    t.type(err, PolicyFileError);
    const lines = (err as Error).message.split('\n');
    t.equal(lines.length, MAX_REPORTED_PROBLEMS + 1);
    t.equal(lines.at(-1), `${FILE}: ... and 10 more problems`);
  }
});

t.test('values from the file are quoted, escaped and cut in errors', async (t) => {
  const [escaped] = problemsOf(t, `rules:\n${OK_RULE}"evil\\e[31m\\nkey": 1\n`);
  t.equal(escaped, `${FILE}:4: unknown key 'evil\\u001b[31m\\u000akey'; a policy file has groups and rules`);
  const long = problemsOf(t, `rules:\n  - allow: run_task\n    principals: [operator:*]\n    images: ['${'a '.repeat(5000)}']\n`);
  t.same(long, [`${FILE}:4: rule 1, field images, item 1: '${'a '.repeat(32)}…' (10000 bytes) is not a valid image pattern: at most 600 characters`], 'a 10 KB value is cut');
});

t.test('caps bound the size of a policy', async (t) => {
  const rule = '  - {allow: view, principals: [operator:a]}\n';
  t.same(problemsOf(t, `rules:\n${rule.repeat(MAX_POLICY_RULES + 1)}`), [`${FILE}:2: field rules: at most ${MAX_POLICY_RULES} items`]);
  t.equal(parsePolicy(`rules:\n${rule.repeat(MAX_POLICY_RULES)}`, FILE).kind, 'file', `${MAX_POLICY_RULES} rules are fine`);
  const groups = Array.from({ length: MAX_POLICY_GROUPS + 1 }, (_, i) => `  g${i}: [operator:a]\n`).join('');
  t.same(problemsOf(t, `groups:\n${groups}rules:\n${OK_RULE}`), [`${FILE}:2: field groups: at most ${MAX_POLICY_GROUPS} groups (${MAX_POLICY_GROUPS + 1} declared)`]);
  const big = `rules:\n${OK_RULE}# ${'x'.repeat(MAX_POLICY_FILE_BYTES)}\n`;
  t.same(problemsOf(t, big), [`${FILE}: the policy file is larger than ${MAX_POLICY_FILE_BYTES} bytes (1 MiB)`]);
  const laughs = `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\nrules:\n${OK_RULE}`;
  t.match(problemsOf(t, laughs), [new RegExp(`^${FILE}: YAML: .*alias`, 'i')], 'aliases expanding without bound are refused');
  t.same(problemsOf(t, new Uint8Array([0x72, 0x75, 0xff, 0xfe])), [`${FILE}: the policy file is not UTF-8 text`]);
});

t.test('loadPolicyFile reads a file, and names it when it cannot', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'orbit-policy-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const good = join(dir, 'policy.yaml');
  await writeFile(good, 'rules:\n  - name: ops\n    allow: all\n    principals: [operator:*]\n');
  const policy = await loadPolicyFile(good);
  t.same(decide(policy, { kind: 'operator', name: 'alice' }, { action: 'manage_tokens' }), { allowed: true, rule: `rule 1 'ops' in ${good}` });
  t.same(decide(policy, { kind: 'framework', name: 'spark' }, { action: 'register_framework', role: 'spark' }), { allowed: false, rule: `no rule in ${good} allows it (deny by default)` });

  const missing = join(dir, 'nope.yaml');
  await t.rejects(loadPolicyFile(missing), { name: 'PolicyFileError', file: missing, message: new RegExp(`^${missing}: cannot read the policy file: .*ENOENT`) });
  await t.rejects(loadPolicyFile(dir), { name: 'PolicyFileError', message: /cannot read the policy file: .*EISDIR/ });

  const big = join(dir, 'big.yaml');
  await writeFile(big, `rules:\n${OK_RULE}# ${'x'.repeat(MAX_POLICY_FILE_BYTES)}\n`);
  await t.rejects(loadPolicyFile(big), { name: 'PolicyFileError', message: `${big}: the policy file is larger than ${MAX_POLICY_FILE_BYTES} bytes (1 MiB)` });

  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'rules:\n  - allow: launch\n    principals: [operator:*]\n');
  await t.rejects(loadPolicyFile(bad), { name: 'PolicyFileError', message: new RegExp(`^${bad}:2: rule 1, field allow: unknown action 'launch'`) });
});
