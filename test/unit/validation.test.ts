import t from 'tap';
import { buildTask } from '../../src/framework-sdk/index.js';
import { checkOffers, checkTask, describeShortfalls, type TaskCheckContext } from '../../src/master/validation.js';
import type { OfferRecord } from '../../src/master/records.js';
import { makeTask, offerRecord, res } from '../helpers/builders.js';

/** Offers o1, o3 (role analytics), o5 of fw-1 on agent a1; o2 of fw-1 on a2; o4 of fw-2 on a1. */
const BOOK: ReadonlyMap<string, OfferRecord> = new Map([
  ['o1', offerRecord({ id: 'o1', frameworkId: 'fw-1', agentId: 'a1', resources: 'cpus:2;mem:1024' })],
  ['o2', offerRecord({ id: 'o2', frameworkId: 'fw-1', agentId: 'a2', resources: 'cpus:1;mem:512' })],
  ['o3', offerRecord({ id: 'o3', frameworkId: 'fw-1', agentId: 'a1', resources: 'cpus(analytics):1;ports:[31000-31009]', role: 'analytics' })],
  ['o4', offerRecord({ id: 'o4', frameworkId: 'fw-2', agentId: 'a1', resources: 'cpus:1' })],
  ['o5', offerRecord({ id: 'o5', frameworkId: 'fw-1', agentId: 'a1', resources: 'mem:512' })],
]);
const lookup = (id: string) => BOOK.get(id);

t.test('checkOffers refuses a bad set of offers with INVALID_OFFER', async (t) => {
  const cases: [string, string[], string][] = [
    ['an unknown offer', ['o1', 'o9'], "offer 'o9' is no longer valid (unknown, rescinded, declined or already used)"],
    ["another framework's offer", ['o4'], "offer 'o4' was made to another framework"],
    ['offers on two agents', ['o1', 'o2'], "offers span agents 'a1' and 'a2'; one accept uses offers of one agent"],
    ['an offer listed twice', ['o1', 'o5', 'o1'], "offer 'o1' is listed twice"],
    ['offers of two roles', ['o1', 'o3'], "offers are allocated to roles '*' and 'analytics'; one accept uses offers of one role"],
    ['no offer at all', [], 'an accept needs at least one offer'],
  ];
  for (const [behaviour, ids, message] of cases) {
    t.strictSame(checkOffers(ids, 'fw-1', lookup), { ok: false, reason: 'INVALID_OFFER', message }, behaviour);
  }
});

t.test('checkOffers accepts several offers of one agent, in the order given', async (t) => {
  t.strictSame(checkOffers(['o5', 'o1'], 'fw-1', lookup), { ok: true, offers: [BOOK.get('o5'), BOOK.get('o1')], agentId: 'a1' });
});

t.test('checkOffers accepts a single offer', async (t) => {
  t.strictSame(checkOffers(['o2'], 'fw-1', lookup), { ok: true, offers: [BOOK.get('o2')], agentId: 'a2' });
});

/** The context of a LAUNCH on agent a1 with the given offer left; no task id is taken. */
function ctx(available: string, overrides: Partial<TaskCheckContext> = {}): TaskCheckContext {
  return { agentId: 'a1', agentContainerizers: ['process'], available: res(available), isTaskIdTaken: () => false, ...overrides };
}

