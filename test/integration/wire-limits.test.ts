import t, { type Test } from 'tap';
import * as grpc from '@grpc/grpc-js';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { orbitV1 } from '../../src/common/proto.js';
import { startMaster, type RunningMaster, type MasterOptions } from '../../src/master/master.js';
import { cliBuildProblem, runOrbit, within } from '../helpers/cli.js';
import { eventually, tempDir, type TestLike } from '../helpers/cluster.js';
import { FRAME, frame, grpcHeaders, PREFACE, RawH2 } from '../helpers/raw-h2.js';
import { testChannel, testMasterSecurity } from '../helpers/pki.js';

const MiB = 2 ** 20;
const REFUSED_STREAM = 0x7;
const identity = (b: Buffer): Buffer => b;

async function master(t: TestLike, wireLimits: MasterOptions['wireLimits'] = {}, security = testMasterSecurity()): Promise<RunningMaster> {
  const m = await startMaster({ security, ip: '127.0.0.1', port: 0, httpPort: 0, workDir: tempDir(t), wireLimits });
  t.teardown(() => m.stop());
  return m;
}

/** GetState with `bytes` as the request, raw: the status code (OK when answered). */
function rawGetState(t: TestLike, m: RunningMaster, bytes: Buffer): Promise<{ code: grpc.status; details: string }> {
  const client = new grpc.Client(m.address, testChannel());
  t.teardown(() => client.close());
  return new Promise((resolve) => {
    client.makeUnaryRequest('/orbit.v1.Operator/GetState', identity, identity, bytes, (err) => resolve({ code: err?.code ?? grpc.status.OK, details: err?.details ?? '' }));
  });
}

/** A GetStateRequest of exactly `size` bytes: one unknown length-delimited field (number 15), which the master skips. */
function getStateOfSize(size: number): Buffer {
  const lengthBytes = 4; // every length from 2^21 to 2^28 - 1 takes four varint bytes
  const length = size - 1 - lengthBytes;
  const prefix = Buffer.from([0x7a, (length & 0x7f) | 0x80, ((length >> 7) & 0x7f) | 0x80, ((length >> 14) & 0x7f) | 0x80, length >> 21]);
  return Buffer.concat([prefix, Buffer.alloc(length, 0x61)]);
}

function stillServes(t: TestLike, m: RunningMaster): Promise<grpc.ServiceError | null> {
  const client = new (orbitV1().Operator)(m.address, m.security.insecure ? grpc.credentials.createInsecure() : testChannel());
  t.teardown(() => client.close());
  return new Promise((resolve) => client.GetState({}, (err) => resolve(err)));
}

t.test('the master takes a message of 4 MiB and refuses one byte more with RESOURCE_EXHAUSTED', async (t) => {
  const m = await master(t);
  t.equal(getStateOfSize(4 * MiB).length, 4 * MiB);
  const cases: [string, number, grpc.status][] = [
    ['exactly the limit', 4 * MiB, grpc.status.OK],
    ['one byte over', 4 * MiB + 1, grpc.status.RESOURCE_EXHAUSTED],
    ['the old 64 MiB limit', 60 * MiB, grpc.status.RESOURCE_EXHAUSTED],
  ];
  for (const [name, size, code] of cases) {
    const result = await rawGetState(t, m, getStateOfSize(size));
    t.equal(result.code, code, `${name}: ${grpc.status[code]} ${result.details}`);
  }
  t.equal(await stillServes(t, m), null, 'and keeps serving');
});

t.test('a raised receive limit takes the larger message', async (t) => {
  const m = await master(t, { maxReceiveBytes: 8 * MiB });
  t.equal((await rawGetState(t, m, getStateOfSize(4 * MiB + 1))).code, grpc.status.OK);
});

type When = 'at once' | 'after the timeout';

/**
 * Opens one connection per case (`open` makes it and sends the case's bytes), checks the master
 * still serves a real client meanwhile, and that each connection was closed as its case says.
 * Orders, not speeds: a broken handshake is closed before any connection that only waits, and a
 * waiting one no earlier than the timeout (timers never fire early).
 */
async function closedAsExpected(t: Test, m: RunningMaster, timeoutMs: number, cases: [string, () => Socket, When][]): Promise<void> {
  const closes = cases.map(async ([name, open, when]) => {
    const started = Date.now();
    const socket = open();
    socket.on('error', () => undefined);
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    return { name, when, ms: Date.now() - started, closedAt: performance.now() };
  });
  t.equal(await stillServes(t, m), null, 'a real client is served meanwhile');
  const closed = await within(Promise.all(closes), 30_000);
  if (closed === 'timed out') return void t.fail('a connection that never completed the handshake was left open');
  const firstWaiterClosed = Math.min(...closed.filter((c) => c.when === 'after the timeout').map((c) => c.closedAt));
  for (const { name, when, ms, closedAt } of closed) {
    if (when === 'at once') t.ok(closedAt < firstWaiterClosed, `${name}: closed at once, before the waiting connections (${ms} ms)`);
    else t.ok(ms >= timeoutMs, `${name}: left open until the timeout (${ms} ms)`);
  }
}

/** A plain TCP connection to `port` that sends `bytes` once connected. */
function sending(port: number, bytes: Buffer): () => Socket {
  return () => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    return socket;
  };
}

