import t from 'tap';
import fc from 'fast-check';
import { ECHO_MAX_CHARS } from '../../src/common/echo.js';
import { quote } from '../../src/common/echo.js';
import { decodePathSegment, MAX_TARGET_BYTES, parseRequestTarget } from '../../src/common/http-request.js';

/** The parsed target as plain data: path and query pairs. */
function parsed(target: string | undefined): unknown {
  const r = parseRequestTarget(target);
  return r.ok ? { path: r.pathname, query: [...r.searchParams] } : r;
}

t.test('parseRequestTarget reads the path and query of a well-formed target', async (t) => {
  const cases: [string, string, { path: string; query: string[][] }][] = [
    ['an origin-form path', '/health', { path: '/health', query: [] }],
    ['a path with a query', '/events?limit=5&x=a%20b', { path: '/events', query: [['limit', '5'], ['x', 'a b']] }],
    ['a path starting with two slashes, kept as a path, not an authority', '//[', { path: '//[', query: [] }],
    ['a path that looks like a host', '//evil.example/health', { path: '//evil.example/health', query: [] }],
    ['a path with dot segments, resolved', '/a/../health', { path: '/health', query: [] }],
    ['a path with percent-escapes, left encoded', '/tasks/a%2Fb/stdout', { path: '/tasks/a%2Fb/stdout', query: [] }],
    ['a path with escapes that are not UTF-8, left for the segment decoder', '/tasks/%E0%A4/stdout', { path: '/tasks/%E0%A4/stdout', query: [] }],
    ['a fragment, dropped', '/health#top', { path: '/health', query: [] }],
    ['an absolute-form http target', 'http://a:5051/state?x=1', { path: '/state', query: [['x', '1']] }],
    ['an absolute-form https target with an IPv6 host', 'https://[::1]:443/health', { path: '/health', query: [] }],
    ['an absolute-form target without a path', 'http://a', { path: '/', query: [] }],
    ['an absolute-form scheme in capitals', 'HTTP://a/health', { path: '/health', query: [] }],
    ['a target exactly at the length cap', `/${'a'.repeat(MAX_TARGET_BYTES - 1)}`, { path: `/${'a'.repeat(MAX_TARGET_BYTES - 1)}`, query: [] }],
  ];
  for (const [behaviour, target, want] of cases) t.strictSame(parsed(target), want, behaviour);
});

t.test('parseRequestTarget refuses a malformed target with a 400 naming the problem', async (t) => {
  const cases: [string, string | undefined, RegExp][] = [
    ['no target at all', undefined, /^the request has no target$/],
    ['an empty target', '', /^the request has no target$/],
    ['the asterisk form', '*', /asterisk-form target '\*' names no resource/],
    ['an absolute-form target with a port over 65535', 'http://a:99999/', /absolute-form target 'http:\/\/a:99999\/' is not a valid URL/],
    ['an absolute-form target with an unclosed IPv6 host', 'http://[::1', /absolute-form target 'http:\/\/\[::1' is not a valid URL/],
    ['an absolute-form target with a bad host', 'http://a b/', /byte 0x20 at offset 8/],
    ['an absolute-form target of another scheme', 'ftp://a/health', /has scheme 'ftp:'; only http and https/],
    ['a javascript: target', 'javascript:alert(1)', /has scheme 'javascript:'/],
    ['an authority-form target', 'a:80', /has scheme 'a:'/],
    ['a relative path', 'health', /neither a path starting with '\/' nor an absolute http URL/],
    ['a % without hex digits', '/%zz', /^'%zz' at offset 1 of the request target is not a percent-escape/],
    ['a truncated escape at the end', '/tasks/%E0%A4%A', /'%A' at offset 13 of the request target is not a percent-escape/],
    ['a lone % at the end', '/a%', /'%' at offset 2 of the request target/],
    ['a malformed escape in the query', '/events?limit=%G1', /'%G1' at offset 14/],
    ['a NUL byte', '/a\u0000b', /byte 0x00 at offset 2; only printable ASCII/],
    ['a control byte', '/a\u0001b', /byte 0x01 at offset 2/],
    ['a DEL byte', '/a\u007fb', /byte 0x7F at offset 2/],
    ['a tab', '/a\tb', /byte 0x09 at offset 2/],
    ['a space', '/a b', /byte 0x20 at offset 2/],
    ['a raw byte over 0x7F', '/caf\u00e9', /byte 0xE9 at offset 4; only printable ASCII is allowed \(percent-encode the rest\)/],
  ];
  for (const [behaviour, target, problem] of cases) {
    const r = parseRequestTarget(target);
    t.equal(r.ok ? 'ok' : r.status, 400, behaviour);
    if (!r.ok) t.match(r.problem, problem, behaviour);
  }
});

