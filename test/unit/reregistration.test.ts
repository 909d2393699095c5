import t from 'tap';
import { reregistrationMessages } from '../../src/agent/reregistration.js';
import type { AgentTask } from '../../src/gen/orbit/v1/AgentTask.js';

const task = (id: string, frameworkId: string, bytes: number): AgentTask => ({ frameworkId, task: { taskId: id, name: 'x'.repeat(bytes) } });
const frameworks = new Map([['fw-a', { id: 'fw-a', name: 'a' }], ['fw-b', { id: 'fw-b', name: 'b' }]]);

t.test('a re-registration that fits the budget is one message, without more_tasks', async (t) => {
  const messages = reregistrationMessages({ id: 'agent-1' }, 'v', [task('t1', 'fw-a', 10), task('t2', 'fw-b', 10)], frameworks, 1000);
  t.equal(messages.length, 1);
  t.equal(messages[0]?.reregister?.moreTasks, false);
  t.strictSame(messages[0]?.reregister?.tasks?.map((x) => x.task?.taskId), ['t1', 't2']);
  t.strictSame(messages[0]?.reregister?.frameworks?.map((f) => f.id), ['fw-a', 'fw-b']);
});

t.test('tasks past the budget go in further messages, in order, each with its own frameworks; only the last lacks more_tasks', async (t) => {
  const tasks = [task('t1', 'fw-a', 400), task('t2', 'fw-a', 400), task('t3', 'fw-b', 400), task('t4', 'fw-b', 400)];
  const messages = reregistrationMessages({ id: 'agent-1' }, 'v', tasks, frameworks, 1000);
  t.equal(messages.length, 2);
  t.strictSame(messages.map((m) => m.reregister?.tasks?.map((x) => x.task?.taskId)), [['t1', 't2'], ['t3', 't4']]);
  t.strictSame(messages.map((m) => m.reregister?.moreTasks), [true, false]);
  t.strictSame(messages.map((m) => m.reregister?.frameworks?.map((f) => f.id)), [['fw-a'], ['fw-b']]);
  t.ok(messages.every((m) => m.reregister?.info?.id === 'agent-1'), 'each names the agent');
  for (const m of messages) t.ok(JSON.stringify(m.reregister?.tasks).length <= 1000 + 10, 'each within the budget');
});

t.test('a single task bigger than the budget still goes, alone', async (t) => {
  const messages = reregistrationMessages({ id: 'agent-1' }, 'v', [task('t1', 'fw-a', 5000), task('t2', 'fw-a', 10)], frameworks, 1000);
  t.strictSame(messages.map((m) => m.reregister?.tasks?.map((x) => x.task?.taskId)), [['t1'], ['t2']]);
});

t.test('an agent with no tasks re-registers in one message', async (t) => {
  const messages = reregistrationMessages({ id: 'agent-1' }, 'v', [], frameworks);
  t.equal(messages.length, 1);
  t.strictSame(messages[0]?.reregister?.tasks, []);
  t.equal(messages[0]?.reregister?.moreTasks, false);
});
