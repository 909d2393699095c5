import t from 'tap';
import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';
import { ERROR_REASONS, FailedPreconditionError, InvalidArgumentError, NotFoundError, reasonOf, UnimplementedError } from '../../src/common/errors.js';
import { decodeStatusDetails, encodeStatusDetails } from '../../src/common/status-details.js';
import { toServiceError } from '../../src/master/rpc/status-codes.js';

t.test('the domain reasons are the wire enum ErrorReason, name for name and in order', async (t) => {
  const root = new protobuf.Root();
  root.loadSync(fileURLToPath(new URL('../../proto/orbit/v1/common.proto', import.meta.url)));
  const wire = Object.keys(root.lookupEnum('orbit.v1.ErrorReason').values).filter((n) => n !== 'ERROR_REASON_UNKNOWN');
  t.strictSame(wire, ERROR_REASONS.map((r) => `ERROR_${r}`));
});

t.test('each fault carries its reason, and an unnamed fault is INTERNAL', async (t) => {
  const cases: [string, unknown, string][] = [
    ['a malformed field', new InvalidArgumentError('task_id', 'is empty'), 'INVALID_ARGUMENT'],
    ['a cap', new InvalidArgumentError('acks', 'too many', { reason: 'LIMIT_EXCEEDED' }), 'LIMIT_EXCEEDED'],
    ['an unknown framework', new NotFoundError('framework', 'fw-x'), 'UNKNOWN_FRAMEWORK'],
    ['an unknown agent', new NotFoundError('agent', 'agent-x'), 'UNKNOWN_AGENT'],
    ['a stale stream', new FailedPreconditionError('STALE_STREAM', 'not current'), 'STALE_STREAM'],
    ['a feature to come', new UnimplementedError('later'), 'UNIMPLEMENTED'],
    ['a bug', new TypeError('x is undefined'), 'INTERNAL'],
    ['a thrown string', 'oops', 'INTERNAL'],
  ];
  for (const [what, err, reason] of cases) t.equal(reasonOf(err), reason, what);
});

t.test('a refusal travels as a google.rpc.Status with an orbit.v1 ErrorInfo, and reads back', async (t) => {
  const error = toServiceError(new FailedPreconditionError('FRAMEWORK_REMOVED', "framework 'fw-1' was torn down"));
  const [bytes] = error.metadata!.get('grpc-status-details-bin') as Buffer[];
  t.strictSame(decodeStatusDetails(bytes!), { reason: 'FRAMEWORK_REMOVED', metadata: {} });
  t.strictSame(decodeStatusDetails(encodeStatusDetails(14, 'later', { reason: 'REGISTRY_UNAVAILABLE', metadata: { write: 'set weight' } })), { reason: 'REGISTRY_UNAVAILABLE', metadata: { write: 'set weight' } });
  t.equal(decodeStatusDetails(Buffer.from('not a status')), undefined, 'garbage has no reason');
  t.equal(decodeStatusDetails(encodeStatusDetails(2, 'x', { reason: 'NOT_A_REASON' as never, metadata: {} })), undefined, 'nor does a reason this build does not know');
});
