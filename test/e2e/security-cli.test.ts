// Security end to end, through the `orbit` command only: a master that makes its own cluster CA,
// an agent that joins with the token the master printed and keeps its certificate, credentials
// issued to a framework and an operator, join tokens made and revoked, a policy file enforced and
// reloaded on SIGHUP, `orbit acl check`, --insecure, and the audit log that records it all. Real
// processes on 127.0.0.1 with free ports and temp work dirs; process tasks only (no Docker).
// Needs the compiled CLI (`npx tsc -p .`; npm test builds it first).
import t from 'tap';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caPin } from '../../src/common/pki.js';
import type { AgentView } from '../../src/common/state-view.js';
import { cliBuildProblem, freePorts, runOrbit, spawnOrbit, staleSources, within, type OrbitProcess, type OrbitResult } from '../helpers/cli.js';
import { eventually, tempDir } from '../helpers/cluster.js';
import { OPERATOR_CREDENTIALS_FILE } from '../helpers/pki.js';

const AGENT_HOSTNAME = 'orbit-security-e2e';
/** How long `orbit master` and `orbit agent` may take to start, and to stop after SIGTERM. */
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
/** How long a command that is refused may take (node start-up included). */
const REFUSED_TIMEOUT_MS = 15_000;
/** A stack frame: refusals print one line, never a stack trace. */
const STACK_FRAME = /^\s+at /m;
/** What the uid of a process task that names no user is: nobody when the agent is root, else the agent's own. */
const TASK_UID = process.getuid?.() === 0 ? '65534' : String(process.getuid?.());

/** What a command said, for the diagnostics of a failed assertion. */
const output = (r: OrbitResult) => ({ exit: r.code ?? r.signal, ms: r.ms, stdout: r.stdout, stderr: r.stderr });

/** The non-empty lines of `text`. */
const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');

/** Fails fast, with what the process said, when a server process has already exited. */
function assertRunning(p: OrbitProcess, what: string): void {
  if (p.child.exitCode !== null || p.child.signalCode !== null) {
    throw new Error(`${what} exited (${p.child.exitCode ?? p.child.signalCode}):\n${p.stdout()}\n${p.stderr()}`);
  }
}

/** The agent id of the last `registered with the master` (or `re-registered ...`) log line a process wrote. */
function registeredAgentId(stderr: string): string | undefined {
  let id: string | undefined;
  for (const line of stderr.split('\n')) {
    if (!line.includes('registered with the master')) continue;
    try {
      const entry = JSON.parse(line) as { agentId?: string };
      if (entry.agentId) id = entry.agentId;
    } catch {
      // Not a JSON log line.
    }
  }
  return id;
}

/** Permission bits of a file, as `0600`. */
const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8).padStart(4, '0');

interface AuditLine {
  time: string;
  principal: string;
  action: string;
  object: string;
  result: string;
  detail?: string;
}

/** A policy file: operators may do everything; framework:alice registers and runs tasks under `roles` only, and sees its own frameworks. */
const policy = (roles: string[]): string => `rules:
  - name: operators
    allow: all
    principals: [operator:*]
  - name: alice-roles
    allow: [register_framework, run_task]
    principals: [framework:alice]
    roles: [${roles.join(', ')}]
  - name: alice-own
    allow: [view, teardown_framework, read_task_output]
    principals: [framework:alice]
    frameworks: own
`;

