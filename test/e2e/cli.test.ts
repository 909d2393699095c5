// The `orbit` command end to end: real `orbit master`, `orbit agent`, `orbit run` and
// `orbit status` processes on 127.0.0.1 with free ports and temp work dirs, tasks in the real
// Docker engine. Needs the compiled CLI (`npx tsc -p .`; npm test builds it first).
import t from 'tap';
import type { AgentView, ClusterStateView, TaskView } from '../../src/common/state-view.js';
import { cliBuildProblem, freePorts, runOrbit, spawnOrbit, staleSources, within, type OrbitProcess, type OrbitResult } from '../helpers/cli.js';
import { eventually, tempDir } from '../helpers/cluster.js';
import { containersOfTask, prepareDocker, removeAgentContainers, TEST_IMAGE } from '../helpers/docker.js';
import { testFetch } from '../helpers/http-client.js';

const AGENT_HOSTNAME = 'orbit-cli-e2e';
/** How long a command that fails on its input may take (node start-up included). */
const BAD_INPUT_TIMEOUT_MS = 15_000;
/** How long `orbit master` and `orbit agent` may take to stop after SIGTERM. */
const STOP_TIMEOUT_MS = 10_000;
/** A stack frame: usage errors print one line, never a stack trace. */
const STACK_FRAME = /^\s+at /m;

/** What a command said, for the diagnostics of a failed assertion. */
const output = (r: OrbitResult) => ({ exit: r.code ?? r.signal, ms: r.ms, stdout: r.stdout, stderr: r.stderr });

/** Fails fast, with what the process said, when a server process has already exited. */
function assertRunning(p: OrbitProcess, what: string): void {
  if (p.child.exitCode !== null || p.child.signalCode !== null) {
    throw new Error(`${what} exited (${p.child.exitCode ?? p.child.signalCode}):\n${p.stderr()}`);
  }
}

/** Every task the master knows, active or completed, of live and removed frameworks. */
function allTasks(state: ClusterStateView): TaskView[] {
  return [...state.frameworks, ...state.completedFrameworks].flatMap((f) => [...f.tasks, ...f.completedTasks]);
}

/** The task id `orbit run` printed on stderr (`launching <id> on ...`). */
function launchedTaskId(stderr: string): string | undefined {
  return /^launching (\S+) on /m.exec(stderr)?.[1];
}

/** An agent's view without the field that moves with every heartbeat. */
const stable = ({ lastHeartbeatAt: _, ...rest }: AgentView) => rest;

