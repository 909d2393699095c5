import t from 'tap';
import fc from 'fast-check';
import { quote } from '../../src/common/echo.js';
import { buildTask } from '../../src/framework-sdk/index.js';
import { atLeastCpus, OfferPool, startCluster, updatesUntil } from '../helpers/cluster.js';
import { healthStatus, jsonError, rawExchange, type RawOutcome } from '../helpers/raw-http.js';
import { OPERATOR } from '../helpers/pki.js';

/** Requests per server; each is one fresh connection. */
const RUNS = 1_500;
/** A request the server neither answers nor closes within this is counted as pending, not failed: the headers timeout will close it. */
const PENDING_MS = 500;
/** The statuses a server may answer random input with; a 500 is a handler fault and fails the test. */
const EXPECTED_STATUSES = new Set([200, 304, 400, 404, 405, 408, 414, 417, 431]);

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const hex2 = fc.integer({ min: 0, max: 255 }).map((n) => n.toString(16).padStart(2, '0'));

/** A piece of a request target: a path word, an escape (good or bad), unicode, raw bytes, or URL punctuation. */
const targetPiece: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: fc.constantFrom('/', '/health', '/state', '/metrics', '/events?limit=2', '/tasks/', '/stdout', '/v1/apps/', '//', '..', '?', '&', '=', '#', '[', ']', ':', '@', '*', ';', '+').map(latin1), weight: 6 },
  { arbitrary: fc.constantFrom('http://', 'https://', 'http://a:99999', 'http://[::1', 'ftp://', 'a:80').map(latin1), weight: 2 },
  { arbitrary: hex2.map((h) => latin1(`%${h}`)), weight: 3 },
  { arbitrary: fc.constantFrom('%', '%z', '%zz', '%E0%A4', '%E0%A4%A', '%00', '%C3', '%80', '%FF%FE').map(latin1), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }).map(utf8), weight: 1 },
  { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 4 }).map((a) => Buffer.from(a)), weight: 1 },
);

const pieces = fc.array(targetPiece, { minLength: 1, maxLength: 12 }).map((p) => Buffer.concat(p));
/** Mostly a path (so that many requests get past Node's parser to Orbit's), often a task id, sometimes anything, now and then very long. */
const target: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: pieces.map((p) => Buffer.concat([latin1('/'), p])), weight: 16 },
  { arbitrary: pieces.map((p) => Buffer.concat([latin1('/tasks/'), p, latin1('/stdout')])), weight: 4 },
  { arbitrary: pieces, weight: 4 },
  { arbitrary: fc.integer({ min: 7_000, max: 20_000 }).map((n) => latin1(`/${'a'.repeat(n)}`)), weight: 1 },
);

const method: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constant('GET'), weight: 10 },
  { arbitrary: fc.constantFrom('HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT'), weight: 8 },
  { arbitrary: fc.constantFrom('get', 'BREW', 'G ET', ''), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 6 }), weight: 1 },
);

const version: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constant(' HTTP/1.1'), weight: 8 },
  { arbitrary: fc.constantFrom(' HTTP/1.0', ' HTTP/2.0', ' HTTP/0.9', ' HTTP/1.1 extra', ' http/1.1', ''), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 10 }).map((s) => ` ${s}`), weight: 1 },
);

const token = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!#$%&\'*+^`|~'), minLength: 1, maxLength: 12 });
const headerName: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom('Accept', 'Content-Length', 'Transfer-Encoding', 'Connection', 'If-None-Match', 'Host', 'Expect', 'Upgrade'), weight: 3 },
  { arbitrary: token, weight: 3 },
  { arbitrary: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 12 }), weight: 1 },
);
const headerValue: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom('0', '5', 'chunked', 'close', 'keep-alive', '*/*', 'localhost', '-1', 'abc', '100-continue', 'websocket', 'h2c'), weight: 4 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 1 },
  { arbitrary: fc.integer({ min: 1_000, max: 20_000 }).map((n) => 'v'.repeat(n)), weight: 1 },
);
/** Usually a Host header (HTTP/1.1 requires one), then up to four random ones. */
const headers: fc.Arbitrary<Buffer> = fc
  .tuple(fc.oneof({ arbitrary: fc.constant(true), weight: 9 }, { arbitrary: fc.constant(false), weight: 1 }), fc.array(fc.tuple(headerName, headerValue), { maxLength: 4 }))
  .map(([host, pairs]) => Buffer.concat([latin1(host ? 'Host: localhost\r\n' : ''), ...pairs.map(([name, value]) => Buffer.concat([latin1(`${name}: `), utf8(value), latin1('\r\n')]))]));

/** One whole request: a request line of random parts, random headers, and the blank line that ends them. */
const request = fc.tuple(method, target, version, headers).map(([m, tgt, v, h]) => ({
  method: m,
  bytes: Buffer.concat([latin1(`${m} `), tgt, latin1(`${v}\r\n`), h, latin1('\r\n')]),
}));

/** Why `outcome` is not an acceptable answer to random input, or undefined when it is (a HEAD's answer has no body to check). */
function wrongAnswer(outcome: RawOutcome, head: boolean): string | undefined {
  if (outcome.kind !== 'response') return undefined;
  const { status, headers: h } = outcome.response;
  if (!EXPECTED_STATUSES.has(status)) return `status ${status}: ${outcome.response.body.slice(0, 200)}`;
  if (status >= 400 && !/^application\/json/.test(h['content-type'] ?? '')) return `a ${status} that is not JSON`;
  if (status >= 400 && !head && jsonError(outcome.response) === undefined) return `a ${status} without an error`;
  return undefined;
}

t.test('random request lines and headers stop neither the master nor an agent, and tasks still launch', async (t) => {
  const cluster = await startCluster(t);
  const ports = { master: cluster.master.httpPort, agent: cluster.agents[0]!.httpPort };

  for (const [who, port] of Object.entries(ports)) {
    const seen: Record<string, number> = {};
    const run = await fc.check(
      fc.asyncProperty(request, async ({ method: m, bytes }) => {
        const outcome = await rawExchange(port, bytes, { timeoutMs: PENDING_MS, head: m === 'HEAD', tls: OPERATOR });
        const label = outcome.kind === 'response' ? String(outcome.response.status) : outcome.kind;
        seen[label] = (seen[label] ?? 0) + 1;
        const wrong = wrongAnswer(outcome, m === 'HEAD');
        if (wrong) throw new Error(`${who} answered ${JSON.stringify(quote(bytes.toString('latin1')))} with ${wrong}`);
      }),
      { numRuns: RUNS },
    );
    // fast-check's own report prints the whole counterexample, up to 20 KiB of it: say it shortly.
    t.notOk(run.failed, run.failed ? `${String(run.errorInstance)} (seed ${run.seed}, path ${run.counterexamplePath})` : `${who}: ${RUNS} random requests answered as expected`);
    t.comment(`${who}: ${JSON.stringify(seen)}`);
    t.equal(await healthStatus(port), 200, `${who} still answers /health after ${RUNS} random requests`);
  }

  const fw = await cluster.framework({ name: 'well-behaved' });
  const offer = await new OfferPool(fw).take(atLeastCpus(1));
  const task = buildTask({ offer, resources: 'cpus:0.1;mem:32', command: 'true' });
  const updates = updatesUntil(fw, task.taskId, 'FINISHED');
  await fw.launch(offer, [task], { refuseSeconds: 0 });
  t.equal((await updates).at(-1)?.state, 'FINISHED', 'a well-behaved framework still launches a task that runs to the end');
});
