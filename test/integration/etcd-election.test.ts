import t from 'tap';
import { systemClock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/logging.js';
import { LeaderElection } from '../../src/master/ha/election.js';
import { EtcdClient, parseEtcdUrl, type MasterAddress } from '../../src/common/etcd-client.js';
import { EtcdRegistryStore, FencedWriteError } from '../../src/master/registry/etcd-store.js';
import { startEtcd } from '../helpers/etcd.js';

const etcd = await startEtcd();
t.teardown(() => etcd.stop());

const address = (n: number): MasterAddress => ({ masterId: `m${n}`, address: `127.0.0.1:${5050 + n}`, httpUrl: `https://127.0.0.1:${6050 + n}` });

/** A candidate that records what the election tells it. */
function candidate(cluster: string, n: number) {
  const client = new EtcdClient(parseEtcdUrl(etcd.url));
  const seen = { elected: [] as number[], deposed: [] as string[] };
  const election = new LeaderElection({
    client,
    cluster,
    self: address(n),
    clock: systemClock,
    log: silentLogger,
    onElected: (epoch) => seen.elected.push(epoch),
    onDeposed: (reason) => seen.deposed.push(reason),
  });
  election.start();
  return { client, election, seen, async close() { await election.stop(); client.close(); } };
}

async function until(what: string, check: () => boolean, ms = 8_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

t.test('parseEtcdUrl names the flag and the entry at fault', async (t) => {
  t.same(parseEtcdUrl('etcd://127.0.0.1:2379,h2:2379'), ['http://127.0.0.1:2379', 'http://h2:2379']);
  t.throws(() => parseEtcdUrl('http://h:1'), /--registry: 'http:\/\/h:1' is not an etcd URL/);
  t.throws(() => parseEtcdUrl('etcd://h:1,h2'), /entry 2, 'h2', is not HOST:PORT/);
  t.throws(() => parseEtcdUrl('etcd://h:70000'), /port from 1 to 65535/);
});

t.test('one of two masters leads; the other knows it, and takes over when it resigns', async (t) => {
  const a = candidate('two', 1);
  await until('a leads', () => a.election.state === 'leader');
  const b = candidate('two', 2);
  t.teardown(() => b.close());
  await until('b sees the leader', () => b.election.state === 'standby' && b.election.leader?.masterId === 'm1');
  t.equal(b.election.isLeading(), false);
  const firstEpoch = a.election.epoch;
  t.ok(firstEpoch > 0, 'the epoch is the leader key revision');
  t.same((await b.election.members()).map((m) => m.masterId).sort(), ['m1', 'm2'], 'both publish their address');

  await a.close();
  await until('b leads', () => b.election.state === 'leader', 1_500);
  t.ok(b.election.epoch > firstEpoch, 'the new epoch is higher');
  t.same(b.seen.elected, [b.election.epoch]);
});

t.test('a deposed leader’s registry writes are refused by the fence; the leader’s go through', async (t) => {
  const a = candidate('fence', 1);
  await until('a leads', () => a.election.state === 'leader');
  const oldStore = new EtcdRegistryStore(a.client, 'fence', a.election.epoch);
  await oldStore.write([{ op: 'put', key: 'weight/web', value: 2 }]);
  const b = candidate('fence', 2);
  t.teardown(() => b.close());
  // a loses the lead without knowing: its lease is revoked behind its back (as if it expired while a was paused).
  await a.client.revokeLease((a.election as unknown as { leaseId: string }).leaseId);
  await until('b leads', () => b.election.state === 'leader');
  await t.rejects(oldStore.write([{ op: 'put', key: 'weight/web', value: 5 }]), FencedWriteError, 'the old epoch cannot write');
  const store = new EtcdRegistryStore(b.client, 'fence', b.election.epoch);
  t.same(await store.load(), new Map([['weight/web', 2]]), 'the refused write changed nothing');
  await store.write([{ op: 'put', key: 'weight/web', value: 3 }, { op: 'delete', key: 'quota/x' }]);
  t.same(await store.load(), new Map([['weight/web', 3]]));
  const many = Array.from({ length: 300 }, (_, i) => ({ op: 'put' as const, key: `weight/r${i}`, value: 2 }));
  await store.write(many);
  t.equal((await store.load()).size, 301, 'a batch past etcd’s transaction limit goes in several fenced parts');
  await until('a notices', () => a.election.state !== 'leader');
  t.equal(a.seen.deposed.length, 1, 'a stepped down once');
  await a.close();
});

t.test('a leader that cannot reach etcd steps down on its own timer, and leads again when etcd is back', async (t) => {
  const a = candidate('outage', 1);
  t.teardown(() => a.close());
  await until('a leads', () => a.election.state === 'leader');
  const internals = a.election as unknown as { validUntil: number; lastRenewAt: number };
  t.equal(internals.validUntil - internals.lastRenewAt, 1_500, 'its own deadline is 3/4 of the 2 s lease past the last renewal sent');
  etcd.pause();
  await until('a steps down', () => a.seen.deposed.length === 1, 5_000);
  t.equal(a.election.isLeading(), false);
  etcd.resume();
  await until('a leads again', () => a.election.state === 'leader', 15_000);
  t.equal(a.seen.elected.length, 2);
});
