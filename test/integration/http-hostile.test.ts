import t from 'tap';
import type { Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { createAgentHttpServer } from '../../src/agent/http-server.js';
import { startApiServer } from '../../src/frameworks/common/api-server.js';
import { createLogger } from '../../src/common/logging.js';
import { HTTP_LIMITS, httpLimits, type HttpLimits } from '../../src/common/http-json.js';
import { createRouter, type Routes } from '../../src/master/http/router.js';
import { eventually, startCluster, type TestLike } from '../helpers/cluster.js';
import { startServices } from '../helpers/frameworks.js';
import { healthStatus, jsonError, rawExchange, requestLine, type RawOutcome } from '../helpers/raw-http.js';
import { within } from '../helpers/cli.js';
import { testFetch } from '../helpers/http-client.js';
import { MASTER_CERT, OPERATOR, TEST_CLUSTER, testCa, testTlsConnect } from '../helpers/pki.js';
import type { HttpSecurity } from '../../src/common/http-auth.js';

type ServerName = 'master' | 'agent' | 'services';

/** The master's and agents' ports are TLS (the operator's certificate); the services API is plain HTTP. */
const secureFor = (who: ServerName) => (who === 'services' ? {} : { tls: OPERATOR });

/** What a server answers: a status and a JSON error matching `error`; `orCut`: or it may cut the connection before the answer arrives. */
interface Answer {
  status: number;
  error: RegExp;
  orCut?: boolean;
}

/** [behaviour, the raw bytes, the answer of every server, or of each]. */
type Case = [string, string, Answer | Record<ServerName, Answer>];

const notFound: Answer = { status: 404, error: /no such endpoint/ };
const refused = (error: RegExp): Answer => ({ status: 400, error });
const refusedBy = (who: ServerName, error: RegExp): Record<ServerName, Answer> => ({ master: notFound, agent: notFound, services: notFound, [who]: refused(error) });
const long = (n: number): string => `/${'a'.repeat(n - 1)}`;

const CASES: Case[] = [
  // Request targets that once threw inside the request handler.
  ['a path that WHATWG URL reads as an authority is an unknown path', requestLine('//['), { status: 404, error: /no such endpoint '\/\/\['/ }],
  ['an absolute-form target with a port over 65535 is refused', requestLine('http://a:99999/'), refused(/absolute-form target 'http:\/\/a:99999\/' is not a valid URL/)],
  ['an absolute-form target with an unclosed IPv6 host is refused', requestLine('http://[::1'), refused(/is not a valid URL/)],
  ['an absolute-form target with a huge port is refused', requestLine('http://a:1234567890123/health'), refused(/is not a valid URL/)],
  ['an absolute-form target of another scheme is refused', requestLine('ftp://a/health'), refused(/scheme 'ftp:'/)],
  ['a well-formed absolute-form target is served', requestLine('http://any-host:1/health'), { status: 200, error: /^$/ }],
  ['the asterisk form is refused', requestLine('*'), refused(/asterisk-form/)],
  ['OPTIONS * is refused', requestLine('*', 'OPTIONS'), refused(/asterisk-form/)],
  // Percent-escapes.
  ['a % without hex digits is refused', requestLine('/%zz'), refused(/'%zz' at offset 1 of the request target is not a percent-escape/)],
  ['a truncated escape in a task-output path is refused', requestLine('/tasks/%E0%A4%A/stdout'), refused(/'%A' at offset 13/)],
  ['a lone % is refused', requestLine('/health%'), refused(/'%' at offset 7/)],
  ['a malformed escape in the query is refused', requestLine('/health?x=%G0'), refused(/'%G0'/)],
  ['escapes that are not UTF-8 in a task id are refused by the agent', requestLine('/tasks/%E0%A4/stdout'), refusedBy('agent', /bad task id: the percent-escapes in path segment '%E0%A4' do not decode to UTF-8/)],
  ['an escaped NUL in a task id is refused by the agent', requestLine('/tasks/%00/stdout'), refusedBy('agent', /bad task id: path segment '%00' decodes to control character 0x00/)],
  ['an escaped newline in a task id is refused by the agent', requestLine('/tasks/a%0D%0Ab/stderr'), refusedBy('agent', /control character 0x0D/)],
  ['escapes that are not UTF-8 in an app id are refused by the services API', requestLine('/v1/apps/%C3'), refusedBy('services', /bad :id: .*do not decode to UTF-8/)],
  ['an escaped NUL in an app id is refused by the services API', requestLine('/v1/apps/%00'), refusedBy('services', /bad :id: .*control character 0x00/)],
  // Length.
  ['a target one byte over the cap is refused as too long', requestLine(long(8 * 1024 + 1)), { status: 414, error: /8193 bytes; at most 8192/ }],
  ['a 15 KiB target is refused as too long', requestLine(long(15 * 1024)), { status: 414, error: /at most 8192/ }],
  ['a 20 KiB target overflows the header limit', requestLine(long(20 * 1024)), { status: 431, error: /over 16384 bytes \(HPE_HEADER_OVERFLOW\)/ }],
  ['a 1 MiB target is cut off at the header limit', requestLine(long(1024 * 1024)), { status: 431, error: /HPE_HEADER_OVERFLOW/, orCut: true }],
  // Bytes Node's parser refuses in a target.
  ['a NUL in the target is refused', requestLine('/he\u0000alth'), refused(/malformed HTTP request: .*HPE_INVALID_URL/)],
  ['an escape byte in the target is refused', requestLine('/\u001b[31m'), refused(/HPE_INVALID_URL/)],
  ['a DEL in the target is refused', requestLine('/a\u007f'), refused(/HPE_INVALID_URL/)],
  ['a raw byte over 0x7F in the target is refused', requestLine('/caf\u00e9'), refused(/HPE_INVALID_URL/)],
  ['a tab in the target is refused', requestLine('/a\tb'), refused(/HPE_INVALID_URL/)],
  ['a relative target is refused', requestLine('health'), refused(/HPE_INVALID_URL|neither a path/)],
  // Headers.
  ['a header name with a space is refused', requestLine('/health', 'GET', 'Bad Header: x\r\n'), refused(/Invalid header token.*HPE_INVALID_HEADER_TOKEN/)],
  ['a header name with a parenthesis is refused', requestLine('/health', 'GET', 'X(y): z\r\n'), refused(/HPE_INVALID_HEADER_TOKEN/)],
  ['a NUL in a header value is refused', requestLine('/health', 'GET', 'X-A: a\u0000b\r\n'), refused(/Invalid header value char/)],
  ['a control byte in a header value is refused', requestLine('/health', 'GET', 'X-A: a\u0001b\r\n'), refused(/Invalid header value char/)],
  ['a header line without a colon is refused', requestLine('/health', 'GET', 'NoColonHere\r\n'), refused(/HPE_INVALID_HEADER_TOKEN/)],
  ['headers just under the size limit are served', requestLine('/health', 'GET', `X-Big: ${'a'.repeat(15 * 1024)}\r\n`), { status: 200, error: /^$/ }],
  ['a header over the size limit is refused', requestLine('/health', 'GET', `X-Big: ${'a'.repeat(20 * 1024)}\r\n`), { status: 431, error: /over 16384 bytes \(HPE_HEADER_OVERFLOW\)/ }],
  ['many headers over the size limit together are refused', requestLine('/health', 'GET', `X-H: ${'b'.repeat(100)}\r\n`.repeat(200)), { status: 431, error: /over 16384 bytes \(HPE_HEADER_OVERFLOW\)/ }],
  ['an HTTP/1.1 request without Host is refused', 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n', refused(/needs a Host header/)],
  ['an HTTP/1.0 request without Host is served', 'GET /health HTTP/1.0\r\n\r\n', { status: 200, error: /^$/ }],
  ['an Expect other than 100-continue is refused', requestLine('/health', 'GET', 'Expect: 200-ok\r\n'), { status: 417, error: /Expect: '200-ok' is not supported/ }],
  ['both Content-Length and Transfer-Encoding are refused', requestLine('/health', 'GET', 'Content-Length: 3\r\nTransfer-Encoding: chunked\r\n'), refused(/HPE_INVALID_(CONTENT_LENGTH|TRANSFER_ENCODING)/)],
  ['a Content-Length that is not a number is refused', requestLine('/health', 'GET', 'Content-Length: abc\r\n'), refused(/HPE_INVALID_CONTENT_LENGTH/)],
  // Garbage.
  ['a TLS handshake on the plain port is refused', '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u01fc\u0003\u0003garbage\r\n\r\n', refused(/HPE_INVALID_METHOD/)],
  ['pure garbage bytes are refused', '\u00de\u00ad\u00be\u00ef\u0000\u00ff\r\n\r\n', refused(/malformed HTTP request/)],
  ['an unknown method is refused', requestLine('/health', 'BREW'), refused(/HPE_INVALID_METHOD/)],
  ['an unknown HTTP version is refused', 'GET /health HTTP/9.9\r\nHost: x\r\n\r\n', refused(/HPE_INVALID_VERSION/)],
  ['a request line with no spaces is refused', 'GET/health\r\n\r\n', refused(/malformed HTTP request/)],
  // Well-formed but unknown.
  ['an unknown path is a 404', requestLine('/nope'), notFound],
  ['another method on a known path is a 405', requestLine('/health', 'DELETE'), { status: 405, error: /DELETE is not allowed/ }],
];

function answerFor(expected: Case[2], who: ServerName): Answer {
  return 'status' in expected ? (expected as Answer) : (expected as Record<ServerName, Answer>)[who];
}

function describe(outcome: RawOutcome): string {
  return outcome.kind === 'response' ? `${outcome.response.status} ${outcome.response.body.slice(0, 200)}` : outcome.kind;
}

t.test('no request a client can send stops the master, an agent or the services API', async (t) => {
  const cluster = await startCluster(t);
  const services = await startServices(t, cluster.master.address);
  const ports: Record<ServerName, number> = { master: cluster.master.httpPort, agent: cluster.agents[0]!.httpPort, services: services.api.port };
  for (const who of Object.keys(ports) as ServerName[]) {
    await t.test(who, async (t) => {
      for (const [behaviour, request, expected] of CASES) {
        const want = answerFor(expected, who);
        const outcome = await rawExchange(ports[who], request, secureFor(who));
        if (outcome.kind === 'closed' && want.orCut) t.pass(`${behaviour}: cut off`);
        else if (outcome.kind !== 'response') t.fail(`${behaviour}: ${outcome.kind}, no answer`);
        else {
          const { response } = outcome;
          t.equal(response.status, want.status, `${behaviour}: ${describe(outcome)}`);
          if (want.status !== 200) {
            t.match(response.headers['content-type'], /^application\/json/, `${behaviour}: a JSON answer`);
            t.match(jsonError(response), want.error, `${behaviour}: the error names the problem`);
            t.ok((jsonError(response) ?? '').length < 400, `${behaviour}: the error repeats little of the request`);
          }
        }
        t.equal(await healthStatus(ports[who], who !== 'services'), 200, `${behaviour}: /health still answers`);
      }
      // The real servers keep their 10 s headers timeout; meanwhile others are served.
      const slow = await Promise.all(Array.from({ length: 20 }, () => connectAndSend(ports[who], 'GET /health HTTP/1.1\r\nHost: x\r\n', who !== 'services')));
      t.equal(await healthStatus(ports[who], who !== 'services'), 200, 'twenty clients that never finish their headers do not stop /health');
      for (const socket of slow) socket.destroy();
    });
  }
});

/** A connection to 127.0.0.1:port (over TLS as the operator when `tls`) that has written `bytes` and stays open. */
function connectAndSend(port: number, bytes: string, tls: boolean): Promise<Socket> {
  return new Promise((resolve) => {
    const socket: Socket = tls
      ? testTlsConnect(port, OPERATOR, {}, () => socket.write(bytes, () => resolve(socket)))
      : connect({ host: '127.0.0.1', port }, () => socket.write(bytes, () => resolve(socket)));
    socket.on('error', () => undefined);
  });
}

/** A router, agent server and API server (in this process) with `limits`, closed at teardown. */
async function smallServers(t: TestLike, limits: Partial<HttpLimits>, routes: Routes = {}): Promise<Record<ServerName, number>> {
  const listen = async (server: Server): Promise<number> => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
    return (server.address() as AddressInfo).port;
  };
  // The master's and the agent's ports serve TLS, as they do in a cluster.
  const security: HttpSecurity = { tls: { key: MASTER_CERT.keyPem, cert: MASTER_CERT.certPem, ca: testCa.certPem }, cluster: TEST_CLUSTER, kinds: ['operator', 'master'], open: ['/health'] };
  const master = await listen(createRouter({ '/health': (_req, res) => void res.end('{}'), ...routes }, { limits, security }));
  const agent = await listen(createAgentHttpServer({ state: () => ({}), metrics: async () => ({ contentType: 'text/plain', body: '' }), taskOf: () => undefined }, { limits, security }));
  const api = await startApiServer([{ method: 'GET', path: '/health', handler: () => ({ status: 'ok' }) }, { method: 'POST', path: '/echo', handler: ({ body }) => body }], '127.0.0.1', 0, { limits });
  t.teardown(() => api.close());
  return { master, agent, services: api.port };
}

t.test('a request that never finishes its headers is answered 408 and closed after the headers timeout', async (t) => {
  const ports = await smallServers(t, { headersTimeoutMs: 300, requestTimeoutMs: 600, timeoutCheckMs: 50 });
  const cases: [string, string][] = [
    ['a connection that sends nothing', ''],
    ['a request line and no end of headers', 'GET /health HTTP/1.1\r\nHost: x\r\n'],
    ['half a request line', 'GET /heal'],
  ];
  for (const who of Object.keys(ports) as ServerName[]) {
    for (const [behaviour, bytes] of cases) {
      const outcome = await rawExchange(ports[who], bytes, { timeoutMs: 3_000, watchCloseMs: 1_000, ...secureFor(who) });
      t.equal(outcome.kind === 'response' && outcome.response.status, 408, `${who}, ${behaviour}: ${describe(outcome)}`);
      t.match(outcome.kind === 'response' ? jsonError(outcome.response) : '', /the request did not arrive in time: headers within 300 ms, all of it within 600 ms \(ERR_HTTP_REQUEST_TIMEOUT\)/, `${who}, ${behaviour}: says why`);
      t.not(outcome.kind === 'response' ? outcome.closedAfterMs : 'no response', undefined, `${who}, ${behaviour}: and closed`);
      t.equal(await healthStatus(ports[who], who !== 'services'), 200, `${who}, ${behaviour}: /health still answers`);
    }
  }
});

t.test('headers trickled a line at a time are cut off at the headers timeout, not kept alive by each line', async (t) => {
  const ports = await smallServers(t, { headersTimeoutMs: 300, requestTimeoutMs: 600, timeoutCheckMs: 50 });
  let drip: NodeJS.Timeout | undefined;
  const socket = testTlsConnect(ports.master);
  t.teardown(() => {
    clearInterval(drip);
    socket.destroy();
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  socket.write('GET /health HTTP/1.1\r\n');
  drip = setInterval(() => socket.writable && socket.write('X-Drip: 1\r\n'), 50);
  socket.on('error', () => undefined);
  // A line every 50 ms, for ever, unless the server cuts it: it must, while the client still drips.
  t.not(await within(closed, 10_000), 'timed out', 'the server closed the connection while headers kept trickling in');
});

t.test('a request body that never arrives whole is answered 408 at the request timeout', async (t) => {
  const ports = await smallServers(t, { headersTimeoutMs: 200, requestTimeoutMs: 400, timeoutCheckMs: 50 });
  const outcome = await rawExchange(ports.services, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":', { timeoutMs: 3_000 });
  t.equal(outcome.kind === 'response' && outcome.response.status, 408, describe(outcome));
  t.equal(await healthStatus(ports.services, false), 200);
});

t.test('a request body over the API limit is answered 413, and the server keeps serving', async (t) => {
  const ports = await smallServers(t, {});
  const body = Buffer.alloc(2 * 1024 * 1024, 0x20);
  const head = `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  const outcome = await rawExchange(ports.services, Buffer.concat([Buffer.from(head), body]), { timeoutMs: 10_000 });
  t.equal(outcome.kind === 'response' && outcome.response.status, 413, describe(outcome));
  t.match(outcome.kind === 'response' ? jsonError(outcome.response) : '', /the request body is over 1048576 bytes/);
  t.equal(await healthStatus(ports.services, false), 200);
});

t.test('an event stream outlives the request timeout: it limits receiving the request, not the response', async (t) => {
  const routes: Routes = {
    '/stream': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const tick = setInterval(() => res.write('event: tick\ndata: {}\n\n'), 50);
      res.once('close', () => clearInterval(tick));
    },
  };
  const ports = await smallServers(t, { headersTimeoutMs: 100, requestTimeoutMs: 200, keepAliveTimeoutMs: 200, timeoutCheckMs: 25 }, routes);
  const res = await testFetch(`http://127.0.0.1:${ports.master}/stream`);
  const reader = res.body!.getReader();
  const started = performance.now();
  let ticks = 0;
  while (performance.now() - started < 1_200) {
    const { done, value } = await reader.read();
    if (done) break;
    ticks += (Buffer.from(value).toString().match(/event: tick/g) ?? []).length;
  }
  await reader.cancel();
  t.ok(performance.now() - started >= 1_200, 'the stream stayed open for 1.2 s, six request timeouts');
  t.ok(ticks >= 10, `${ticks} events arrived`);
});

t.test('the servers set the documented limits, not Node defaults', async (t) => {
  const server = createRouter({});
  t.teardown(() => server.close());
  t.equal(server.headersTimeout, HTTP_LIMITS.headersTimeoutMs, 'headers timeout');
  t.equal(server.requestTimeout, HTTP_LIMITS.requestTimeoutMs, 'request timeout');
  t.equal(server.keepAliveTimeout, HTTP_LIMITS.keepAliveTimeoutMs, 'keep-alive timeout');
  t.equal(server.timeout, 0, 'no idle timeout on responses, so event streams and slow answers are not cut');
});

t.test('HTTP limits are whole milliseconds, positive, and the headers timeout fits in the request timeout', async (t) => {
  t.equal(httpLimits({ headersTimeoutMs: 1.005 * 1000 }).headersTimeoutMs, 1005, 'a fraction of a millisecond is rounded (Node refuses it)');
  t.throws(() => httpLimits({ requestTimeoutMs: 5_000 }), /headers timeout \(10000 ms\) must not be longer than the request timeout \(5000 ms\)/);
  t.throws(() => httpLimits({ maxHeaderBytes: 0 }), /maxHeaderBytes must be a positive number, got 0/);
  t.throws(() => httpLimits({ keepAliveTimeoutMs: Number.POSITIVE_INFINITY }), /keepAliveTimeoutMs must be a positive number/);
  t.throws(() => createRouter({}, { limits: { requestTimeoutMs: 5_000 } }), RangeError, 'a server is never built with limits out of order');
});

/** Log lines written as JSON, parsed. */
function capturedLog(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger('master', 'info', { pretty: false, destination }), lines };
}

t.test('a route that fails answers 500 for that request only, and is logged with its stack and request', async (t) => {
  const { log, lines } = capturedLog();
  const listenersBefore = process.listenerCount('uncaughtException') + process.listenerCount('unhandledRejection');
  const routes: Routes = {
    '/health': (_req, res) => void res.end('{}'),
    '/throws': () => {
      throw new Error('boom, synchronously');
    },
    '/rejects': async () => {
      throw new Error('boom, later');
    },
    '/rejects-with-a-string': () => Promise.reject('not an Error'),
    '/throws-mid-response': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('half');
      throw new Error('boom, half-way');
    },
    '/writes-after-end': (_req, res) => {
      res.end('{}');
      res.write('more');
    },
  };
  const server = createRouter(routes, { log });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  // [behaviour, path, what the client gets, what was thrown]
  const cases: [string, string, 500 | 'cut', string][] = [
    ['a synchronous throw', '/throws', 500, 'boom, synchronously'],
    ['a rejected promise', '/rejects', 500, 'boom, later'],
    ['a rejection that is not an Error', '/rejects-with-a-string', 500, 'not an Error'],
    ['a throw after the response began cuts that response', '/throws-mid-response', 'cut', 'boom, half-way'],
  ];
  for (const [behaviour, path, answer, thrown] of cases) {
    const outcome = await rawExchange(port, requestLine(`${path}?token=${'x'.repeat(300)}`), { watchCloseMs: 500 });
    if (answer === 'cut') t.ok(outcome.kind === 'closed' || (outcome.kind === 'response' && outcome.response.status === 200 && outcome.closedAfterMs !== undefined), `${behaviour}: ${describe(outcome)}`);
    else {
      t.equal(outcome.kind === 'response' && outcome.response.status, answer, `${behaviour}: ${describe(outcome)}`);
      t.equal(outcome.kind === 'response' && jsonError(outcome.response), `internal error: ${thrown}`, `${behaviour}: says what failed`);
    }
    const line = lines.find((l) => l['level'] === 50 && JSON.stringify(l).includes(thrown));
    t.ok(line, `${behaviour}: logged at error level`);
    t.equal(line?.['method'], 'GET', `${behaviour}: with the method`);
    t.match(line?.['path'], new RegExp(`^'${path}\\?token=x+…' \\(\\d+ bytes\\)$`), `${behaviour}: with the path, cut short`);
    if (path !== '/rejects-with-a-string') t.match((line?.['err'] as { stack?: string } | undefined)?.stack, /http-hostile\.test\.ts/, `${behaviour}: with the stack`);
    t.equal(await healthStatus(port, false), 200, `${behaviour}: /health still answers`);
  }
  const written = await rawExchange(port, requestLine('/writes-after-end'));
  t.equal(written.kind === 'response' && written.response.status, 200, 'a route that writes after ending still answered');
  const logged = () => lines.some((l) => l['level'] === 50 && l['msg'] === 'HTTP response failed' && l['path'] === "'/writes-after-end'");
  await eventually('the write after end to be logged', logged, 5_000).catch(() => undefined);
  t.ok(logged(), 'and its write after end is logged, not thrown');
  t.equal(await healthStatus(port, false), 200, '/health still answers');
  t.equal(process.listenerCount('uncaughtException') + process.listenerCount('unhandledRejection'), listenersBefore, 'no process-wide handler was added');
});