t.test('connections that do not complete the TLS handshake are closed', async (t) => {
  const timeoutMs = 1_000;
  const m = await master(t, { handshakeTimeoutMs: timeoutMs });
  await closedAsExpected(t, m, timeoutMs, [
    ['nothing at all', sending(m.port, Buffer.alloc(0)), 'after the timeout'],
    ['half a TLS ClientHello', sending(m.port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])), 'after the timeout'],
    ['a TLS handshake and then nothing', () => tlsConnect({ port: m.port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['h2'] }), 'after the timeout'],
    ['plaintext HTTP/2 (a client without TLS)', sending(m.port, Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)])), 'at once'],
    ['an HTTP/1.1 request', sending(m.port, Buffer.from('GET /state HTTP/1.1\r\nHost: x\r\n\r\n')), 'at once'],
  ]);
});

// The guard in front of grpc-js reads the HTTP/2 handshake itself; without TLS (--insecure, the
// rare plaintext test) its every case can be written byte by byte.
t.test('connections that do not complete the HTTP/2 handshake are closed', async (t) => {
  const timeoutMs = 1_000;
  const m = await master(t, { handshakeTimeoutMs: timeoutMs }, { insecure: true });
  const cases: [string, Buffer, When][] = [
    ['nothing at all', Buffer.alloc(0), 'after the timeout'],
    ['half a preface', PREFACE.subarray(0, 10), 'after the timeout'],
    ['the preface without SETTINGS', PREFACE, 'after the timeout'],
    ['the preface and half a SETTINGS frame', Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(12)).subarray(0, 15)]), 'after the timeout'],
    ['an HTTP/1.1 request', Buffer.from('GET /state HTTP/1.1\r\nHost: x\r\n\r\n'), 'at once'],
    ['the preface and a PING first', Buffer.concat([PREFACE, frame(FRAME.PING, 0, 0, Buffer.alloc(8))]), 'at once'],
    ['a SETTINGS frame of 7 bytes', Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(7))]), 'at once'],
  ];
  await closedAsExpected(t, m, timeoutMs, cases.map(([name, bytes, when]) => [name, sending(m.port, bytes), when]));
});

t.test('streams beyond the per-connection limit are refused; other connections are served', async (t) => {
  const m = await master(t, { maxStreamsPerConnection: 16 });
  const subscribe = (raw: RawH2, count: number) => {
    for (let i = 0; i < count; i++) raw.send(grpcHeaders(1 + 2 * i, '/orbit.v1.Scheduler/Subscribe'));
  };

  // Sent before the server's SETTINGS have been acknowledged: each stream past 16 is refused alone.
  const eager = await RawH2.open(m.port);
  t.teardown(() => eager.close());
  subscribe(eager, 20);
  await eventually('four streams refused', () => eager.received(FRAME.RST_STREAM).length >= 4, 10_000);
  const refused = eager.received(FRAME.RST_STREAM).filter((f) => f.payload.readUInt32BE(0) === REFUSED_STREAM).map((f) => f.streamId);
  t.same(refused, [33, 35, 37, 39], 'the 17th to 20th streams get REFUSED_STREAM');
  t.notOk(eager.closed, 'the first 16 stay open');

  // A peer that has acknowledged the limit and still passes it breaks the protocol: the connection goes.
  const knowing = await RawH2.open(m.port);
  t.teardown(() => knowing.close());
  // Its acknowledgement goes out as the server's SETTINGS arrive, ahead of the streams on the same socket.
  await eventually("the server's SETTINGS", () => knowing.received(FRAME.SETTINGS).some((f) => (f.flags & 1) === 0), 10_000);
  subscribe(knowing, 17);
  await knowing.closedAt;
  // Node sends GOAWAY and closes; over TLS the GOAWAY may not be flushed before the close, so the close is what is asserted.
  t.ok(knowing.closed, 'past the acknowledged limit: the connection is closed');
  t.notOk(knowing.received(FRAME.HEADERS).some((f) => f.streamId === 33), 'the 17th stream was never answered');

  t.equal(await stillServes(t, m), null, 'the master keeps serving others');
});

t.test('orbit master refuses wire limits outside their bounds, naming the flag and the range', async (t) => {
  const problem = cliBuildProblem();
  if (problem) return void t.fail(problem);
  const dir = tempDir(t);
  const cases: [string[], RegExp][] = [
    [['--max-receive-bytes', '1000'], /--max-receive-bytes must be from 1048576 to 67108864 bytes, got 1000/],
    [['--max-receive-bytes', '4.5'], /--max-receive-bytes: expected an integer/],
    [['--max-stream-queue-bytes', String(2 * 1024 * MiB)], /--max-stream-queue-bytes must be from 65536 to 1073741824 bytes/],
    [['--handshake-timeout', '0.01'], /--handshake-timeout must be from 0.1 to 300 seconds, got 0.01/],
    [['--max-streams-per-connection', '4'], /--max-streams-per-connection must be from 16 to 100000 streams, got 4/],
  ];
  await Promise.all(cases.map(async ([flags, message]) => {
    const result = await runOrbit(t, ['master', '--work-dir', dir, '--port', '0', '--http-port', '0', ...flags], { timeoutMs: 20_000 });
    t.equal(result.code, 1, `${flags.join(' ')} exits 1`);
    t.match(result.stderr, message);
  }));
});
