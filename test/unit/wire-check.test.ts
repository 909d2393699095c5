import t from 'tap';
import protobuf from 'protobufjs';
import { checkWire, messageRule, WireFormatError } from '../../src/common/wire-check.js';
import { orbitV1 } from '../../src/common/proto.js';

/** Wire bytes from numbers (bytes), strings (UTF-8) and byte arrays, in order. */
function wire(...parts: (number | string | number[])[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
}

/** A varint in its shortest form. */
function varint(n: bigint): number[] {
  const out: number[] = [];
  do {
    const low = Number(n & 0x7fn);
    n >>= 7n;
    out.push(n > 0n ? low | 0x80 : low);
  } while (n > 0n);
  return out;
}

const v1 = orbitV1();
const setQuota = v1.Operator.service.SetQuota;
const decodeSetQuota = (bytes: Buffer) => setQuota.requestDeserialize(bytes) as { role: string; force: boolean };
const agentMessage = v1.AgentLink.service.Connect;

t.test('well-formed messages decode as before', async (t) => {
  const valid = setQuota.requestSerialize({ role: 'analytics', guarantee: [{ name: 'cpus', type: 'SCALAR', scalar: 2 }], force: true });
  const cases: [string, Buffer, Record<string, unknown>][] = [
    ['an empty message', wire(), { role: '', force: false }],
    ['a message our encoder wrote', valid, { role: 'analytics', force: true }],
    ['unknown fields of every wire type (a newer peer)', wire(0x0a, 2, 'ok', 0xf8, 0x06, 1, 0xf9, 0x06, [1, 2, 3, 4, 5, 6, 7, 8], 0xfd, 0x06, [1, 2, 3, 4], 0xfa, 0x06, 1, 'x'), { role: 'ok', force: false }],
    ['a bool in a five-byte varint', wire(0x20, [0x81, 0x80, 0x80, 0x80, 0x00]), { role: '', force: true }],
  ];
  for (const [name, bytes, expected] of cases) t.match(decodeSetQuota(bytes), expected, name);

  const status = { taskId: 't1', state: 'TASK_FAILED', exitCode: -1 };
  const encoded = agentMessage.requestSerialize({ statusUpdate: { status } });
  t.ok(encoded.includes(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), 'a negative int32 is a 10-byte varint');
  t.match(agentMessage.requestDeserialize(encoded), { statusUpdate: { status: { taskId: 't1', exitCode: -1 } } }, 'and passes');
});

t.test('malformed messages are refused, naming the field and the byte', async (t) => {
  const twoGiB = varint(2n ** 31n);
  const cases: [string, Buffer, RegExp][] = [
    ['a string claiming 2 GiB with three bytes present', wire(0x0a, twoGiB, 'abc'), /SetQuotaRequest\.role \(field 1\) at byte 6: length 2147483648 is more than the 3 bytes left/],
    ['a length of 2^32 + 3 (protobufjs would read 3)', wire(0x0a, varint(2n ** 32n + 3n), 'abc'), /length over 32 bits/],
    ['a length in 6 bytes', wire(0x0a, varint(2n ** 35n + 3n), 'abc'), /length longer than 5 bytes/],
    ['a length past the end', wire(0x0a, 10, 'abc'), /length 10 is more than the 3 bytes left/],
    ['a string sent as a varint', wire(0x08, 5), /role \(field 1\) at byte 0: wire type 0, declared 2/],
    ['a bool sent as fixed64', wire(0x21, [0, 0, 0, 0, 0, 0, 0, 0]), /force \(field 4\).*wire type 1, declared 0/],
    ['a nested field running past its message', wire(0x12, 3, 0x0a, 5, 'cpus'), /Resource\.name \(field 1\) at byte 4: length 5 is more than the 1 bytes left/],
    ['a nested message claiming more than its parent holds', wire(0x12, varint(200n), 0x0a, 1, 'x'), /guarantee \(field 2\).*length 200 is more than the 3 bytes left/],
    ['a varint cut short', wire(0x20, 0x80), /force \(field 4\) at byte 1: varint cut short/],
    ['a varint of 11 bytes', wire(0xf8, 0x06, Array(10).fill(0x80), 0), /varint longer than 10 bytes/],
    ['a 10-byte varint over 64 bits', wire(0xf8, 0x06, Array(9).fill(0x80), 0x02), /varint over 64 bits/],
    ['a 7-byte varint for a bool (protobufjs would skip 3 bytes too many)', wire(0x20, [0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), /7-byte varint for a 32-bit field/],
    ['field number 0', wire(0x02, 0), /field number 0/],
    ['a group', wire(0xfb, 0x06, 0xfc, 0x06), /field 111 at byte 0: wire type 3 \(a group\)/],
    ['wire type 7', wire(varint((99n << 3n) | 7n)), /field 99 at byte 0: wire type 7 \(no such type\)/],
    ['a tag of 6 bytes', wire([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), /tag longer than 5 bytes/],
    ['a tag over 32 bits', wire([0x80, 0x80, 0x80, 0x80, 0x10]), /tag over 32 bits/],
    ['a tag cut short', wire(0x80), /tag cut short/],
    ['a fixed64 cut short', wire(0xf9, 0x06, [1, 2, 3]), /8-byte value cut short/],
    ['a fixed32 cut short', wire(0xfd, 0x06, [1]), /4-byte value cut short/],
  ];
  for (const [name, bytes, message] of cases) {
    t.throws(() => decodeSetQuota(bytes), message, name);
    t.throws(() => decodeSetQuota(bytes), WireFormatError);
  }
});

t.test('a message nested 101 deep is refused; 100 deep is fine', async (t) => {
  // AgentMessage.batch (5) holds AgentMessages, whose messages (1) hold AgentMessage.
  const nest = (levels: number, bottom: Buffer): Buffer => {
    let inner = bottom;
    for (let i = 0; i < levels; i++) {
      const messages = wire(0x0a, varint(BigInt(inner.length)), [...inner]);
      inner = wire(0x2a, varint(BigInt(messages.length)), [...messages]);
    }
    return inner;
  };
  // 50 batches of batches put an AgentMessage at depth 100; its heartbeat would be at 101.
  t.doesNotThrow(() => agentMessage.requestDeserialize(nest(50, wire())), 'an empty message at depth 100');
  t.throws(() => agentMessage.requestDeserialize(nest(50, wire(0x22, 0))), /AgentHeartbeat at byte \d+: nested more than 100 deep/);
});

t.test('every method of every service checks both directions', async (t) => {
  // Field 1 claiming 2 GiB: malformed whatever field 1 is, known or not.
  const bad = wire(0x0a, varint(2n ** 31n), 'abc');
  let methods = 0;
  for (const service of [v1.Scheduler.service, v1.Operator.service, v1.AgentLink.service]) {
    for (const method of Object.values(service)) {
      t.throws(() => method.requestDeserialize(bad), WireFormatError, `${method.path} request`);
      t.throws(() => method.responseDeserialize(bad), WireFormatError, `${method.path} response`);
      methods++;
    }
  }
  t.equal(methods, 10 + 10 + 1, 'Scheduler 10, Operator 10, AgentLink 1');
});

t.test('packed scalars and map entries, which the contract may grow, are walked too', async (t) => {
  const { root } = protobuf.parse('syntax = "proto3"; message P { repeated int32 xs = 1; repeated fixed32 fs = 2; map<string, P> children = 3; }');
  const rule = messageRule(root.lookupType('P'));
  const ok: [string, Buffer][] = [
    ['packed varints', wire(0x0a, 3, 1, 0x96, 0x01)],
    ['the same, unpacked', wire(0x08, 1, 0x08, 0x96, 0x01)],
    ['packed fixed32s', wire(0x12, 8, [1, 0, 0, 0, 2, 0, 0, 0])],
    ['a map entry holding a message', wire(0x1a, 7, 0x0a, 1, 'k', 0x12, 2, 0x08, 1)],
  ];
  for (const [name, bytes] of ok) t.doesNotThrow(() => checkWire(rule, bytes), name);
  const bad: [string, Buffer, RegExp][] = [
    ['a packed varint cut short at the run\'s end', wire(0x0a, 2, 1, 0x96, 0x01), /P\.xs \(field 1\) at byte 3: varint cut short/],
    ['packed fixed32s in 6 bytes', wire(0x12, 6, [1, 0, 0, 0, 2, 0]), /packed 4-byte values in 6 bytes/],
    ['a map key sent as a varint', wire(0x1a, 2, 0x08, 1), /P\.children entry\.key \(field 1\).*wire type 0, declared 2/],
    ['a map value that is not a P', wire(0x1a, 4, 0x12, 2, 0x08, 0x80), /P\.xs \(field 1\).*varint cut short/],
  ];
  for (const [name, bytes, message] of bad) t.throws(() => checkWire(rule, bytes), message, name);
});
