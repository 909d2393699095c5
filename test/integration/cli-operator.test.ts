// The operator commands (orbit agents, frameworks, tasks, task, logs, agent drain|reactivate|gone,
// framework teardown) against a real master and agents, run in-process through commander with
// stdout captured, and their error paths: unknown ids, a bad --state, an unreachable master.
import t from 'tap';
import { Command, CommanderError } from 'commander';
import { registerAgentsCommand } from '../../src/cli/agents-command.js';
import { addAgentOperations } from '../../src/cli/agent-ops-command.js';
import { masterOption } from '../../src/cli/common.js';
import { registerFrameworkCommands, type FrameworkListing } from '../../src/cli/frameworks-command.js';
import { registerLogsCommand } from '../../src/cli/logs-command.js';
import { registerStatusCommand } from '../../src/cli/status-command.js';
import { registerTaskCommands } from '../../src/cli/tasks-command.js';
import type { AgentView, TaskView } from '../../src/common/state-view.js';
import { buildTask, type Offer, type TaskSpec } from '../../src/framework-sdk/index.js';
import { freePorts, within } from '../helpers/cli.js';
import { eventually, OfferPool, startCluster, updatesUntil } from '../helpers/cluster.js';

interface CliResult {
  code: number;
  stdout: string;
  /** What orbit would print on stderr: `orbit: message` for a failure. */
  stderr: string;
  /** The failure's class: UsageError for the operator's mistakes (printed without a stack). */
  errorName?: string;
  /** The master's typed reason, when it refused the command. */
  reason?: string;
}

/** The orbit program with the operator commands (and a stand-in for the `agent` daemon command). */
function program(): Command {
  const p = new Command('orbit').exitOverride();
  registerAgentsCommand(p);
  registerFrameworkCommands(p);
  registerTaskCommands(p);
  registerLogsCommand(p);
  registerStatusCommand(p);
  const agent = p
    .command('agent')
    .addOption(masterOption())
    .option('--work-dir <dir>')
    .action(() => {
      throw new Error('the agent daemon does not run in this test');
    });
  addAgentOperations(agent);
  return p;
}

/** Runs `orbit ...args` in this process, as main.ts would, capturing stdout. Calls run one at a time. */
async function orbit(args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const p = program();
  p.configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stdout.write;
  try {
    await p.parseAsync(args, { from: 'user' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    if (err instanceof CommanderError) return { code: err.exitCode, stdout, stderr };
    const e = err instanceof Error ? err : new Error(String(err));
    const reason = (e as { reason?: string }).reason;
    return { code: 1, stdout, stderr: `${stderr}orbit: ${e.message}\n`, errorName: e.name, ...(reason ? { reason } : {}) };
  } finally {
    process.stdout.write = write;
  }
}

const show = (r: CliResult) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr });
/** The table row that starts with `id`. */
const row = (out: string, id: string): string | undefined => out.split('\n').find((l) => l.startsWith(`${id} `));

