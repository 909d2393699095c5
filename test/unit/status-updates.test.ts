import t from 'tap';
import { ManualClock } from '../../src/common/clock.js';
import type { TaskState, TaskStatus } from '../../src/common/tasks.js';
import { StatusUpdateManager } from '../../src/agent/status-updates.js';
import { agentStatus } from '../helpers/builders.js';

const START = 1_700_000_000_000;
const BASE_MS = 1000;
const MAX_MS = 5000;

interface Sent {
  /** Milliseconds since the manager was made. */
  at: number;
  uuid: string;
}

/** A manager on a manual clock that records every send as `{ at, uuid }`. */
function setup(t: { teardown(fn: () => unknown): void }, options: { retryBaseMs?: number; retryMaxMs?: number } = { retryBaseMs: BASE_MS, retryMaxMs: MAX_MS }) {
  const clock = new ManualClock(START);
  const sent: Sent[] = [];
  const manager = new StatusUpdateManager({
    clock,
    send: (status) => {
      sent.push({ at: clock.now() - START, uuid: status.uuid ?? '' });
      return true;
    },
    ...options,
  });
  t.teardown(() => manager.stop());
  /** The uuids sent since the last call. */
  let seen = 0;
  const newlySent = () => sent.slice(seen, (seen = sent.length)).map((s) => s.uuid);
  return { clock, sent, manager, newlySent };
}

const update = (uuid: string, state: TaskState = 'RUNNING', taskId = 't1', frameworkId = 'fw-1'): TaskStatus =>
  agentStatus({ frameworkId, taskId, agentId: 'a1', state, uuid });

t.test('only the head of a task queue is sent', async (t) => {
  const { manager, sent } = setup(t);
  manager.enqueue(update('u1', 'STARTING'));
  manager.enqueue(update('u2', 'RUNNING'));
  manager.enqueue(update('u3', 'FINISHED'));
  t.strictSame(sent, [{ at: 0, uuid: 'u1' }]);
  t.equal(manager.hasPending('fw-1', 't1'), true);
});

t.test('the head is resent after retryBaseMs, then doubling, capped at retryMaxMs', async (t) => {
  const { manager, sent, clock } = setup(t);
  manager.enqueue(update('u1'));
  manager.enqueue(update('u2'));
  clock.advance(20_000);
  // Gaps: 1000, 2000, 4000, then the 5000 cap.
  t.strictSame(sent.map((s) => s.at), [0, 1000, 3000, 7000, 12000, 17000]);
  t.strictSame(new Set(sent.map((s) => s.uuid)), new Set(['u1']), 'only the head is ever resent');
});

t.test('the default backoff is 10 s doubling to 10 min', async (t) => {
  const { manager, sent, clock } = setup(t, {});
  manager.enqueue(update('u1'));
  clock.advance(9_999);
  t.equal(sent.length, 1, 'not resent before 10 s');
  clock.advance(1);
  t.equal(sent.length, 2, 'resent at 10 s');
  clock.advance(3_600_000);
  const gaps = sent.slice(1).map((s, i) => s.at - sent[i]!.at);
  t.strictSame(gaps.slice(0, 8), [10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 600_000, 600_000]);
});

t.test('an ack of the head returns it and sends the next update at once', async (t) => {
  const { manager, clock, newlySent } = setup(t);
  manager.enqueue(update('u1', 'RUNNING'));
  manager.enqueue(update('u2', 'FINISHED'));
  newlySent();
  clock.advance(1500); // u1 resent once at 1000
  t.strictSame(newlySent(), ['u1']);
  const acked = manager.acknowledge('fw-1', 't1', 'u1');
  t.equal(acked?.uuid, 'u1');
  t.equal(acked?.state, 'RUNNING');
  t.strictSame(newlySent(), ['u2'], 'the next head goes out immediately');
  clock.advance(999);
  t.strictSame(newlySent(), [], 'the new head starts a fresh backoff');
  clock.advance(1);
  t.strictSame(newlySent(), ['u2'], 'and is resent after retryBaseMs');
});

t.test('the last ack empties the queue and stops the retries', async (t) => {
  const { manager, clock, newlySent } = setup(t);
  manager.enqueue(update('u1'));
  newlySent();
  t.equal(manager.acknowledge('fw-1', 't1', 'u1')?.uuid, 'u1');
  clock.advance(60_000);
  t.strictSame(newlySent(), []);
  t.equal(manager.hasPending('fw-1', 't1'), false);
  t.strictSame(manager.pending(), []);
});

t.test('stale, duplicate and unknown acks are ignored', async (t) => {
  const cases: [string, [string, string, string]][] = [
    ['an ack of a later update (not the head)', ['fw-1', 't1', 'u2']],
    ['a duplicate ack of an acknowledged update', ['fw-1', 't1', 'u0']],
    ['an ack of an unknown uuid', ['fw-1', 't1', 'nope']],
    ['an ack for an unknown task', ['fw-1', 't9', 'u1']],
    ['an ack for another framework', ['fw-2', 't1', 'u1']],
  ];
  for (const [behaviour, [frameworkId, taskId, uuid]] of cases) {
    const { manager, newlySent, clock } = setup(t);
    manager.enqueue(update('u0'));
    manager.enqueue(update('u1'));
    manager.enqueue(update('u2'));
    manager.acknowledge('fw-1', 't1', 'u0');
    newlySent();
    t.equal(manager.acknowledge(frameworkId, taskId, uuid), undefined, `${behaviour}: returns undefined`);
    t.strictSame(newlySent(), [], `${behaviour}: nothing is sent`);
    t.strictSame(manager.pending().map((s) => s.uuid), ['u1', 'u2'], `${behaviour}: nothing is dropped`);
    clock.advance(BASE_MS);
    t.strictSame(newlySent(), ['u1'], `${behaviour}: the head keeps its own retry schedule`);
  }
});

