/**
 * A master whose registry stops taking writes, seen from outside over gRPC: the call that needed
 * the write is refused UNAVAILABLE with the typed reason REGISTRY_UNAVAILABLE, naming the write,
 * and the master stops serving (its memory might otherwise run ahead of its registry).
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { orbitV1 } from '../../src/common/proto.js';
import { decodeStatusDetails, STATUS_DETAILS_KEY } from '../../src/common/status-details.js';
import { startMaster } from '../../src/master/master.js';
import { MemoryRegistryStore } from '../../src/master/registry/memory-store.js';
import { FAST_MASTER, tempDir } from '../helpers/cluster.js';
import { testChannel, testMasterSecurity } from '../helpers/pki.js';

t.test('a failed registry write refuses the call with REGISTRY_UNAVAILABLE and stops the master', async (t) => {
  const store = new MemoryRegistryStore();
  const master = await startMaster({ security: testMasterSecurity(), ip: '127.0.0.1', port: 0, httpPort: 0, workDir: tempDir(t), registryStore: store, ...FAST_MASTER });
  t.teardown(() => master.stop());
  const operator = new (orbitV1().Operator)(master.address, testChannel());
  t.teardown(() => operator.close());
  const updateWeights = (weight: number) =>
    new Promise<grpc.ServiceError | null>((resolve) => operator.UpdateWeights({ weights: [{ role: 'analytics', weight }] }, { deadline: Date.now() + 5_000 }, (err) => resolve(err)));

  t.equal(await updateWeights(2), null, 'a write that works answers OK');
  const writes = store.writes;
  store.failWrites(new Error('ENOSPC: no space left on device, write'));
  const err = await updateWeights(3);
  t.equal(err?.code, grpc.status.UNAVAILABLE);
  t.match(err?.details, /the registry write 'set weight' failed \(ENOSPC/);
  const [details] = (err?.metadata.get(STATUS_DETAILS_KEY) ?? []) as Buffer[];
  t.strictSame(details && decodeStatusDetails(details), { reason: 'REGISTRY_UNAVAILABLE', metadata: {} }, 'the reason is typed in the status details');
  const failure = await master.failed;
  t.match(failure.message, /set weight/, 'the master reports the failure');
  t.equal(master.core.allocator.weight('analytics'), 2, 'the weight in memory is what the registry has');
  t.equal(store.writes, writes, 'nothing was written');

  store.failWrites(undefined);
  const after = await updateWeights(4);
  t.ok(after?.code === grpc.status.UNAVAILABLE || after?.code === grpc.status.CANCELLED, `the master no longer serves (${after?.code})`);
  t.equal(master.core.allocator.weight('analytics'), 2, 'and the weight did not change');
});
