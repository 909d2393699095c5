// `npm run demo -- --ha`: the demo with masters in HA. Starts etcd and three masters on it (one
// leads, two stand by), two agents and the example framework given the list of the three, all as
// real processes on free ports with temp dirs. Half-way through the run the leading master is
// killed with SIGKILL; the demo prints who led before and after and how long the takeover took,
// and the run finishes through the new leader with every task FINISHED. Then it stops everything it
// started, by PID, and removes its temp dir (unless --keep: then the cluster stays up until Ctrl-C).
//
// Security is on: the demo makes a CA for the cluster (every master must have the same one), and
// issues the agents' credentials and its own, an operator's, directly from it.
import { accessSync, constants, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { DemoProcesses, demoWorkDir, freePorts, requireBuild, root, taskRuntime, waitFor } from './demo-support.js';

const CLUSTER = 'orbit';
const MASTERS = 3;
const AGENTS = 2;
const TASKS = 6;
/** A whole CPU per task on 2-CPU agents: four run at once, so the last two are launched through the new leader. */
const TASK_RESOURCES = 'cpus:1;mem:32';
const AGENT_RESOURCES = 'cpus:2;mem:1024;disk:2048';
/** A dead leader is replaced about this long after it died (the shortest the masters accept). */
const LEASE_TTL_S = 2;
const RUN_TIMEOUT_MS = 60_000;
const STARTUP_TIMEOUT_MS = 30_000;

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const message = (err) => (err instanceof Error ? err.message : String(err));

/** True when an executable `name` is in a directory of $PATH. */
function onPath(name) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return dir !== '';
    } catch {
      return false;
    }
  });
}

