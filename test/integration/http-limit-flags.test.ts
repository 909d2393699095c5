/** The HTTP limits are flags of `orbit master` and `orbit agent`: bounded, and applied. */
import t from 'tap';
import { spawnMaster } from '../helpers/agent-cli.js';
import { cliBuildProblem, runOrbit } from '../helpers/cli.js';
import { tempDir } from '../helpers/cluster.js';
import { rawExchange } from '../helpers/raw-http.js';
import { OPERATOR } from '../helpers/pki.js';

const problem = cliBuildProblem();
if (problem) t.fail(problem);

t.test('an HTTP limit out of its range is a usage error naming the flag, for master and agent alike', async (t) => {
  const cases: [string, string[], RegExp][] = [
    ['a headers timeout of 0', ['--http-headers-timeout', '0'], /--http-headers-timeout must be from 0\.1 to 300 seconds, got 0/],
    ['a request timeout of two hours', ['--http-request-timeout', '7200'], /--http-request-timeout must be from 0\.1 to 3600 seconds, got 7200/],
    ['a header size of 10 bytes', ['--http-max-header-bytes', '10'], /--http-max-header-bytes must be from 1024 to 1048576 bytes, got 10/],
    ['a request timeout shorter than the (default) headers timeout', ['--http-request-timeout', '5'], /--http-headers-timeout \(10 s\) must not be longer than --http-request-timeout \(5 s\)/],
  ];
  for (const [what, flags, message] of cases) {
    const daemons: [string, string[]][] = [
      ['master', ['master', '--work-dir', tempDir(t), '--port', '0', '--http-port', '0']],
      ['agent', ['agent', '--work-dir', tempDir(t), '--http-port', '0', '--master', '127.0.0.1:1', '--containerizers', 'process']],
    ];
    for (const [daemon, args] of daemons) {
      const result = await runOrbit(t, [...args, ...flags], { timeoutMs: 20_000 });
      t.equal(result.code, 1, `${daemon}, ${what}: exits 1`);
      t.match(result.stderr, message, `${daemon}, ${what}: names the flag and its range`);
    }
  }
});

t.test("the master's HTTP port closes a connection that sends no headers after --http-headers-timeout", async (t) => {
  const { httpPort } = await spawnMaster(t, { flags: ['--http-headers-timeout', '0.3', '--http-request-timeout', '0.6'] });
  const outcome = await rawExchange(httpPort, 'GET /health HTTP/1.1\r\nHost: x\r\n', { timeoutMs: 5_000, tls: OPERATOR });
  t.equal(outcome.kind === 'response' && outcome.response.status, 408, 'answered 408 well before the 10 s default');
});
