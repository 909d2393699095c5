// Status updates and the checkpoint: every queue change is persisted before anything is sent, and
// a restored queue is resent in order, with the same uuids, once the agent is registered.
import t from 'tap';
import { ManualClock } from '../../src/common/clock.js';
import type { TaskState, TaskStatus } from '../../src/common/tasks.js';
import { StatusUpdateManager } from '../../src/agent/status-updates.js';
import { agentStatus } from '../helpers/builders.js';

const update = (uuid: string, state: TaskState = 'RUNNING', taskId = 't1'): TaskStatus =>
  agentStatus({ frameworkId: 'fw-1', taskId, agentId: 'a1', state, uuid });

/** A manager whose sends and persists are logged, in the order they happen. */
function setup(t: { teardown(fn: () => unknown): void }) {
  const clock = new ManualClock();
  const log: string[] = [];
  const manager = new StatusUpdateManager({
    clock,
    retryBaseMs: 1000,
    retryMaxMs: 1000,
    send: (s) => {
      log.push(`send ${s.uuid}`);
      return true;
    },
    persist: (frameworkId, taskId, queue) => log.push(`persist ${frameworkId}/${taskId} [${queue.map((s) => s.uuid).join(',')}]`),
  });
  t.teardown(() => manager.stop());
  return { clock, log, manager };
}

t.test('an update is persisted before it is first sent', async (t) => {
  const { manager, log } = setup(t);
  manager.enqueue(update('u1', 'STARTING'));
  manager.enqueue(update('u2'));
  t.strictSame(log, ['persist fw-1/t1 [u1]', 'send u1', 'persist fw-1/t1 [u1,u2]']);
});

t.test('an acknowledgement persists the shorter queue before the next head is sent', async (t) => {
  const { manager, log } = setup(t);
  manager.enqueue(update('u1', 'STARTING'));
  manager.enqueue(update('u2'));
  log.length = 0;
  manager.acknowledge('fw-1', 't1', 'u1');
  manager.acknowledge('fw-1', 't1', 'u2');
  t.strictSame(log, ['persist fw-1/t1 [u2]', 'send u2', 'persist fw-1/t1 []']);
});

t.test('a stale or duplicate acknowledgement persists nothing', async (t) => {
  const { manager, log } = setup(t);
  manager.enqueue(update('u1'));
  manager.acknowledge('fw-1', 't1', 'u1');
  log.length = 0;
  manager.acknowledge('fw-1', 't1', 'u1');
  manager.acknowledge('fw-1', 't1', 'nope');
  t.strictSame(log, []);
});

t.test('a restored queue is not sent until resendAll, then head first, same uuids, in order', async (t) => {
  const { manager, log, clock } = setup(t);
  manager.restore('fw-1', 't1', [update('u1', 'RUNNING'), update('u2', 'FINISHED')]);
  manager.restore('fw-1', 't2', [update('v1', 'RUNNING', 't2')]);
  clock.advance(5000);
  t.strictSame(log, [], 'nothing is sent before the agent is registered');
  manager.resendAll();
  t.strictSame(log, ['send u1', 'send v1'], 'only the heads are in flight');
  manager.acknowledge('fw-1', 't1', 'u1');
  t.strictSame(log.slice(2), ['persist fw-1/t1 [u2]', 'send u2']);
  t.strictSame(manager.pending().map((s) => s.uuid), ['u2', 'v1']);
});

t.test('dropping a framework persists its empty queues', async (t) => {
  const { manager, log } = setup(t);
  manager.enqueue(update('u1'));
  log.length = 0;
  manager.dropFramework('fw-1');
  t.strictSame(log, ['persist fw-1/t1 []']);
  t.equal(manager.hasPending('fw-1', 't1'), false);
});