const problem = cliBuildProblem() ?? prepareDocker();
if (problem !== undefined) {
  t.fail(problem);
} else {
  const stale = staleSources();
  if (stale.length > 0) t.comment(`dist/ is older than ${stale.join(', ')}: these tests run the last build ('npx tsc -p .')`);
  t.test('the orbit command against a master and an agent it started', async (t) => {
    const [port, httpPort, agentHttpPort, deadPort] = await freePorts(4);
    const master = `127.0.0.1:${port}`;
    const stateUrl = `http://127.0.0.1:${httpPort}/state`;
    const getState = async (): Promise<ClusterStateView> => (await (await testFetch(stateUrl)).json()) as ClusterStateView;

    const masterProc = spawnOrbit(t, [
      'master', '--port', String(port), '--http-port', String(httpPort), '--work-dir', tempDir(t),
      '--allocation-interval', '0.1', '--heartbeat-interval', '1', '--log-level', 'warn',
    ]);
    await eventually('the master to serve /state', async () => {
      assertRunning(masterProc, 'orbit master');
      return testFetch(stateUrl).then(async (r) => (await r.body?.cancel(), r.ok), () => false);
    }, 15_000);

    const agentProc = spawnOrbit(t, [
      'agent', '--master', master, '--work-dir', tempDir(t), '--http-port', String(agentHttpPort),
      '--containerizers', 'docker,process', '--resources', 'cpus:2;mem:1024', '--hostname', AGENT_HOSTNAME,
      '--kill-tasks-on-exit', '--log-level', 'warn',
    ]);
    const agent = await eventually('the agent to show up in /state', async () => {
      assertRunning(agentProc, 'orbit agent');
      return (await getState()).agents.find((a) => a.hostname === AGENT_HOSTNAME && a.active);
    }, 15_000);
    t.teardown(() => removeAgentContainers(agent.id));

    await t.test('orbit master and orbit agent start, and the agent is registered in GET /state', async (t) => {
      t.match(masterProc.stdout(), `gRPC ${master}`, 'the master says where it listens');
      t.match(agentProc.stdout(), `orbit agent offering cpus:2;`, 'the agent says what it offers');
      t.equal(agent.httpPort, agentHttpPort);
      t.match(agent.resources, /^cpus:2;(.*;)?mem:1024(;|$)/, 'the given cpus and mem, plus what was detected');
      t.match(agent.id, /^agent-/);
    });

    await t.test('orbit run --image prints the container output and exits with its code', async (t) => {
      const r = await runOrbit(t, ['run', '--master', master, '--image', TEST_IMAGE, '--', 'sh', '-c', 'echo hi; exit 3']);
      t.equal(r.code, 3, 'exits 3', output(r));
      t.equal(r.stdout, 'hi\n', 'stdout is the task output only');
      t.match(r.stderr, /TASK_FAILED/, 'the state changes go to stderr');
      const taskId = launchedTaskId(r.stderr);
      if (!t.ok(taskId, 'the launched task id is printed')) return;
      const view = await eventually('the task in /state', async () => allTasks(await getState()).find((x) => x.id === taskId));
      t.equal(view.state, 'FAILED', '/state shows the task FAILED');
      t.equal(view.agentId, agent.id);
      t.same(containersOfTask(taskId!), [], 'no container of the task remains');
      const state = await getState();
      t.ok(state.completedFrameworks.some((f) => f.completedTasks.some((x) => x.id === taskId)), 'orbit run tore its framework down');
    });

    await t.test('orbit run --process runs a process on the master named by $ORBIT_MASTER', async (t) => {
      const r = await runOrbit(t, ['run', '--process', '--', 'echo from-process'], { env: { ORBIT_MASTER: master } });
      t.equal(r.code, 0, 'exits 0', output(r));
      t.equal(r.stdout, 'from-process\n');
      t.match(r.stderr, /TASK_FINISHED/);
    });

    await t.test("orbit status prints tables naming the agent's hostname", async (t) => {
      const r = await runOrbit(t, ['status', '--master', master]);
      t.equal(r.code, 0, 'exits 0', output(r));
      t.match(r.stdout, /^AGENTS$/m);
      const row = r.stdout.split('\n').find((line) => line.startsWith(agent.id));
      t.ok(row, 'a row for the agent');
      t.match(row, AGENT_HOSTNAME, 'the row names its hostname');
      t.match(r.stdout, /^FRAMEWORKS$/m);
      t.match(r.stdout, /^TASKS$/m);
    });

    await t.test('orbit status --json prints the JSON of GET /state, with the same agents', async (t) => {
      const r = await runOrbit(t, ['status', '--json', '--master', master]);
      t.equal(r.code, 0, 'exits 0', output(r));
      const json = JSON.parse(r.stdout) as ClusterStateView;
      const state = await getState();
      t.equal(json.agents.length, 1);
      t.same(json.agents.map(stable), state.agents.map(stable), 'the agents match');
      // The masters' list is in /state only (Operator.GetState does not carry it).
      const { masters: _masters, ...rest } = state;
      t.same({ ...json, agents: [] }, { ...rest, agents: [] }, 'and so does the rest');
    });

    await t.test('bad input exits 1 with a one-line message naming the problem', async (t) => {
      const workDir = tempDir(t);
      const cases: { name: string; args: string[]; env?: Record<string, string>; says: (string | RegExp)[] }[] = [
        {
          name: 'orbit agent --resources with a value that is not a number',
          args: ['agent', '--master', master, '--work-dir', workDir, '--http-port', '0', '--resources', 'cpus:abc'],
          says: ['--resources', /cpus:abc|'abc'|"abc"/],
        },
        { name: 'orbit agent without --work-dir', args: ['agent', '--master', master, '--http-port', '0', '--resources', 'cpus:1'], says: ['--work-dir'] },
        { name: 'orbit master --port that is not a number', args: ['master', '--port', 'notaport', '--http-port', '0', '--work-dir', workDir], says: ['--port', 'notaport'] },
        { name: 'orbit run with both --image and --process', args: ['run', '--master', master, '--image', TEST_IMAGE, '--process', '--', 'true'], says: ['--image', '--process'] },
        { name: 'orbit run --env without =', args: ['run', '--master', master, '--process', '--env', 'NOEQUALS', '--', 'true'], says: ['--env', 'NOEQUALS'] },
        { name: 'orbit status --master without a port', args: ['status', '--master', 'nohostport'], says: ['--master', 'nohostport'] },
        { name: 'orbit status with $ORBIT_MASTER that is not HOST:PORT', args: ['status'], env: { ORBIT_MASTER: 'nohostport' }, says: ['$ORBIT_MASTER', 'nohostport'] },
        { name: 'orbit status against a port where no master listens', args: ['status', '--master', `127.0.0.1:${deadPort}`], says: [/cannot reach the master/, `127.0.0.1:${deadPort}`] },
      ];
      for (const c of cases) {
        await t.test(c.name, async (t) => {
          const r = await runOrbit(t, c.args, { timeoutMs: BAD_INPUT_TIMEOUT_MS, ...(c.env ? { env: c.env } : {}) });
          t.equal(r.code, 1, 'exits 1', output(r));
          for (const s of c.says) t.match(r.stderr, s, `stderr names ${String(s)}`);
          t.notMatch(r.stderr, STACK_FRAME, 'no stack trace');
          t.ok(r.ms < 10_000, `exited within 10 s (${r.ms} ms)`);
        });
      }
    });

    await t.test('after the bad commands the cluster still runs tasks', async (t) => {
      const r = await runOrbit(t, ['run', '--master', master, '--image', TEST_IMAGE, '--', 'echo', 'still', 'ok']);
      t.equal(r.code, 0, 'exits 0', output(r));
      t.equal(r.stdout, 'still ok\n');
      const state = await getState();
      t.ok(state.agents.find((a) => a.id === agent.id)?.active, 'the agent is still active');
    });

    await t.test('orbit agent and orbit master exit 0 on SIGTERM', async (t) => {
      for (const [p, what] of [[agentProc, 'orbit agent'], [masterProc, 'orbit master']] as const) {
        assertRunning(p, what);
        const started = Date.now();
        process.kill(p.pid, 'SIGTERM');
        const exit = await within(p.exited, STOP_TIMEOUT_MS);
        t.same(exit, { code: 0, signal: null }, `${what} exited 0 (${Date.now() - started} ms after SIGTERM)\n${p.stderr()}`);
      }
    });
  });
}
