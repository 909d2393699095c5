// The SDK pieces the frameworks brought in: portsOf, JsonStateFile and OfferDemand.
import t from 'tap';
import { EventEmitter } from 'node:events';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JsonStateFile, OfferDemand, parseResources, portsOf, StateFileError, type SchedulerClient } from '../../src/framework-sdk/index.js';
import { tempDir } from '../helpers/cluster.js';

t.test('portsOf lists ports ascending, as the agent numbers PORT0..n', async (t) => {
  t.same(portsOf(parseResources('cpus:1;ports:[31005-31006,31000-31000]')), [31000, 31005, 31006]);
  t.same(portsOf(parseResources('cpus:1')), []);
});

t.test('JsonStateFile', async (t) => {
  const dir = tempDir(t);
  const file = new JsonStateFile<{ n: number }>(join(dir, 'sub', 'state.json'));
  t.equal(file.read(), undefined, 'nothing before the first write');
  file.write({ n: 1 });
  file.write({ n: 2 });
  t.same(file.read(), { n: 2 });
  t.same(readdirSync(join(dir, 'sub')), ['state.json'], 'no temp file is left behind');
  writeFileSync(file.path, '{"n": ');
  t.throws(() => file.read(), StateFileError, 'a torn or edited file is an error, not an empty state');
});

t.test('OfferDemand suppresses at 0, revives when work appears or grows, and re-applies after a reconnect', async (t) => {
  const calls: string[] = [];
  const fake = Object.assign(new EventEmitter(), {
    subscribed: true,
    revive: async () => void calls.push('revive'),
    suppress: async () => void calls.push('suppress'),
  });
  const demand = new OfferDemand(fake as unknown as SchedulerClient);
  demand.set(0);
  demand.set(0);
  t.same(calls, ['suppress'], 'suppressed once');
  demand.set(2);
  demand.set(2);
  demand.set(1);
  t.same(calls, ['suppress', 'revive'], 'revived once; fewer waiting changes nothing');
  demand.set(3);
  t.same(calls.at(-1), 'revive', 'more waiting revives again (clearing filters)');
  t.equal(demand.suppressed, false);
  fake.emit('disconnected', 'gone');
  fake.emit('subscribed', {});
  t.same(calls.slice(-1), ['revive'], 'after a new subscription the state is applied afresh');
  fake.subscribed = false;
  demand.set(0);
  t.equal(calls.filter((c) => c === 'suppress').length, 1, 'nothing is sent while not subscribed');
});
