import t from 'tap';
import { InvalidArgumentError } from '../../src/common/errors.js';
import { LogRegistryStore } from '../../src/master/registry/log-store.js';
import {
  MemoryRegistryStore, Registry, registryChange,
  type AgentEntry, type FrameworkEntry, type QuotaEntry,
} from '../../src/master/registry/registry.js';
import { RegistryCorruptError, type RegistryStore } from '../../src/master/registry/registry-store.js';

const agent = (id: string, more: Partial<AgentEntry> = {}): AgentEntry =>
  ({ id, hostname: `${id}.example`, status: 'admitted', since: 1_700_000_000_000, ...more });

const framework = (id: string, more: Partial<FrameworkEntry> = {}): FrameworkEntry => ({
  info: {
    id, name: `fw-${id}`, roles: ['web'], user: 'orbit', hostname: 'sched.example',
    failoverTimeoutMs: 604_800_000, principal: 'p', labels: { team: 'infra' },
  },
  ...more,
});

const quota: QuotaEntry = { guarantee: 'cpus:2;mem:1024', limit: 'cpus:4;mem:2048' };

/** Each behaviour runs against both stores: the fake and the real log. */
const stores: [string, (dir: string) => Promise<RegistryStore>][] = [
  ['memory store', async () => new MemoryRegistryStore()],
  ['log store', (dir) => LogRegistryStore.open({ dir })],
];

for (const [name, makeStore] of stores) {
  t.test(`typed set and get survive recovery (${name})`, async (t) => {
    const dir = t.testdir();
    const store = await makeStore(dir);
    const registry = await Registry.recover(store);
    await registry.putAgent(agent('a2', { status: 'unreachable', reservations: 'cpus(web):1' }));
    await registry.putAgent(agent('a1'));
    await registry.putAgent(agent('gone1', { status: 'gone' }));
    await registry.removeAgent('gone1');
    await registry.putFramework(framework('f1', { failoverDeadline: 1_700_000_100_000 }));
    await registry.putFramework(framework('f2', { removed: true }));
    await registry.removeFramework('f2');
    await registry.setWeight('web', 2.5);
    await registry.setWeight('batch', 0.5);
    await registry.setQuota('web', quota);
    await registry.setQuota('batch', quota);
    await registry.removeQuota('batch');

    const check = (r: Registry, when: string): void => {
      t.same(r.agents().map((a) => a.id), ['a1', 'a2'], `agents by id ${when}`);
      t.same(r.agent('a2'), agent('a2', { status: 'unreachable', reservations: 'cpus(web):1' }), when);
      t.equal(r.agent('gone1'), undefined, when);
      t.same(r.frameworks(), [framework('f1', { failoverDeadline: 1_700_000_100_000 })], when);
      t.same(r.framework('f1')?.info.labels, { team: 'infra' }, when);
      t.same(r.weights(), new Map([['web', 2.5], ['batch', 0.5]]), when);
      t.same(r.quotas(), new Map([['web', quota]]), when);
    };
    check(registry, 'before restart');
    const recovered = await Registry.recover(store instanceof MemoryRegistryStore ? store : await reopen(store, dir));
    check(recovered, 'after recovery');
    await recovered.close();
    await registry.close();
  });
}

async function reopen(store: RegistryStore, dir: string): Promise<RegistryStore> {
  await store.close();
  return LogRegistryStore.open({ dir });
}

t.test('setWeight(role, 1) removes the stored key: 1 is the default', async (t) => {
  const store = new MemoryRegistryStore();
  const registry = await Registry.recover(store);
  await registry.setWeight('web', 3);
  t.same([...(await store.load()).keys()], ['weight/web']);
  await registry.setWeight('web', 1);
  t.same([...(await store.load()).keys()], []);
  t.same(registry.weights(), new Map());
});

t.test('update writes several kinds in one atomic store write', async (t) => {
  const store = new MemoryRegistryStore();
  const registry = await Registry.recover(store);
  await registry.update([
    registryChange.putAgent(agent('a1')),
    registryChange.putFramework(framework('f1')),
    registryChange.setWeight('web', 2),
    registryChange.setQuota('web', quota),
  ]);
  t.equal(store.writes, 1);
  t.same([...(await store.load()).keys()].sort(), ['agent/a1', 'framework/f1', 'quota/web', 'weight/web']);
});

t.test('a failed store write leaves the in-memory copy unchanged', async (t) => {
  const store = new MemoryRegistryStore();
  const registry = await Registry.recover(store);
  await registry.putAgent(agent('a1'));
  store.failWrites(new Error('disk on fire'));
  await t.rejects(registry.update([registryChange.removeAgent('a1'), registryChange.putAgent(agent('a2'))]), /disk on fire/);
  t.same(registry.agents().map((a) => a.id), ['a1']);
});