/** Runs the HA demo to its end; resolves to the exit code. */
export async function runHaDemo({ keep }) {
  requireBuild();
  if (!onPath('etcd')) {
    console.error('demo: --ha needs etcd, which is not installed: apt-get install etcd-server');
    return 1;
  }
  const { runDemoFramework } = await import(join(root, 'dist/examples/demo-framework.js'));
  const { createCa, issueCertificate } = await import(join(root, 'dist/src/common/pki.js'));
  const { writeCredentials } = await import(join(root, 'dist/src/common/credentials.js'));
  const { orbitFetch } = await import(join(root, 'dist/src/common/http-client.js'));

  const processes = new DemoProcesses();
  const work = demoWorkDir('orbit-demo-ha-');
  let stopped;
  let operator;
  /** Stops every process this demo started (by PID) and removes its temp dir; once, whoever asks first. */
  const stopAll = () =>
    (stopped ??= (async () => {
      await processes.stopAll();
      await operator?.close();
      rmSync(work, { recursive: true, force: true });
      console.log(`demo: stopped etcd, the masters and the agents (pids ${processes.pids().join(', ')}) and removed ${work}`);
    })());
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) process.once(signal, () => void stopAll().then(() => process.exit(code)));

  let exitCode = 0;
  try {
    // One CA for the cluster, and credentials issued from it.
    const now = new Date();
    const ca = await createCa(CLUSTER, now, 1);
    const caCert = join(work, 'ca.crt');
    const caKey = join(work, 'ca.key');
    writeFileSync(caCert, ca.certPem);
    writeFileSync(caKey, ca.keyPem, { mode: 0o600 });
    const credentialsFile = async (kind, name) => {
      const path = join(work, `${kind}-${name}.credentials.json`);
      const credentials = writeCredentials(path, ca.certPem, await issueCertificate(ca, { identity: { cluster: CLUSTER, kind, name }, now, validDays: 1 }));
      return { path, credentials };
    };
    const admin = await credentialsFile('operator', 'demo');
    // The demo framework (through the SDK) and the status reads act as this operator.
    process.env.ORBIT_CREDENTIALS = admin.path;
    operator = orbitFetch({ mode: 'tls', credentials: admin.credentials }, ['master']);
    const getJson = async (url) => {
      try {
        const res = await operator.fetch(url, { signal: AbortSignal.timeout(1_000) });
        return res.ok ? await res.json() : undefined;
      } catch {
        return undefined; // not listening (yet, or any more)
      }
    };

    const { docker, image } = taskRuntime();

    const [etcdPort, etcdPeerPort] = await freePorts(2);
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcdPeer = `http://127.0.0.1:${etcdPeerPort}`;
    const etcd = processes.start('etcd', [
      '--name', 'orbit-demo', '--data-dir', join(work, 'etcd'),
      '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
      '--listen-peer-urls', etcdPeer, '--initial-advertise-peer-urls', etcdPeer,
      '--initial-cluster', `orbit-demo=${etcdPeer}`, '--initial-cluster-state', 'new',
      '--logger', 'zap', '--log-level', 'error',
    ], 'etcd');
    const until = (what, probe, timeoutMs, everyMs) => Promise.race([waitFor(what, probe, timeoutMs, everyMs), processes.failed]);
    await until('etcd to answer', () => fetch(`${etcdUrl}/health`).then((r) => r.json()).then((h) => h.health === 'true').catch(() => false), STARTUP_TIMEOUT_MS);
    console.log(`demo: etcd on 127.0.0.1:${etcdPort} (pid ${etcd.pid})`);

    const masters = [];
    for (let n = 1; n <= MASTERS; n++) {
      const [port, httpPort] = await freePorts(2);
      const proc = processes.start(`master ${n}`, [
        'master', '--port', String(port), '--http-port', String(httpPort), '--work-dir', join(work, `master${n}`),
        '--registry', `etcd://127.0.0.1:${etcdPort}`, '--lease-ttl', String(LEASE_TTL_S), '--ca-cert', caCert, '--ca-key', caKey, '--log-level', 'warn',
      ]);
      masters.push({ n, proc, address: `127.0.0.1:${port}`, httpPort, name: `master ${n} (127.0.0.1:${port})` });
      console.log(`demo: master ${n} on 127.0.0.1:${port}, HTTPS ${httpPort} (pid ${proc.pid})`);
    }
    const list = masters.map((m) => m.address).join(',');
    /** The one master among `candidates` whose /health says it leads, with that health; undefined while none (or, briefly, two) do. */
    const leaderAmong = async (candidates) => {
      const roles = await Promise.all(candidates.map(async (m) => ({ m, health: await getJson(`https://127.0.0.1:${m.httpPort}/health`) })));
      // A master leads once its term has started: /health then gives its epoch (0 before).
      const leading = roles.filter((r) => r.health?.role === 'leader' && r.health.epoch > 0);
      return leading.length === 1 ? leading[0] : undefined;
    };
    // The agents start with the masters: given the list, they find the leader whenever it is elected.
    for (let n = 1; n <= AGENTS; n++) {
      const { path } = await credentialsFile('agent', `demo-agent-${n}`);
      const [httpPort] = await freePorts(1);
      const proc = processes.start(`agent ${n}`, [
        'agent', '--master', list, '--credentials', path, '--work-dir', join(work, `agent${n}`), '--http-port', String(httpPort),
        '--resources', AGENT_RESOURCES, '--attributes', `rack:r${n}`, '--hostname', `demo-agent-${n}`,
        '--containerizers', docker ? 'docker,process' : 'process', '--kill-tasks-on-exit', '--log-level', 'warn',
      ]);
      console.log(`demo: agent ${n} given --master ${list} (pid ${proc.pid})`);
    }
    const first = await until('a master to lead', () => leaderAmong(masters), STARTUP_TIMEOUT_MS, 50);
    const standbys = masters.filter((m) => m !== first.m).map((m) => m.n);
    console.log(`demo: ${first.m.name} leads (epoch ${first.health.epoch}); masters ${standbys.join(' and ')} stand by`);

    const stateOf = (m) => getJson(`https://127.0.0.1:${m.httpPort}/state`);
    await until(`${AGENTS} agents to register`, async () => ((await stateOf(first.m))?.agents.filter((a) => a.active).length ?? 0) >= AGENTS, STARTUP_TIMEOUT_MS, 200);
    console.log(`demo: cluster up (TLS, one CA made for the demo), tasks as ${docker ? 'Docker containers' : 'processes: no Docker engine answers'}; ` +
      `status: https://127.0.0.1:${first.m.httpPort}/state (with ORBIT_CREDENTIALS=${admin.path})`);

    /** Kills the leader, then waits for another master to lead and for the agents and the framework to be back with it. */
    const failOver = async () => {
      const killedAt = Date.now();
      await processes.kill(first.m.proc, 'SIGKILL');
      console.log(`demo: half of the tasks are running: killed the leader, ${first.m.name}, pid ${first.m.proc.pid}, with SIGKILL`);
      const next = await waitFor('another master to lead', () => leaderAmong(masters.filter((m) => m !== first.m)), STARTUP_TIMEOUT_MS, 50);
      const takeoverMs = Date.now() - killedAt;
      console.log(`demo: ${next.m.name} leads now (epoch ${next.health.epoch}, was ${first.health.epoch}), ${seconds(takeoverMs)} after the kill`);
      await waitFor('the agents and the framework to be back with the new leader', async () => {
        const state = await stateOf(next.m);
        return state && state.agents.filter((a) => a.active).length >= AGENTS && state.frameworks.some((f) => f.active);
      }, STARTUP_TIMEOUT_MS, 100);
      console.log(`demo: both agents and the framework are with ${next.m.name}, ${seconds(Date.now() - killedAt)} after the kill`);
      return { next, takeoverMs };
    };

    let failover;
    // A failover that goes wrong ends the run at once rather than at its timeout.
    let failoverFailed;
    const failoverProblem = new Promise((_, reject) => (failoverFailed = reject));
    /** Every state each task was heard in, from the framework's lines (`TASK_ID STATE[: message]`). */
    const heard = new Map();
    const launches = { beforeKill: 0, afterKill: 0 };
    let subscriptions = 0;
    const print = (line) => {
      if (/^subscribed as \S+;/.test(line) && ++subscriptions > 1) {
        // The SDK followed the new leader; the example says what it says on every subscription.
        console.log(`${line.replace(/;.*$/, '')} again, with the new leader`);
        return;
      }
      console.log(line);
      if (/^launching /.test(line)) launches[failover ? 'afterKill' : 'beforeKill']++;
      const [, taskId, state] = /^(\S+) ([A-Z]+)\b/.exec(line) ?? [];
      if (taskId === undefined) return;
      heard.set(taskId, [...(heard.get(taskId) ?? []), state]);
      const running = [...heard.values()].filter((states) => states.includes('RUNNING')).length;
      if (running >= TASKS / 2 && !failover) {
        failover = failOver();
        failover.catch(failoverFailed);
      }
    };
    const started = Date.now();
    const result = await Promise.race([
      runDemoFramework({ master: list, tasks: TASKS, resources: TASK_RESOURCES, timeoutMs: RUN_TIMEOUT_MS, ...(image ? { image } : {}), print }),
      processes.failed,
      failoverProblem,
    ]);
    if (!failover) throw new Error('the run ended before half of the tasks were running: no failover happened');
    const { next, takeoverMs } = await failover;

    // Nothing lost: every task the framework launched was heard FINISHED, none LOST or UNREACHABLE.
    const lost = [...heard].filter(([, states]) => states.some((s) => s === 'LOST' || s === 'UNREACHABLE' || s === 'GONE')).length;
    const finished = [...heard].filter(([, states]) => states.includes('FINISHED')).length;
    console.log(`demo: leader before: ${first.m.name}; after: ${next.m.name}; takeover took ${seconds(takeoverMs)}`);
    console.log(`demo: run finished in ${seconds(Date.now() - started)}: ${finished} of ${TASKS} tasks finished ` +
      `(${launches.beforeKill} launched before the kill, ${launches.afterKill} through the new leader), ${result.failed} failed, ${lost} lost; ` +
      `status: https://127.0.0.1:${next.m.httpPort}/state`);
    if (finished !== TASKS || result.finished !== TASKS || result.failed > 0 || lost > 0) exitCode = 1;
    if (keep) {
      console.log('demo: --keep: the cluster stays up until Ctrl-C');
      await new Promise(() => {});
    }
  } catch (err) {
    console.error(`demo: ${message(err)}`);
    exitCode = 1;
  } finally {
    if (exitCode !== 0) for (const p of processes.started) console.error(`demo: the end of what ${p.name} (pid ${p.pid}) wrote:\n${p.logs().slice(-1500)}`);
    await stopAll();
  }
  return exitCode;
}