t.test('queues of different tasks are independent', async (t) => {
  const { manager, sent, clock, newlySent } = setup(t);
  manager.enqueue(update('a1', 'RUNNING', 'task-a'));
  clock.advance(500);
  manager.enqueue(update('b1', 'RUNNING', 'task-b'));
  manager.enqueue(update('a2', 'FINISHED', 'task-a'));
  t.strictSame(sent, [{ at: 0, uuid: 'a1' }, { at: 500, uuid: 'b1' }], 'each task sends its own head');
  newlySent();
  t.equal(manager.acknowledge('fw-1', 'task-b', 'b1')?.uuid, 'b1');
  t.strictSame(newlySent(), [], "acking task-b's head sends nothing of task-a");
  clock.advance(500);
  t.strictSame(newlySent(), ['a1'], "task-a's head is still retried on its own schedule");
  t.equal(manager.acknowledge('fw-1', 'task-b', 'a1'), undefined, "task-a's uuid does not ack task-b");
  t.equal(manager.acknowledge('fw-1', 'task-a', 'a1')?.uuid, 'a1');
  t.strictSame(newlySent(), ['a2']);
});

t.test('the same task id under two frameworks has two queues', async (t) => {
  const { manager, sent } = setup(t);
  manager.enqueue(update('x1', 'RUNNING', 't1', 'fw-1'));
  manager.enqueue(update('y1', 'RUNNING', 't1', 'fw-2'));
  t.strictSame(sent.map((s) => s.uuid), ['x1', 'y1']);
});

t.test('resendAll resends every head now and restarts its backoff', async (t) => {
  const { manager, clock, newlySent } = setup(t);
  manager.enqueue(update('a1', 'RUNNING', 'task-a'));
  manager.enqueue(update('a2', 'FINISHED', 'task-a'));
  manager.enqueue(update('b1', 'RUNNING', 'task-b'));
  clock.advance(3500); // both resent at 1000 and 3000; next due at 7000
  newlySent();
  manager.resendAll();
  t.strictSame(newlySent(), ['a1', 'b1'], 'heads only, one each');
  clock.advance(999);
  t.strictSame(newlySent(), [], 'the old timers are cancelled');
  clock.advance(1);
  t.strictSame(newlySent(), ['a1', 'b1'], 'the backoff restarts at retryBaseMs');
});

t.test('resendAll with nothing pending sends nothing', async (t) => {
  const { manager, sent } = setup(t);
  manager.resendAll();
  t.strictSame(sent, []);
});

t.test("dropFramework forgets that framework's queues only", async (t) => {
  const { manager, clock, newlySent } = setup(t);
  manager.enqueue(update('x1', 'RUNNING', 't1', 'fw-1'));
  manager.enqueue(update('x2', 'RUNNING', 't2', 'fw-1'));
  manager.enqueue(update('y1', 'RUNNING', 't1', 'fw-2'));
  newlySent();
  manager.dropFramework('fw-1');
  t.strictSame(manager.pending().map((s) => s.uuid), ['y1']);
  t.equal(manager.hasPending('fw-1', 't1'), false);
  t.equal(manager.hasPending('fw-2', 't1'), true);
  clock.advance(BASE_MS);
  t.strictSame(newlySent(), ['y1'], "fw-1's retries are cancelled");
  t.equal(manager.acknowledge('fw-1', 't1', 'x1'), undefined, 'a late ack for it is ignored');
  manager.dropFramework('fw-9');
  t.strictSame(manager.pending().map((s) => s.uuid), ['y1'], 'dropping an unknown framework is a no-op');
});

t.test('pending lists everything unacknowledged, oldest first per task', async (t) => {
  const { manager } = setup(t);
  manager.enqueue(update('a1', 'STARTING', 'task-a'));
  manager.enqueue(update('b1', 'RUNNING', 'task-b'));
  manager.enqueue(update('a2', 'RUNNING', 'task-a'));
  manager.enqueue(update('a3', 'FINISHED', 'task-a'));
  manager.acknowledge('fw-1', 'task-a', 'a1');
  t.strictSame(manager.pending().map((s) => `${s.taskId}:${s.uuid}:${s.state}`), [
    'task-a:a2:RUNNING', 'task-a:a3:FINISHED', 'task-b:b1:RUNNING',
  ]);
});

t.test('a failed send (no connection) is retried like any other', async (t) => {
  const clock = new ManualClock(START);
  const attempts: number[] = [];
  const manager = new StatusUpdateManager({
    clock, retryBaseMs: BASE_MS, retryMaxMs: MAX_MS,
    send: () => {
      attempts.push(clock.now() - START);
      return false;
    },
  });
  t.teardown(() => manager.stop());
  manager.enqueue(update('u1'));
  clock.advance(3000);
  t.strictSame(attempts, [0, 1000, 3000]);
});

t.test('stop cancels every retry', async (t) => {
  const { manager, clock, newlySent } = setup(t);
  manager.enqueue(update('a1', 'RUNNING', 'task-a'));
  manager.enqueue(update('b1', 'RUNNING', 'task-b'));
  newlySent();
  manager.stop();
  clock.advance(60_000);
  t.strictSame(newlySent(), []);
  t.equal(manager.pending().length, 2, 'stopping keeps the updates');
});
