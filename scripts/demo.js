#!/usr/bin/env node
// `npm run demo`: a whole Orbit cluster on this machine, for a first look. Starts a master and two
// agents as real processes (ports from free ones), runs the example framework in examples/ —
// Docker containers when a Docker engine answers, plain processes otherwise — prints their progress
// and the status URL, then stops everything it started (by PID). Security is on, as always: the
// agents join with the token the master made, and the demo acts as the master's admin.
//
// `npm run demo -- --ha` runs scripts/demo-ha.js instead: three masters on etcd, the leader killed
// half-way through the run. `--keep` (either demo) keeps the cluster up until Ctrl-C.
import { readFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { DemoProcesses, demoWorkDir, freePort, requireBuild, root, taskRuntime } from './demo-support.js';

const keep = process.argv.includes('--keep');

if (process.argv.includes('--ha')) {
  const { runHaDemo } = await import('./demo-ha.js');
  process.exit(await runHaDemo({ keep }));
}

requireBuild();
const { runDemoFramework } = await import(join(root, 'dist/examples/demo-framework.js'));
const { readCredentials } = await import(join(root, 'dist/src/common/credentials.js'));
const { orbitFetch } = await import(join(root, 'dist/src/common/http-client.js'));

const processes = new DemoProcesses();
const work = demoWorkDir('orbit-demo-');
const start = (name, args) => processes.start(name, args);

async function stopAll() {
  // Agents first (they kill their tasks on the way out), then the master.
  await processes.stopAll();
  rmSync(work, { recursive: true, force: true });
}
process.on('SIGINT', () => stopAll().then(() => process.exit(130)));

/** The first join token, once the master has written it (its first start makes one). */
async function joinToken(masterDir) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (existsSync(join(masterDir, 'security', 'join-token'))) return readFileSync(join(masterDir, 'security', 'join-token'), 'utf8').trim();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the master wrote no join token within 30 s');
}

async function waitForAgents(httpPort, count, fetchAsAdmin) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const state = await (await fetchAsAdmin(`https://127.0.0.1:${httpPort}/state`)).json();
      if (state.agents.filter((a) => a.active).length >= count) return state;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${count} agents did not register within 30 s`);
}

let exitCode = 0;
try {
  const { docker, image } = taskRuntime();
  const [port, httpPort] = [await freePort(), await freePort()];
  const master = `127.0.0.1:${port}`;
  console.log(`demo: starting a master on ${master} and two agents (${docker ? 'Docker containers' : 'processes: no Docker engine answers'})`);
  const masterDir = join(work, 'master');
  start('master', ['master', '--port', String(port), '--http-port', String(httpPort), '--work-dir', masterDir, '--log-level', 'warn']);
  const token = await joinToken(masterDir);
  // The demo framework and the status reads act as the master's admin, as the CLI on its host would.
  process.env.ORBIT_CREDENTIALS = join(masterDir, 'security', 'admin.credentials.json');
  const admin = orbitFetch({ mode: 'tls', credentials: readCredentials(process.env.ORBIT_CREDENTIALS) }, ['master']);
  for (const [i, rack] of [[1, 'r1'], [2, 'r2']]) {
    start(`agent ${i}`, [
      'agent', '--master', master, '--join', token, '--work-dir', join(work, `agent${i}`), '--http-port', String(await freePort()),
      '--resources', 'cpus:2;mem:1024;disk:2048', '--attributes', `rack:${rack}`, '--hostname', `demo-agent-${i}`,
      '--containerizers', docker ? 'docker,process' : 'process', '--kill-tasks-on-exit', '--log-level', 'warn',
    ]);
  }
  await waitForAgents(httpPort, 2, admin.fetch);
  console.log(`demo: cluster up (TLS; the agents joined with a token); status: https://127.0.0.1:${httpPort}/state (with ORBIT_CREDENTIALS=${process.env.ORBIT_CREDENTIALS})`);
  const result = await runDemoFramework({ master, tasks: 6, ...(image ? { image } : {}), print: (line) => console.log(line) });
  console.log(`demo: ${result.finished} tasks finished, ${result.failed} failed; status: https://127.0.0.1:${httpPort}/state`);
  await admin.close();
  if (result.failed > 0) exitCode = 1;
  if (keep) {
    console.log('demo: --keep: the cluster stays up until Ctrl-C');
    await new Promise(() => {});
  }
} catch (err) {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  exitCode = 1;
} finally {
  await stopAll();
  console.log('demo: stopped the master and both agents');
}
process.exit(exitCode);
