import t from 'tap';
import { quote, truncateText } from '../../src/common/echo.js';
import { InvalidArgumentError, NotFoundError } from '../../src/common/errors.js';
import { checkName, isValidName, NAME_RULES, nameProblem, type NameKind } from '../../src/common/names.js';

const TEN_KB = 'a'.repeat(10 * 1024);

/** Values no name of any kind may be: they escape a directory, break a header or a log line. */
const HOSTILE: [string, string][] = [
  ['a path that climbs out', '../../etc'],
  ['a dot', '.'],
  ['two dots', '..'],
  ['a slash', 'a/b'],
  ['a backslash', 'a\\b'],
  ['NUL', 'a\0b'],
  ['a newline', 'a\nb'],
  ['a carriage return', 'a\rb'],
  ['an escape character', 'a\u001b[31mb'],
  ['a C1 control character', 'a\u0085b'],
  ['10 KB', TEN_KB],
];

/** Kinds whose values become path parts, labels or headers. */
const STRICT: NameKind[] = ['framework id', 'agent id', 'task id', 'container id', 'update uuid', 'stream id', 'offer id', 'hostname', 'attribute name', 'role', 'label key', 'principal', 'principal name', 'user', 'environment variable name', 'resource name', 'image'];

t.test('no strict name accepts a hostile value', async (t) => {
  for (const kind of STRICT) {
    for (const [what, value] of HOSTILE) {
      // A backslash and a slash are fine inside an image reference and a label key only as '/'.
      if (value === 'a/b' && (kind === 'image' || kind === 'label key')) continue;
      t.notOk(isValidName(kind, value), `a ${kind} refuses ${what}`);
    }
  }
});

t.test('free text refuses control characters and overlong values, but takes any printable character', async (t) => {
  const cases: [NameKind, string, boolean][] = [
    ['framework name', 'my framework ✓ (prod)', true],
    ['framework name', '   ', false],
    ['framework name', '', false],
    ['framework name', 'a\0b', false],
    ['framework name', 'line\nbreak', false],
    ['framework name', 'x'.repeat(256), true],
    ['framework name', 'x'.repeat(257), false],
    ['task name', '', true],
    ['task name', 'db / shard 3', true],
    ['task name', 'tab\there', false],
    ['label value', '', true],
    ['label value', 'a=b, c', true],
    ['label value', 'x'.repeat(1025), false],
    ['attribute value', 'us-east-1a', true],
    ['attribute value', 'a:b', false],
    ['attribute value', 'a;b', false],
    ['attribute value', '', false],
    ['health check path', '/health?x=1', true],
    ['health check path', '/he alth', false],
    ['health check path', '/h\r\nX-Injected: 1', false],
  ];
  for (const [kind, value, ok] of cases) t.equal(isValidName(kind, value), ok, `a ${kind} ${ok ? 'takes' : 'refuses'} ${JSON.stringify(value.length > 40 ? `${value.slice(0, 10)}… (${value.length})` : value)}`);
});

t.test('ordinary names pass', async (t) => {
  const cases: [NameKind, string][] = [
    ['framework id', 'fw-0a1b2c3d4e5f'],
    ['agent id', 'agent-0a1b2c3d4e5f'],
    ['task id', 'web.v3-0a1b2c3d4e5f'],
    ['task id', 'x'.repeat(200)],
    ['role', '*'],
    ['role', 'analytics'],
    ['role', '_private.team-1'],
    ['hostname', 'alpha.dc1.example.com'],
    ['hostname', '10.0.0.7'],
    ['attribute name', 'rack'],
    ['label key', 'orbit.simulated/duration-ms'],
    ['user', 'root'],
    ['user', '1000:1000'],
    ['principal', ''],
    ['image', 'registry.example.com:5000/team/app:1.2@sha256:abcdef'],
    ['environment variable name', '_PATH_2'],
    ['resource name', 'ephemeral_storage-x'],
    ['update uuid', 'a1b2c3d4e5f6g7h8i9j0k'],
  ];
  for (const [kind, value] of cases) t.equal(nameProblem(kind, value), undefined, `a ${kind} takes '${value.length > 40 ? `${value.slice(0, 10)}…` : value}'`);
});

t.test('a name one character over its cap is refused, naming the cap', async (t) => {
  for (const [kind, rule] of Object.entries(NAME_RULES) as [NameKind, (typeof NAME_RULES)[NameKind]][]) {
    const over = 'a'.repeat(rule.maxChars + 1);
    t.match(nameProblem(kind, over), new RegExp(`at most ${rule.maxChars} characters`), `a ${kind} over ${rule.maxChars} characters`);
  }
});

t.test('checkName throws InvalidArgumentError naming the field, quoting at most 64 characters', async (t) => {
  const err = t.throws(() => checkName('framework id', TEN_KB, 'framework.id')) as InvalidArgumentError;
  t.ok(err instanceof InvalidArgumentError);
  t.equal(err.field, 'framework.id');
  t.match(err.message, /^framework\.id: 'a{64}…' \(10240 bytes\) is not a valid framework id/);
  t.ok(err.message.length < 200, `short: ${err.message.length} characters`);
  t.equal(checkName('role', 'web', 'roles[0]'), 'web', 'returns the value when it is valid');
  t.match((t.throws(() => checkName('task id', '', 'task_id')) as Error).message, /task_id: an empty task id is not allowed/);
});

t.test('quote escapes control characters and cuts long values, marking their size', async (t) => {
  const cases: [string, string, string][] = [
    ['a short value as it is', 'fw-1', "'fw-1'"],
    ['NUL escaped', 'a\0b', "'a\\u0000b'"],
    ['a newline escaped', 'a\nb', "'a\\u000ab'"],
    ['a 65-character value cut at 64', 'b'.repeat(65), `'${'b'.repeat(64)}…' (65 bytes)`],
    ['multi-byte characters counted in bytes', 'é'.repeat(70), `'${'é'.repeat(64)}…' (140 bytes)`],
    ['a surrogate pair that fits kept whole', `${'a'.repeat(62)}😀`, `'${'a'.repeat(62)}😀'`],
    ['a surrogate pair at the cut dropped whole, never halved', `${'a'.repeat(63)}😀`, `'${'a'.repeat(63)}…' (67 bytes)`],
  ];
  for (const [behaviour, value, want] of cases) t.equal(quote(value), want, behaviour);
  t.equal(truncateText('short', 10), 'short', 'truncateText leaves short text alone');
  t.equal(truncateText('x'.repeat(100), 30).length, 30, 'truncateText keeps within its cap, marker included');
});

t.test('NotFoundError quotes the id it did not find through quote', async (t) => {
  t.equal(new NotFoundError('framework', 'fw-1').message, "unknown framework 'fw-1'");
  t.ok(new NotFoundError('framework', TEN_KB).message.length < 120, 'a 10 KB id is not echoed');
});