t.test('checkTask refuses an invalid task with TASK_INVALID', async (t) => {
  const cases: [string, ReturnType<typeof makeTask>, TaskCheckContext, string][] = [
    ['a task id already in use', makeTask('web-1'), ctx('cpus:4;mem:1024', { isTaskIdTaken: (id) => id === 'web-1' }),
      "task id 'web-1' is already used by an active task of this framework"],
    ['a task naming another agent', makeTask('t1').on('a2'), ctx('cpus:4;mem:1024'),
      "task 't1' names agent 'a2' but the offer is on agent 'a1'"],
    ['a task with neither cpus nor mem', makeTask('t1').resources('disk:100'), ctx('cpus:4;mem:1024;disk:100'),
      "task 't1' asks for 'disk:100'; a task needs some cpus or mem"],
    ['a task with no resources at all', makeTask('t1').resources(''), ctx('cpus:4;mem:1024'),
      "task 't1' asks for ''; a task needs some cpus or mem"],
    ['a docker task on an agent without docker', makeTask('t1').kind('docker'), ctx('cpus:4;mem:1024'),
      "task 't1' is a docker task but agent 'a1' runs only process"],
    ['a task on an agent with no containerizer', makeTask('t1'), ctx('cpus:4;mem:1024', { agentContainerizers: [] }),
      "task 't1' is a process task but agent 'a1' runs only nothing"],
    ['a task asking for more cpus than offered', makeTask('t1').cpus(4), ctx('cpus:2;mem:1024'),
      "task 't1' does not fit the offer: cpus: requested 4, available 2"],
    ['a task short of cpus and mem', makeTask('t1').cpus(4, 2048), ctx('cpus:2;mem:1024'),
      "task 't1' does not fit the offer: cpus: requested 4, available 2; mem: requested 2048, available 1024"],
    ['a task wanting a port that is not offered', makeTask('t1').resources('cpus:1;ports:[80-80]'), ctx('cpus:2;ports:[31000-31009]'),
      "task 't1' does not fit the offer: ports: requested [80-80], available [31000-31009]"],
    ['a task wanting unreserved cpus from a reserved offer', makeTask('t1').cpus(1), ctx('cpus(analytics):2;mem:1024'),
      "task 't1' does not fit the offer: cpus: requested 1, available 0"],
  ];
  for (const [behaviour, builder, context, message] of cases) {
    t.strictSame(checkTask(builder.obj(), context), { ok: false, reason: 'TASK_INVALID', message }, behaviour);
  }
});

t.test('checkTask passes a task that fits', async (t) => {
  const cases: [string, ReturnType<typeof makeTask>, TaskCheckContext][] = [
    ['exactly what is offered', makeTask('t1').cpus(2, 1024), ctx('cpus:2;mem:1024')],
    ['less than offered, with ports', makeTask('t1').resources('cpus:0.5;mem:64;ports:[31003-31004]'), ctx('cpus:2;mem:1024;ports:[31000-31009]')],
    ['mem only', makeTask('t1').resources('mem:64'), ctx('cpus:2;mem:1024')],
    ['a task that leaves its agent to the offer', makeTask('t1').on(''), ctx('cpus:2;mem:1024')],
    ['reserved resources from a reserved offer', makeTask('t1').resources('cpus(analytics):1'), ctx('cpus(analytics):2;mem:1024')],
    ['a docker task on a docker agent', makeTask('t1').kind('docker'), ctx('cpus:2;mem:1024', { agentContainerizers: ['process', 'docker'] })],
  ];
  for (const [behaviour, builder, context] of cases) t.strictSame(checkTask(builder.obj(), context), { ok: true }, behaviour);
});

t.test('checkTask passes a task made by the SDK for the offer it came from', async (t) => {
  const offer = BOOK.get('o1')!.offer;
  const task = buildTask({ taskId: 'sdk-1', offer, resources: 'cpus:1;mem:256', command: 'sleep 1' });
  t.strictSame(checkTask(task, ctx('cpus:2;mem:1024')), { ok: true });
  const big = buildTask({ taskId: 'sdk-2', offer, resources: 'cpus:1;mem:2048', command: 'sleep 1' });
  t.strictSame(checkTask(big, ctx('cpus:2;mem:1024')), {
    ok: false, reason: 'TASK_INVALID', message: "task 'sdk-2' does not fit the offer: mem: requested 2048, available 1024",
  });
});

t.test('checkTask checks the task id first, before anything else', async (t) => {
  const bad = makeTask('dup').on('a2').resources('disk:1').kind('docker').obj();
  t.strictSame(checkTask(bad, ctx('', { isTaskIdTaken: () => true })), {
    ok: false, reason: 'TASK_INVALID', message: "task id 'dup' is already used by an active task of this framework",
  });
});

t.test('describeShortfalls joins reasons with "; " and is empty for none', async (t) => {
  t.equal(describeShortfalls([]), '');
  t.equal(
    describeShortfalls([{ resource: 'cpus(a)', requested: 2, available: 1 }, { resource: 'ports', requested: '[1-2]', available: '' }]),
    'cpus(a): requested 2, available 1; ports: requested [1-2], available ',
  );
});