const problem = cliBuildProblem();
if (problem !== undefined) {
  t.fail(problem);
} else {
  const stale = staleSources();
  if (stale.length > 0) t.comment(`dist/ is older than ${stale.join(', ')}: these tests run the last build ('npx tsc -p .')`);

  t.test('a secure cluster made with two commands, and what its security refuses', async (t) => {
    /** The whole run's test: processes that outlive a subtest are stopped at its end. */
    const top = t;
    const [port, httpPort, agentHttpPort, deadPort, insecurePort, insecureHttpPort, refusedPort, refusedHttpPort] = await freePorts(8);
    const master = `127.0.0.1:${port}`;
    const masterWorkDir = tempDir(t);
    const agentWorkDir = tempDir(t);
    const files = tempDir(t);
    const policyFile = join(files, 'policy.yaml');
    writeFileSync(policyFile, policy(['analytics']));
    // A copy that keeps the first policy, for `orbit acl check --policy` after the live file changed.
    const firstPolicyFile = join(files, 'first-policy.yaml');
    writeFileSync(firstPolicyFile, policy(['analytics']));

    // The master's own CA: no --ca-cert, so `raw` (the helpers would add the test CA's).
    const masterProc = spawnOrbit(t, [
      'master', '--port', String(port), '--http-port', String(httpPort), '--work-dir', masterWorkDir,
      '--allocation-interval', '0.1', '--heartbeat-interval', '1', '--policy', policyFile, '--log-level', 'info',
    ], { raw: true });
    const joinLine = await eventually('orbit master to print a join line', () => {
      assertRunning(masterProc, 'orbit master');
      return /^join an agent: orbit agent --master (\S+) --join (\S+) --work-dir DIR$/m.exec(masterProc.stdout());
    }, START_TIMEOUT_MS);
    const token = joinLine[2]!;
    const adminCredentials = join(masterWorkDir, 'security', 'admin.credentials.json');
    /** The environment of CLI calls as the master's admin (the helpers point $ORBIT_CREDENTIALS at the test CA's operator). */
    const asAdmin = { env: { ORBIT_CREDENTIALS: adminCredentials } };
    const auditLog = (): AuditLine[] => lines(readFileSync(join(masterWorkDir, 'audit.log'), 'utf8')).map((l) => JSON.parse(l) as AuditLine);

    const agentArgs = [
      'agent', '--master', master, '--work-dir', agentWorkDir, '--http-port', String(agentHttpPort),
      '--containerizers', 'process', '--resources', 'cpus:1;mem:256', '--hostname', AGENT_HOSTNAME, '--log-level', 'info',
    ];
    let agentProc = spawnOrbit(t, [...agentArgs, '--join', token], { raw: true });
    const agentId = await eventually('orbit agent --join to register', () => {
      assertRunning(agentProc, 'orbit agent --join');
      return registeredAgentId(agentProc.stderr());
    }, START_TIMEOUT_MS);

    await t.test('orbit master with a fresh work dir makes its CA and prints the admin credentials and a join line', async (t) => {
      t.match(masterProc.stdout(), `admin credentials: ${adminCredentials}`, 'it names the admin credentials file');
      t.equal(joinLine[1], master, 'the join line names the master');
      const security = join(masterWorkDir, 'security');
      for (const file of ['ca.crt', 'ca.key', 'admin.credentials.json', 'join-token', 'join-tokens.json']) t.ok(existsSync(join(security, file)), `${file} is in WORK_DIR/security`);
      t.equal(mode(join(security, 'ca.key')), '0600', "the CA's key is 0600");
      t.equal(mode(adminCredentials), '0600', 'the admin credentials are 0600');
      t.equal(readFileSync(join(security, 'join-token'), 'utf8').trim(), token, 'WORK_DIR/security/join-token holds the printed token');
      t.equal(`sha256:${token.split('.')[3]}`, caPin(readFileSync(join(security, 'ca.crt'), 'utf8')), "the token pins the master's CA");
    });

    await t.test('orbit agent --join registers, keeps its credentials 0600, and orbit agents lists it', async (t) => {
      const credentials = join(agentWorkDir, 'agent.credentials.json');
      t.ok(existsSync(credentials), 'WORK_DIR/agent.credentials.json exists');
      t.equal(mode(credentials), '0600');
      t.match(JSON.parse(readFileSync(credentials, 'utf8')), { principal: new RegExp(`^agent:${AGENT_HOSTNAME}`), cluster: 'orbit' }, 'an agent certificate of the cluster');
      const r = await runOrbit(t, ['agents', '--master', master], asAdmin);
      t.equal(r.code, 0, 'exits 0', output(r));
      const row = r.stdout.split('\n').find((l) => l.startsWith(`${agentId} `));
      t.match(row, new RegExp(`\\b${AGENT_HOSTNAME}\\s+active\\b`), 'a row for the agent, active');
    });

    await t.test('orbit run --process runs a task that names no user as nobody', async (t) => {
      const r = await runOrbit(t, ['run', '--master', master, '--process', '--', 'sh', '-c', 'id -u'], asAdmin);
      t.equal(r.code, 0, 'exits 0', output(r));
      t.equal(r.stdout, `${TASK_UID}\n`, `the task printed uid ${TASK_UID}`);
      t.match(r.stderr, /TASK_FINISHED/);
      const taskId = /^launching (\S+) on /m.exec(r.stderr)?.[1];
      if (!t.ok(taskId, 'the launched task id is printed')) return;
      const logs = await runOrbit(t, ['logs', taskId!, '--master', master], asAdmin);
      t.equal(logs.code, 0, 'orbit logs exits 0', output(logs));
      t.equal(logs.stdout, `${TASK_UID}\n`, "orbit logs shows the task's stdout");
    });

    await t.test('a restarted agent re-registers with the same id, with its kept certificate and no --join', async (t) => {
      agentProc.child.kill('SIGTERM');
      t.not(await within(agentProc.exited, STOP_TIMEOUT_MS), 'timed out', 'the agent stops on SIGTERM');
      agentProc = spawnOrbit(top, agentArgs, { raw: true });
      const again = await eventually('the agent to register again', () => {
        assertRunning(agentProc, 'the restarted orbit agent');
        return registeredAgentId(agentProc.stderr());
      }, START_TIMEOUT_MS);
      t.equal(again, agentId, 'the same agent id');
      const r = await runOrbit(t, ['agents', '--json', '--master', master], asAdmin);
      t.equal(r.code, 0, 'exits 0', output(r));
      const agents = JSON.parse(r.stdout) as AgentView[];
      t.same(agents.map((a) => [a.id, a.status]), [[agentId, 'active']], 'one agent, active, under its first id');
    });

    let revokedId = '';
    await t.test('join tokens: bad ones are refused, naming the problem; made, listed, revoked', async (t) => {
      const tokenId = (text: string): string => text.split('.')[1] ?? '';
      const joinWith = (joinToken: string | undefined, workDir = tempDir(t)) =>
        runOrbit(t, [
          'agent', '--master', master, '--work-dir', workDir, '--http-port', '0', '--containerizers', 'process',
          '--resources', 'cpus:1;mem:64', '--log-level', 'warn', ...(joinToken === undefined ? [] : ['--join', joinToken]),
        ], { raw: true, timeoutMs: REFUSED_TIMEOUT_MS });
      const wrongPin = `${token.slice(0, -4)}${token.endsWith('0000') ? '1111' : '0000'}`;
      const cases: { name: string; token: string | undefined; says: (string | RegExp)[] }[] = [
        { name: 'a token that is not one', token: 'nope', says: ["'nope' is not a join token", 'ojt1.ID.SECRET.CA-HASH'] },
        { name: "a token whose CA hash is not the master's", token: wrongPin, says: ['presents no CA matching the join token\'s hash'] },
        { name: 'no --join and no certificate', token: undefined, says: ['no certificate in', '--join TOKEN'] },
      ];
      for (const c of cases) {
        await t.test(c.name, async (t) => {
          const workDir = tempDir(t);
          const r = await joinWith(c.token, workDir);
          t.equal(r.code, 1, 'exits 1', output(r));
          for (const s of c.says) t.match(r.stderr, s, `stderr says ${String(s)}`);
          t.notMatch(r.stderr, STACK_FRAME, 'no stack trace');
          t.notOk(existsSync(join(workDir, 'agent.credentials.json')), 'no credentials are kept');
        });
      }

      const made = await runOrbit(t, ['token', 'create', '--ttl', '60', '--description', 'e2e-revoke', '--master', master], asAdmin);
      t.equal(made.code, 0, 'orbit token create exits 0', output(made));
      const newToken = made.stdout.trim();
      t.match(newToken, /^ojt1\.[a-z0-9]{6}\.[a-z0-9]{24}\.[0-9a-f]{64}$/, 'stdout is the token alone');
      t.equal(newToken.split('.')[3], token.split('.')[3], 'it pins the same CA');
      revokedId = tokenId(newToken);
      t.match(made.stderr, `join token ${revokedId} expires`);

      const listed = await runOrbit(t, ['token', 'list', '--master', master], asAdmin);
      t.equal(listed.code, 0, 'orbit token list exits 0', output(listed));
      t.match(listed.stdout.split('\n').find((l) => l.startsWith(`${revokedId} `)), /e2e-revoke$/, 'a row for the new token with its description');
      t.ok(listed.stdout.split('\n').some((l) => l.startsWith(`${tokenId(token)} `)), 'and the first token');
      t.notMatch(listed.stdout, newToken.split('.')[2]!, 'never the secret');

      const revoked = await runOrbit(t, ['token', 'revoke', revokedId, '--master', master], asAdmin);
      t.equal(revoked.code, 0, 'orbit token revoke exits 0', output(revoked));
      t.match(revoked.stdout, `join token ${revokedId} revoked`);
      const after = await runOrbit(t, ['token', 'list', '--master', master], asAdmin);
      t.notOk(after.stdout.split('\n').some((l) => l.startsWith(`${revokedId} `)), 'orbit token list no longer shows it');

      const refused = await joinWith(newToken);
      t.equal(refused.code, 1, 'an agent joining with the revoked token exits 1', output(refused));
      t.match(refused.stderr, `the master refused to join this agent: join token ${revokedId} is unknown or revoked`);
      t.notMatch(refused.stderr, STACK_FRAME, 'no stack trace');
    });

    const alice = join(files, 'alice.credentials.json');
    await t.test('orbit cert issue writes 0600 credentials, through the master or from its work dir, and never overwrites', async (t) => {
      const r = await runOrbit(t, ['cert', 'issue', 'framework', 'alice', '--out', alice, '--master', master], asAdmin);
      t.equal(r.code, 0, 'exits 0', output(r));
      t.match(r.stdout, `wrote ${alice}: framework:alice of cluster orbit`);
      t.equal(mode(alice), '0600');
      const written = readFileSync(alice, 'utf8');

      const again = await runOrbit(t, ['cert', 'issue', 'framework', 'alice', '--out', alice, '--master', master], asAdmin);
      t.equal(again.code, 1, 'issuing to an existing file exits 1', output(again));
      t.match(again.stderr, `${alice} exists`);
      t.equal(readFileSync(alice, 'utf8'), written, 'the file is unchanged');

      // On the master host, from its work dir: no master dialled (ORBIT_MASTER names a dead port).
      const bob = join(files, 'bob.credentials.json');
      const offline = await runOrbit(t, ['cert', 'issue', 'operator', 'bob', '--work-dir', masterWorkDir, '--out', bob], { env: { ORBIT_MASTER: `127.0.0.1:${deadPort}`, ORBIT_CREDENTIALS: undefined } });
      t.equal(offline.code, 0, 'orbit cert issue --work-dir exits 0', output(offline));
      t.match(offline.stdout, `wrote ${bob}: operator:bob of cluster orbit`);
      t.equal(mode(bob), '0600');
      const asBob = await runOrbit(t, ['--credentials', bob, 'agents', '--master', master]);
      t.equal(asBob.code, 0, 'the master accepts operator:bob', output(asBob));
      t.match(asBob.stdout, agentId);
    });

    await t.test("a framework principal is refused an operator's lever in one line, and nothing happens", async (t) => {
      const r = await runOrbit(t, ['--credentials', alice, 'agent', 'drain', agentId, '--master', master]);
      t.equal(r.code, 1, 'exits 1', output(r));
      t.match(r.stderr, `framework:alice may not drain agent '${agentId}'`);
      t.equal(lines(r.stderr).length, 1, 'one line');
      t.notMatch(r.stderr, STACK_FRAME, 'no stack trace');
      const agents = await runOrbit(t, ['agents', '--json', '--master', master], asAdmin);
      t.same((JSON.parse(agents.stdout) as AgentView[]).map((a) => a.status), ['active'], 'the agent is not draining');
    });

    await t.test("credentials of another cluster's CA are refused in one line", async (t) => {
      const r = await runOrbit(t, ['--credentials', OPERATOR_CREDENTIALS_FILE, 'agents', '--master', master], { timeoutMs: REFUSED_TIMEOUT_MS });
      t.equal(r.code, 1, 'exits 1', output(r));
      t.match(r.stderr, /^orbit: .*(cannot reach the master|certificate|UNAUTHENTICATED)/, 'says the master could not be verified, or refused the caller');
      t.equal(lines(r.stderr).length, 1, 'one line');
      t.notMatch(r.stderr, STACK_FRAME, 'no stack trace');
      t.equal(r.stdout, '', 'nothing on stdout');
    });

    await t.test('the policy file is enforced, and reloaded on SIGHUP', async (t) => {
      const runAs = (role: string, word: string) => runOrbit(t, ['--credentials', alice, 'run', '--master', master, '--role', role, '--process', '--', 'echo', word]);
      const deniedWeb = async (what: string) => {
        const r = await runAs('web', 'web');
        t.equal(r.code, 1, `${what}: framework:alice under role web exits 1`, output(r));
        t.match(r.stderr, "framework:alice may not register a framework under role 'web'", `${what}: the master says why`);
        t.notMatch(r.stderr, STACK_FRAME, 'no stack trace');
      };

      const analytics = await runAs('analytics', 'analytics');
      t.equal(analytics.code, 0, 'framework:alice runs a task under role analytics', output(analytics));
      t.match(analytics.stderr, /TASK_FINISHED/, 'the task ran');
      t.equal(analytics.stdout, 'analytics\n', "orbit run prints the task's output: framework:alice may read its own task's output");
      await deniedWeb('under the first policy');

      writeFileSync(policyFile, 'rules:\n  - allow: launch\n    principals: [framework:alice]\n');
      masterProc.child.kill('SIGHUP');
      await eventually('the master to log the broken policy', () => masterProc.stderr().includes('SIGHUP: the policy file has problems'), 10_000);
      assertRunning(masterProc, 'orbit master after SIGHUP with a broken policy');
      t.match(masterProc.stderr(), `${policyFile}:2: rule 1, field allow: unknown action 'launch'`, 'the error names the file, line, rule and field');
      const stillAnswers = await runOrbit(t, ['agents', '--master', master], asAdmin);
      t.equal(stillAnswers.code, 0, 'the master still answers orbit agents', output(stillAnswers));
      await deniedWeb('after a broken file, the policy in force is unchanged');

      writeFileSync(policyFile, policy(['analytics', 'web']));
      masterProc.child.kill('SIGHUP');
      await eventually('the master to reload the policy', () => masterProc.stderr().includes('SIGHUP: policy reloaded'), 10_000);
      const web = await runAs('web', 'web');
      t.equal(web.code, 0, 'after the fixed file, framework:alice runs a task under role web', output(web));
      t.match(web.stderr, /TASK_FINISHED/, 'the task ran');
      t.equal(web.stdout, 'web\n', "orbit run prints the task's output");
    });

    await t.test('orbit master refuses a policy file with a problem, naming the file, line, rule and field', async (t) => {
      const bad = join(files, 'bad.yaml');
      writeFileSync(bad, policy(['analytics']).replace('allow: [register_framework, run_task]', 'allow: [register_framework, launch]'));
      const r = await runOrbit(t, [
        'master', '--port', String(refusedPort), '--http-port', String(refusedHttpPort), '--work-dir', tempDir(t), '--policy', bad,
      ], { raw: true, timeoutMs: REFUSED_TIMEOUT_MS });
      t.equal(r.code, 1, 'exits 1', output(r));
      t.match(r.stderr, `${bad}:6: rule 2 'alice-roles', field allow, item 2: unknown action 'launch'`);
      t.equal(lines(r.stderr).length, 1, 'one line');
      t.notMatch(r.stderr, STACK_FRAME, 'no stack trace');
    });

    await t.test('orbit acl check: allowed exits 0, denied exits 3, each naming the rule', async (t) => {
      const cases: { name: string; args: string[]; code: number; says: string }[] = [
        { name: 'the default policy lets a framework register under its own role', args: ['framework:spark', 'register_framework', 'role=spark'], code: 0, says: 'allowed: default policy: a framework principal may register under its own role' },
        { name: 'the default policy keeps a framework out of other roles', args: ['framework:spark', 'register_framework', 'role=web'], code: 3, says: 'denied: default policy: a framework principal may register under its own role' },
        { name: 'the default policy lets operators drain agents', args: ['operator:ops', 'drain_agent', 'agent=host1'], code: 0, says: 'allowed: default policy: operators may do everything' },
        { name: 'a policy file allows by its rule', args: ['framework:alice', 'register_framework', 'role=analytics', '--policy', firstPolicyFile], code: 0, says: `allowed: rule 2 'alice-roles' in ${firstPolicyFile}` },
        { name: 'a policy file denies by default', args: ['framework:alice', 'register_framework', 'role=web', '--policy', firstPolicyFile], code: 3, says: `denied: no rule in ${firstPolicyFile} allows it (deny by default)` },
      ];
      for (const c of cases) {
        await t.test(c.name, async (t) => {
          const r = await runOrbit(t, ['acl', 'check', ...c.args], { timeoutMs: REFUSED_TIMEOUT_MS });
          t.equal(r.code, c.code, `exits ${c.code}`, output(r));
          t.equal(r.stdout.split('\n')[0]?.startsWith(c.says), true, `the first line says ${c.says}`, output(r));
        });
      }
      await t.test('a principal that is not KIND:NAME is a one-line error', async (t) => {
        const r = await runOrbit(t, ['acl', 'check', 'spark', 'register_framework', 'role=spark'], { timeoutMs: REFUSED_TIMEOUT_MS });
        t.equal(r.code, 1, 'exits 1', output(r));
        t.match(r.stderr, "'spark' is not kind:name");
        t.equal(lines(r.stderr).length, 1, 'one line');
        t.notMatch(r.stderr, STACK_FRAME, 'no stack trace');
      });
    });

    await t.test('--insecure: the master says so loudly, refuses --policy, and each side refuses the other', async (t) => {
      const insecureMaster = `127.0.0.1:${insecurePort}`;
      const insecureWorkDir = tempDir(t);
      const proc = spawnOrbit(t, [
        'master', '--insecure', '--port', String(insecurePort), '--http-port', String(insecureHttpPort), '--work-dir', insecureWorkDir, '--log-level', 'info',
      ], { raw: true });
      await eventually('orbit master --insecure to listen', () => {
        assertRunning(proc, 'orbit master --insecure');
        return proc.stdout().includes('listening');
      }, START_TIMEOUT_MS);
      t.match(proc.stderr(), /warn.*--insecure|--insecure.*NO TLS/i, 'a warning naming --insecure on stderr');
      t.notOk(existsSync(join(insecureWorkDir, 'security')), 'no CA is made');
      t.notMatch(proc.stdout(), 'join an agent', 'no join token is printed');

      const plain = await runOrbit(t, ['--insecure', 'agents', '--master', insecureMaster], { timeoutMs: REFUSED_TIMEOUT_MS });
      t.equal(plain.code, 0, 'orbit agents --insecure works against it', output(plain));
      t.match(plain.stderr, '--insecure', 'the CLI warns too');

      const mismatch = await runOrbit(t, ['agents', '--insecure', '--master', master], { timeoutMs: REFUSED_TIMEOUT_MS });
      t.equal(mismatch.code, 1, 'orbit agents --insecure against the TLS master exits 1', output(mismatch));
      t.match(mismatch.stderr, `cannot reach the master at ${master}`);
      t.notMatch(mismatch.stderr, STACK_FRAME, 'no stack trace');

      const withPolicy = await runOrbit(t, [
        'master', '--insecure', '--policy', firstPolicyFile, '--port', String(refusedPort), '--http-port', String(refusedHttpPort), '--work-dir', tempDir(t),
      ], { raw: true, timeoutMs: 10_000 });
      t.equal(withPolicy.code, 1, 'orbit master --insecure --policy exits 1', output(withPolicy));
      t.match(withPolicy.stderr, /--insecure.*--policy/, 'naming both flags');
      t.notMatch(withPolicy.stderr, STACK_FRAME, 'no stack trace');
    });

    await t.test('the audit log records the join, the denied lever and the token revoke', async (t) => {
      const firstTokenId = token.split('.')[1]!;
      const entries = await eventually('the audit lines', () => {
        const all = auditLog();
        return all.some((e) => e.action === 'subscribe' && e.result === 'denied') ? all : undefined;
      });
      t.ok(entries.every((e) => typeof e.time === 'string' && e.principal && e.action && typeof e.object === 'string' && e.result), 'every line has time, principal, action, object and result');
      t.ok(entries.some((e) => e.action === 'join' && e.result === 'allowed' && e.object.startsWith(`agent:${AGENT_HOSTNAME}`) && e.object.endsWith(`with token ${firstTokenId}`)), 'the join, with the agent and the token id');
      t.ok(entries.some((e) => e.action === 'join' && e.result === 'denied' && e.detail?.includes(`${revokedId} is unknown or revoked`)), 'the join refused with the revoked token');
      t.ok(entries.some((e) => e.action === 'revoke_token' && e.principal === 'operator:admin' && e.object === revokedId && e.result === 'allowed'), 'the revoke, by operator:admin');
      t.ok(entries.some((e) => e.action === 'drain_agent' && e.principal === 'framework:alice' && e.object === agentId && e.result === 'denied' && e.detail?.includes('may not')), 'the denied drain, by framework:alice');
      t.ok(entries.some((e) => e.action === 'subscribe' && e.principal === 'framework:alice' && e.result === 'denied'), "framework:alice's refused subscription");
      t.ok(entries.some((e) => e.action === 'issue_certificate' && e.object === 'framework:alice'), 'the certificate issued through the master');
      t.notOk(entries.some((e) => e.object === 'operator:bob'), 'nothing for the certificate signed from the work dir, without the master');
    });
  });
}