t.test('the operator commands against a real master and agents', async (t) => {
  const cluster = await startCluster(t, [
    { hostname: 'alpha', attributes: 'rack:r1;zone:a' },
    { hostname: 'beta', attributes: 'rack:r2' },
  ]);
  const master = cluster.master.address;
  const [alpha, beta] = cluster.agents.map((a) => a.agentId()) as [string, string];
  const fw = await cluster.framework({ name: 'cli-fw' });
  const pool = new OfferPool(fw);
  const [deadPort] = await freePorts(1);
  const deadMaster = `127.0.0.1:${deadPort}`;

  /** Launches process tasks on one agent; resolves when each reached its state. */
  const launch = async (agentId: string, tasks: { name: string; command: string; until: 'RUNNING' | 'FINISHED' | 'FAILED' }[]): Promise<TaskSpec[]> => {
    const offer: Offer = await pool.take((o) => o.agentId === agentId);
    const specs = tasks.map((x) => buildTask({ offer, name: x.name, resources: 'cpus:0.25;mem:32', process: true, command: x.command }));
    const reached = specs.map((s, i) => updatesUntil(fw, s.taskId, tasks[i]!.until));
    await fw.launch(offer, specs, { refuseSeconds: 0 });
    await Promise.all(reached);
    return specs;
  };
  const [long, failing] = await launch(alpha, [
    { name: 'long', command: 'echo hello; echo oops >&2; sleep 60', until: 'RUNNING' },
    { name: 'failing', command: 'exit 3', until: 'FAILED' },
  ]) as [TaskSpec, TaskSpec];
  // Started later than the others: the newest.
  await new Promise((r) => setTimeout(r, 20));
  const [done] = await launch(beta, [{ name: 'done', command: 'echo done', until: 'FINISHED' }]) as [TaskSpec];

  await t.test('orbit agents: a row per agent with status, used/total and attributes; --json as in /state', async (t) => {
    const r = await orbit(['agents', '--master', master]);
    t.equal(r.code, 0, 'exits 0', show(r));
    t.match(r.stdout, /^ID\s+HOSTNAME\s+STATUS\s+CPUS\s+MEM\s+DISK\s+HTTP\s+AGE\s+ATTRIBUTES$/m);
    const a = row(r.stdout, alpha);
    t.match(a, /\balpha\s+active\s+0\.25\/2\b/, 'alpha: active, 0.25 of 2 cpus used');
    t.match(a, 'rack:r1;zone:a');
    t.match(row(r.stdout, beta), /\bbeta\s+active\b/);
    t.match(r.stdout, '2 agent(s): 2 active');
    const json = await orbit(['agents', '--json', '--master', master]);
    const agents = JSON.parse(json.stdout) as AgentView[];
    const state = await cluster.state();
    t.same(agents.map((x) => [x.id, x.hostname, x.status, x.resources]), state.agents.map((x) => [x.id, x.hostname, x.status, x.resources]));
  });

  await t.test('orbit frameworks: roles, status, share and tasks by state; --json adds status and share', async (t) => {
    const r = await orbit(['frameworks', '--master', master]);
    t.equal(r.code, 0, 'exits 0', show(r));
    const line = row(r.stdout, fw.frameworkId!);
    t.match(line, /cli-fw\s+\*\s+active\s+\d+\.\d% \(\*\)\s+1\s+RUNNING:1 FINISHED:1 FAILED:1/);
    const json = JSON.parse((await orbit(['frameworks', '--json', '--master', master])).stdout) as FrameworkListing[];
    t.equal(json.length, 1);
    t.equal(json[0]!.status, 'active');
    t.equal(json[0]!.dominantRole, '*');
    t.ok(json[0]!.dominantShare > 0, 'it holds a share');
  });

  await t.test('orbit tasks: active and completed, newest first, filtered by state and framework', async (t) => {
    const r = await orbit(['tasks', '--master', master]);
    t.equal(r.code, 0, 'exits 0', show(r));
    const ids = r.stdout.split('\n').slice(1).map((l) => l.split(/\s+/)[0]).filter(Boolean);
    t.equal(ids[0], done.taskId, 'the newest first');
    t.same([...ids].sort(), [long.taskId, failing.taskId, done.taskId].sort(), 'all three');
    t.match(row(r.stdout, long.taskId), /\blong\s+cli-fw\s+alpha\s+RUNNING\s+-\s+\d+s\s+cpus:0\.25;mem:32$/);

    const running = await orbit(['tasks', '--state', 'running', '--master', master]);
    t.same(running.stdout.split('\n').slice(1).filter(Boolean).map((l) => l.split(/\s+/)[0]), [long.taskId], '--state running (any case)');
    const ended = JSON.parse((await orbit(['tasks', '--state', 'TASK_FAILED,finished', '--json', '--master', master])).stdout) as TaskView[];
    t.same(ended.map((x) => x.state).sort(), ['FAILED', 'FINISHED'], 'several states, TASK_ prefix allowed, --json');
    const mine = JSON.parse((await orbit(['tasks', '--framework', fw.frameworkId!, '--json', '--master', master])).stdout) as TaskView[];
    t.equal(mine.length, 3, '--framework');
    const limited = await orbit(['tasks', '--limit', '1', '--master', master]);
    t.match(limited.stdout, '(2 older task(s) not shown; --limit 0 shows all)');
  });

  await t.test('orbit task: everything known, with the status history', async (t) => {
    const r = await orbit(['task', failing.taskId, '--master', master]);
    t.equal(r.code, 0, 'exits 0', show(r));
    t.match(r.stdout, new RegExp(`^task\\s+${failing.taskId}$`, 'm'));
    t.match(r.stdout, /^state\s+FAILED$/m);
    t.match(r.stdout, new RegExp(`^framework\\s+cli-fw \\(${fw.frameworkId}, active\\)$`, 'm'));
    t.match(r.stdout, new RegExp(`^agent\\s+alpha \\(${alpha}, active, http 127\\.0\\.0\\.1:\\d+\\)$`, 'm'));
    t.match(r.stdout, /^exit code\s+3$/m);
    t.match(r.stdout, /^STATUS HISTORY$/m);
    const history = r.stdout.split('STATUS HISTORY\n')[1]!.split('\n').slice(1).filter(Boolean).map((l) => l.split(/\s+/)[1]);
    t.same(history, ['STARTING', 'RUNNING', 'FAILED'], 'oldest first');
    t.match(r.stdout, /FAILED\s+AGENT\s+COMMAND_EXITED/);
    const json = JSON.parse((await orbit(['task', long.taskId, '--json', '--master', master])).stdout) as { task: TaskView; framework: { id: string; status: string }; agent: AgentView };
    t.equal(json.task.id, long.taskId);
    t.equal(json.task.state, 'RUNNING');
    t.equal(json.framework.id, fw.frameworkId);
    t.equal(json.framework.status, 'active');
    t.equal(json.agent.id, alpha);
  });

  await t.test('orbit logs: stdout, --stderr, and --follow until the task ends', async (t) => {
    const out = await orbit(['logs', long.taskId, '--master', master]);
    t.equal(out.code, 0, 'exits 0', show(out));
    t.equal(out.stdout, 'hello\n');
    const err = await orbit(['logs', long.taskId, '--stderr', '--master', master]);
    t.equal(err.stdout, 'oops\n');
    t.equal((await orbit(['logs', done.taskId, '--master', master])).stdout, 'done\n', 'a finished task’s output');

    const offer = await pool.take((o) => o.agentId === beta);
    const ticker = buildTask({ offer, name: 'ticker', resources: 'cpus:0.25;mem:32', process: true, command: 'for i in 1 2 3; do echo line-$i; sleep 0.3; done' });
    const finished = updatesUntil(fw, ticker.taskId, 'FINISHED');
    await fw.launch(offer, [ticker], { refuseSeconds: 0 });
    const followed = await within(orbit(['logs', ticker.taskId, '--follow', '--poll', '50', '--master', master]), 20_000);
    await finished;
    if (followed === 'timed out') return void t.fail('orbit logs --follow did not exit after the task ended');
    t.equal(followed.code, 0, 'exits 0 once the task has ended', show(followed));
    t.equal(followed.stdout, 'line-1\nline-2\nline-3\n', 'every line, in order, once');
  });

  await t.test('orbit agent drain, reactivate and gone', async (t) => {
    const drained = await orbit(['agent', 'drain', beta, '--master', master]);
    t.equal(drained.code, 0, 'exits 0', show(drained));
    t.match(drained.stdout, `agent '${beta}' (beta) draining`);
    await eventually('beta drained', async () => (await cluster.state()).agents.find((a) => a.id === beta)?.status === 'drained');
    t.match(row((await orbit(['agents', '--master', master])).stdout, beta), /\bbeta\s+drained\b/, 'orbit agents shows it drained');
    const status = await orbit(['status', '--master', master]);
    t.match(row(status.stdout, beta), /\bdrained\b/, 'so does orbit status');

    const back = await orbit(['agent', '--master', master, 'reactivate', beta, '--json']);
    t.equal(back.code, 0, '--master before the subcommand works too', show(back));
    t.same(JSON.parse(back.stdout), { agentId: beta, message: `agent '${beta}' (beta) reactivated` });
    await eventually('beta active again', async () => (await cluster.state()).agents.find((a) => a.id === beta)?.status === 'active');

    const gone = await orbit(['agent', 'gone', beta, '--master', master]);
    t.equal(gone.code, 0, 'exits 0', show(gone));
    t.match(gone.stdout, `agent '${beta}' (beta) marked gone`);
    t.notOk((await cluster.state()).agents.some((a) => a.id === beta), 'the master forgot it');
  });

  await t.test('orbit framework teardown, after which --all lists it removed and its tasks are still found', async (t) => {
    const r = await orbit(['framework', 'teardown', fw.frameworkId!, '--master', master]);
    t.equal(r.code, 0, 'exits 0', show(r));
    t.match(r.stdout, `framework '${fw.frameworkId}' torn down`);
    const list = await orbit(['frameworks', '--master', master]);
    t.match(list.stdout, 'no frameworks subscribed');
    t.match(list.stdout, '1 removed framework(s) not shown; --all lists them');
    t.match(row((await orbit(['frameworks', '--all', '--master', master])).stdout, fw.frameworkId!), /\bremoved\b/);
    const tasks = JSON.parse((await orbit(['tasks', '--framework', fw.frameworkId!, '--json', '--master', master])).stdout) as TaskView[];
    t.ok(tasks.some((x) => x.id === long.taskId && x.state === 'KILLED'), 'its long task, KILLED');
    const task = await orbit(['task', long.taskId, '--master', master]);
    t.match(task.stdout, /^framework\s+cli-fw \(\S+, removed\)$/m);
  });

  await t.test('unknown ids, a bad --state and a bad --master: one line, exit 1', async (t) => {
    const cases: { args: string[]; says: (string | RegExp)[]; reason?: string }[] = [
      { args: ['task', 'no-such-task'], says: ["unknown task 'no-such-task'"] },
      { args: ['logs', 'no-such-task'], says: ["unknown task 'no-such-task'"] },
      { args: ['tasks', '--framework', 'fw-nope'], says: ["unknown framework 'fw-nope'"] },
      { args: ['tasks', '--state', 'bogus'], says: ['--state', "'BOGUS'", 'RUNNING'] },
      { args: ['tasks', '--limit', '-1'], says: ['--limit'] },
      { args: ['agent', 'drain', 'agent-nope'], says: ["unknown agent 'agent-nope'"], reason: 'UNKNOWN_AGENT' },
      { args: ['agent', 'reactivate', 'agent-nope'], says: ["unknown agent 'agent-nope'"], reason: 'UNKNOWN_AGENT' },
      { args: ['agent', 'gone', 'agent-nope'], says: ["unknown agent 'agent-nope'"], reason: 'UNKNOWN_AGENT' },
      { args: ['framework', 'teardown', 'fw-nope'], says: ["unknown framework 'fw-nope'"], reason: 'UNKNOWN_FRAMEWORK' },
      { args: ['agents', '--master', 'nohostport'], says: ['--master', 'nohostport'] },
      { args: ['agents', '--master', `${master},`], says: ['--master', `entry 2 of '${master},' is empty`] },
      { args: ['agents', '--master', `${master},${master}`], says: ['--master', 'listed twice'] },
    ];
    for (const c of cases) {
      const args = c.args.includes('--master') ? c.args : [...c.args, '--master', master];
      const r = await orbit(args);
      t.equal(r.code, 1, `orbit ${args.join(' ')} exits 1`, show(r));
      t.equal(r.errorName, 'UsageError', 'a usage error: printed without a stack');
      t.equal(r.stderr.trim().split('\n').length, 1, 'in one line');
      for (const s of c.says) t.match(r.stderr, s, `names ${String(s)}`);
      if (c.reason) t.equal(r.reason, c.reason, `carries the master's reason, ${c.reason}`);
    }
  });

  await t.test('a list of masters: the first that answers serves the command; none answering is one line', async (t) => {
    const [otherDead] = await freePorts(1);
    const listed = await orbit(['agents', '--master', `${deadMaster},${master}`]);
    t.equal(listed.code, 0, 'a dead first master is passed over', show(listed));
    t.match(row(listed.stdout, alpha), /\balpha\b/);
    const none = await orbit(['agents', '--master', `${deadMaster},127.0.0.1:${otherDead}`]);
    t.equal(none.code, 1, show(none));
    t.match(none.stderr, `cannot reach any of the masters ${deadMaster},127.0.0.1:${otherDead}`);
  });

  await t.test('an unreachable master: every command says so in one line and exits 1', async (t) => {
    const commands = [
      ['agents'], ['frameworks'], ['tasks'], ['task', 'x'], ['logs', 'x'],
      ['agent', 'drain', 'x'], ['agent', 'reactivate', 'x'], ['agent', 'gone', 'x'], ['framework', 'teardown', 'x'],
    ];
    for (const args of commands) {
      const r = await orbit([...args, '--master', deadMaster]);
      t.equal(r.code, 1, `orbit ${args.join(' ')} exits 1`, show(r));
      t.equal(r.errorName, 'UsageError');
      t.match(r.stderr, `cannot reach the master at ${deadMaster}`);
    }
  });
});