t.test('concurrent setters land in call order', async (t) => {
  const store = new MemoryRegistryStore();
  const registry = await Registry.recover(store);
  await Promise.all([1, 2, 3, 4, 5].map((w) => registry.setWeight('web', w + 0.5)));
  t.equal(registry.weights().get('web'), 5.5);
  t.equal((await store.load()).get('weight/web'), 5.5);
});

t.test('entries handed out are frozen copies', async (t) => {
  const registry = await Registry.recover(new MemoryRegistryStore());
  const mine = framework('f1');
  await registry.putFramework(mine);
  mine.info.roles.push('sneaky');
  t.same(registry.framework('f1')?.info.roles, ['web'], 'later changes to the caller object do not leak in');
  t.throws(() => { (registry.framework('f1') as FrameworkEntry).removed = true; }, TypeError);
  t.throws(() => { registry.framework('f1')!.info.roles.push('x'); }, TypeError);
});

t.test('a malformed entry is refused, naming the field, and nothing is written', async (t) => {
  const cases: [string, () => ReturnType<typeof registryChange.putAgent>, string][] = [
    ['an unknown agent status', () => registryChange.putAgent({ ...agent('a1'), status: 'lost' as never }), 'changes[0].entry.status'],
    ['an agent without an id', () => registryChange.putAgent(agent('')), 'changes[0].entry.id'],
    ['a non-finite since', () => registryChange.putAgent(agent('a1', { since: Number.NaN })), 'changes[0].entry.since'],
    ['a label that is not a string', () => registryChange.putFramework(framework('f1', {
      info: { ...framework('f1').info, labels: { n: 1 as unknown as string } },
    })), 'changes[0].entry.info.labels.n'],
    ['a zero weight', () => registryChange.setWeight('web', 0), 'changes[0].weight'],
    ['a weight under the least an operator may set (0.001)', () => registryChange.setWeight('web', 1e-300), 'changes[0].weight'],
    ['a weight over the most an operator may set (1e6)', () => registryChange.setWeight('web', 1e7), 'changes[0].weight'],
    ['a quota without a limit', () => registryChange.setQuota('web', { guarantee: '' } as QuotaEntry), 'changes[0].entry.limit'],
  ];
  for (const [name, change, field] of cases) {
    const store = new MemoryRegistryStore();
    const registry = await Registry.recover(store);
    const err = await registry.update([change()]).then(() => undefined, (e: unknown) => e);
    t.type(err, InvalidArgumentError, name);
    t.equal((err as InvalidArgumentError).field, field, name);
    t.equal(store.writes, 0, `${name}: nothing written`);
  }
});

t.test('recovery throws RegistryCorruptError naming the key of a malformed value', async (t) => {
  const cases: [string, string, unknown][] = [
    ['an agent that is not an object', 'agent/a1', 'a1'],
    ['an agent with an unknown status', 'agent/a1', { ...agent('a1'), status: 'lost' }],
    ['an agent whose id differs from its key', 'agent/a1', agent('a2')],
    ['a framework with roles not a list', 'framework/f1', { info: { ...framework('f1').info, roles: 'web' } }],
    ['a framework with a string deadline', 'framework/f1', { ...framework('f1'), failoverDeadline: 'soon' }],
    ['a framework without info', 'framework/f1', {}],
    ['a negative weight', 'weight/web', -1],
    ['a weight under the least an operator may set', 'weight/web', 1e-300],
    ['a weight over the most an operator may set', 'weight/web', 1e7],
    ['a weight that is a string', 'weight/web', '2'],
    ['a quota with a numeric guarantee', 'quota/web', { guarantee: 2, limit: 'cpus:4' }],
  ];
  for (const [name, key, value] of cases) {
    const store = new MemoryRegistryStore([['agent/ok', agent('ok')], [key, value]]);
    const err = await Registry.recover(store).then(() => undefined, (e: unknown) => e);
    t.type(err, RegistryCorruptError, name);
    t.equal((err as RegistryCorruptError).where, key, name);
    t.match((err as Error).message, `'${key}'`, name);
  }
});

t.test('recovery leaves keys it does not know alone', async (t) => {
  const store = new MemoryRegistryStore([['maintenance/window1', { start: 1 }], ['agent/a1', agent('a1')]]);
  const registry = await Registry.recover(store);
  t.same(registry.agents(), [agent('a1')]);
  await registry.putAgent(agent('a2'));
  t.same((await store.load()).get('maintenance/window1'), { start: 1 });
});

t.test('setters reject after close', async (t) => {
  const registry = await Registry.recover(new MemoryRegistryStore());
  await registry.close();
  await registry.close();
  await t.rejects(registry.setWeight('web', 2), { name: 'RegistryClosedError' });
});
