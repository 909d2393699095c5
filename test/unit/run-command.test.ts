import t from 'tap';
import { UsageError } from '../../src/cli/common.js';
import { commandFor, exitCodeFor, parseRunOptions, requestText, statusLine } from '../../src/cli/run-command.js';
import { formatTable } from '../../src/cli/status-command.js';
import type { TaskState, TaskStatus } from '../../src/framework-sdk/index.js';

const flags = (over: Record<string, unknown> = {}) => ({ master: '127.0.0.1:5050', cpus: 0.1, mem: 32, env: [] as string[], role: '*', ...over });

t.test('commandFor', async (t) => {
  t.same(commandFor(['echo hi; ls']), { value: 'echo hi; ls' }, 'runs one argument with shell characters under sh -c');
  t.same(commandFor(['sh', '-c', 'echo $X']), { value: 'sh', args: ['-c', 'echo $X'] }, 'runs several arguments as argv');
  t.same(commandFor(['ls']), { value: 'ls', args: [] }, 'runs a plain single word as argv');
  t.equal(commandFor([]), undefined, 'has no command for no words');
});

t.test('parseRunOptions', async (t) => {
  const o = parseRunOptions(flags({ process: true, env: ['A=1', 'B=x=y', 'C='], ports: 2, killGrace: 1.5, timeout: 3 }), ['echo', 'hi']);
  t.same(o.env, { A: '1', B: 'x=y', C: '' }, 'splits --env at the first =');
  t.equal(o.killGraceMs, 1500, 'takes --kill-grace in seconds');
  t.equal(o.timeoutMs, 3000, 'takes --timeout in seconds');
  t.equal(requestText(o), 'cpus:0.1;mem:32;ports:2', 'asks for a port count');
  t.equal(parseRunOptions(flags({ image: 'busybox' }), []).command, undefined, 'lets an image run its own command');

  const bad: [string, Record<string, unknown>, string[], RegExp][] = [
    ['refuses both --image and --process', { image: 'i', process: true }, ['x'], /--image and --process/],
    ['refuses neither --image nor --process', {}, ['x'], /--image IMAGE or --process is required/],
    ['refuses --process without a command', { process: true }, [], /--process needs a command/],
    ['refuses an --env without =', { process: true, env: ['A'] }, ['x'], /--env: expected NAME=VALUE/],
    ['refuses an --env with a bad name', { process: true, env: ['1A=b'] }, ['x'], /--env/],
    ['refuses a bad --role', { process: true, role: 'a b' }, ['x'], /--role/],
    ['refuses a bad --master', { process: true, master: 'nohost' }, ['x'], /--master/],
  ];
  for (const [name, over, words, message] of bad) {
    t.throws(() => parseRunOptions(flags(over), words), UsageError, name);
    t.throws(() => parseRunOptions(flags(over), words), { message }, `${name}: names the flag`);
  }
});

t.test('exitCodeFor', async (t) => {
  const status = (state: TaskState, exitCode?: number): TaskStatus => ({
    taskId: 't', frameworkId: 'f', agentId: 'a', state, source: 'AGENT', reason: 'NONE', message: '', timestamp: 0,
    ...(exitCode === undefined ? {} : { exitCode }),
  });
  const cases: [TaskState, number | undefined, number][] = [
    ['FINISHED', 0, 0],
    ['FINISHED', undefined, 0],
    ['FAILED', 3, 3],
    ['FAILED', undefined, 1],
    ['FAILED', 0, 1],
    ['KILLED', undefined, 143],
    ['KILLED', 137, 137],
    ['ERROR', undefined, 1],
    ['DROPPED', undefined, 1],
    ['GONE', undefined, 1],
    ['LOST', undefined, 1],
  ];
  for (const [state, code, want] of cases) t.equal(exitCodeFor(status(state, code)), want, `${state} with exit code ${code} exits ${want}`);
});

t.test('statusLine', async (t) => {
  const line = statusLine({ taskId: 't', frameworkId: 'f', agentId: 'agent-1', state: 'FAILED', source: 'AGENT', reason: 'COMMAND_EXITED', message: 'exited with code 3', timestamp: Date.UTC(2024, 0, 1), exitCode: 3 }, 'host-1');
  t.match(line, /^\[\d\d:\d\d:\d\d\] TASK_FAILED on agent-1 \(host-1\): exited with code 3 \(COMMAND_EXITED\) \[exit code 3\]$/);
});

t.test('formatTable aligns columns', async (t) => {
  t.equal(formatTable(['ID', 'NAME'], [['a', 'x'], ['long-id', 'y']]), 'ID       NAME\na        x\nlong-id  y');
});
