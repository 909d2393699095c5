/**
 * `npm run demo -- --ha` (scripts/demo.js --ha) end to end, as a user runs it: etcd, three masters
 * and two agents as real processes, the leader killed with SIGKILL half-way through the run. The
 * demo exits 0, says which master led before and after, finishes every task with none lost, and
 * leaves nothing running: not the processes it started (their PIDs are in its output), nor any
 * process in its temp dir (the tasks' sandboxes are there).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { cliBuildProblem, REPO_ROOT, within } from '../helpers/cli.js';

/** The demo takes about 15–30 s on 2 cores; past this it is stopped and the test fails. */
const DEMO_TIMEOUT_MS = 75_000;
/** What the demo has, after SIGTERM, to stop what it started. */
const STOP_GRACE_MS = 20_000;

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node scripts/demo.js ...args` to its end: SIGTERM after DEMO_TIMEOUT_MS (the demo stops its cluster), SIGKILL after the grace. */
async function runDemo(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<DemoRun> {
  const child = spawn(process.execPath, ['scripts/demo.js', ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  let ended = await within(exited, DEMO_TIMEOUT_MS);
  if (ended === 'timed out') {
    child.kill('SIGTERM');
    ended = await within(exited, STOP_GRACE_MS);
    if (ended === 'timed out') {
      child.kill('SIGKILL');
      ended = await exited;
    }
  }
  return { ...ended, stdout, stderr };
}

/** True while `pid` is a live process (a zombie waiting to be reaped is not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Live processes whose command line or working directory lies in `dir`: `pid command` each. */
function processesIn(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${entry}/cwd`);
      } catch {
        // Gone, or not ours to read.
      }
      if ((cmdline.includes(dir) || cwd.startsWith(dir)) && alive(Number(entry))) found.push(`${entry} ${cmdline}`);
    } catch {
      // It exited while being read.
    }
  }
  return found;
}

function etcdOnPath(): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, 'etcd')));
}

const problem = cliBuildProblem() ?? (existsSync(join(REPO_ROOT, 'dist/examples/demo-framework.js')) ? undefined : 'dist/examples/demo-framework.js is missing: build first (npx tsc -p .)');
if (problem !== undefined) {
  t.fail(problem);
} else if (!etcdOnPath()) {
  t.fail('etcd is not installed: apt-get install -y etcd-server');
} else {
  t.test('the leader is killed half-way through the run; another takes over and every task finishes', async (t) => {
    const started = Date.now();
    const run = await runDemo(['--ha']);
    const output = `${run.stdout}\n${run.stderr}`;
    // Whatever happened, stop what the demo said it started and left behind (the demo's own failure).
    const pids = [...output.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
    t.teardown(() => {
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    });
    t.comment(`the demo took ${((Date.now() - started) / 1000).toFixed(1)} s`);

    t.equal(run.code, 0, `the demo exits 0 (it ended with ${run.code ?? run.signal})`);
    if (run.code !== 0) t.comment(output);
    const first = /^demo: (master \d) \(127\.0\.0\.1:\d+\) leads \(epoch (\d+)\); masters \d and \d stand by$/m.exec(run.stdout);
    t.ok(first, 'it says which master leads at first');
    t.match(run.stdout, /^demo: half of the tasks are running: killed the leader, master \d \(127\.0\.0\.1:\d+\), pid \d+, with SIGKILL$/m, 'it kills the leader half-way');
    const change = /^demo: leader before: (master \d) \(127\.0\.0\.1:\d+\); after: (master \d) \(127\.0\.0\.1:\d+\); takeover took (\d+\.\d) s$/m.exec(run.stdout);
    t.ok(change, 'it says who led before and after the kill, and how long the takeover took');
    if (first && change) {
      t.equal(change[1], first[1], 'the master that led at first is the one killed');
      t.not(change[2], change[1], 'another master leads after the kill');
    }
    t.match(run.stdout, /^demo: run finished in \d+\.\d s: 6 of 6 tasks finished \(\d+ launched before the kill, \d+ through the new leader\), 0 failed, 0 lost;/m, 'every task finished, none lost');
    t.notMatch(run.stdout, /^\S+ (LOST|UNREACHABLE|GONE|FAILED)\b/m, 'the framework heard no task lost, unreachable or failed');

    // Nothing left running.
    const stoppedLine = /^demo: stopped etcd, the masters and the agents \(pids ([\d, ]+)\) and removed (\S+)$/m.exec(run.stdout);
    t.ok(stoppedLine, 'it says it stopped everything and removed its temp dir');
    if (!stoppedLine) return;
    const stoppedPids = stoppedLine[1]!.split(', ').map(Number);
    t.equal(stoppedPids.length, 6, 'etcd, three masters and two agents');
    t.same(new Set(stoppedPids), new Set(pids), 'the PIDs it stopped are the ones it said it started');
    t.same(stoppedPids.filter(alive), [], 'none of the processes it started is running');
    const work = stoppedLine[2]!;
    t.notOk(existsSync(work), `its temp dir ${work} is gone`);
    t.same(processesIn(work), [], 'no process runs in its temp dir (no task left behind)');
  });

  t.test('without etcd it names the package to install, in one line, and exits 1', async (t) => {
    const run = await runDemo(['--ha'], { ...process.env, PATH: '/nonexistent' });
    t.equal(run.code, 1);
    t.equal(run.stderr, 'demo: --ha needs etcd, which is not installed: apt-get install etcd-server\n');
    t.equal(run.stdout, '', 'it starts nothing');
  });
}