t.test('parseRequestTarget refuses a target over the cap with a 414 saying the cap', async (t) => {
  for (const length of [MAX_TARGET_BYTES + 1, 64 * 1024, 1024 * 1024]) {
    const r = parseRequestTarget(`/${'a'.repeat(length - 1)}`);
    t.strictSame(r, { ok: false, status: 414, problem: `the request target is ${length} bytes; at most ${MAX_TARGET_BYTES} are accepted` }, `${length} bytes`);
  }
});

t.test("a problem repeats at most ECHO_MAX_CHARS of the client's value, quoted as every error quotes (echo.ts)", async (t) => {
  const long = `ftp://${'x'.repeat(5000)}/`;
  const r = parseRequestTarget(long);
  t.notOk(r.ok);
  if (!r.ok) t.ok(r.problem.length < ECHO_MAX_CHARS + 120, `the problem is ${r.problem.length} chars`);
  if (!r.ok) t.match(r.problem, `'ftp://${'x'.repeat(ECHO_MAX_CHARS - 6)}…' (5007 bytes)`, 'cut, with its full size said');
  t.equal(quote('short'), "'short'");
  t.equal(quote('y'.repeat(150)), `'${'y'.repeat(ECHO_MAX_CHARS)}…' (150 bytes)`);
});

t.test('decodePathSegment decodes well-formed segments', async (t) => {
  const cases: [string, string, string][] = [
    ['a plain id', 'web-1', 'web-1'],
    ['an escaped slash', 'a%2Fb', 'a/b'],
    ['an escaped space', 'a%20b', 'a b'],
    ['UTF-8 escapes', '%E0%A4%A4', '\u0924'],
    ['lower-case hex', '%c3%a9', '\u00e9'],
    ['a plus, which is not a space in a path', 'a+b', 'a+b'],
  ];
  for (const [behaviour, segment, value] of cases) t.strictSame(decodePathSegment(segment), { ok: true, value }, behaviour);
});

t.test('decodePathSegment refuses a malformed segment naming the problem', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['a truncated escape', '%E0%A4%A', /'%A' at offset 6 of path segment '%E0%A4%A' is not a percent-escape/],
    ['a % without hex digits', '%zz', /'%zz' at offset 0 of path segment/],
    ['escapes that are not UTF-8', '%E0%A4', /percent-escapes in path segment '%E0%A4' do not decode to UTF-8/],
    ['a lone continuation byte', '%80', /do not decode to UTF-8/],
    ['an escaped NUL', '%00', /decodes to control character 0x00/],
    ['an escaped newline', 'a%0Ab', /decodes to control character 0x0A/],
    ['an escaped DEL', '%7F', /decodes to control character 0x7F/],
  ];
  for (const [behaviour, segment, problem] of cases) {
    const r = decodePathSegment(segment);
    t.equal(r.ok, false, behaviour);
    if (!r.ok) t.match(r.problem, problem, behaviour);
  }
});

t.test('neither function throws, whatever the input', async (t) => {
  const chars = fc.oneof(
    fc.constantFrom('/', '%', '?', '#', '[', ']', ':', '@', '*', '.', '\\', 'http://', '%E0', '%A', '%00', '\u0000', '\u00ff'),
    fc.string({ maxLength: 4 }),
    fc.string({ unit: 'binary', maxLength: 4 }),
  );
  const target = fc.array(chars, { maxLength: 30 }).map((parts) => parts.join(''));
  fc.assert(
    fc.property(target, (s) => {
      const r = parseRequestTarget(s);
      if (r.ok) return r.pathname.startsWith('/');
      return r.problem.length > 0 && r.problem.length < 400;
    }),
    { numRuns: 3000 },
  );
  fc.assert(fc.property(target, (s) => decodePathSegment(s).ok !== undefined), { numRuns: 3000 });
  t.pass('no input threw');
});
