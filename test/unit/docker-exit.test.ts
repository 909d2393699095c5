import t from 'tap';
import { exitMessage } from '../../src/agent/containerizer/docker-exit.js';

const MIB = 1024 * 1024;

t.test('an OOM kill names the limit when there is one', async (t) => {
  t.equal(exitMessage(137, true, false, 32 * MIB), 'killed: out of memory (limit 32 MiB)');
  t.equal(exitMessage(137, true, false, 1.25 * MIB), 'killed: out of memory (limit 1.3 MiB)');
  t.equal(exitMessage(137, true, false, 0), 'killed: out of memory');
});

t.test('plain exits and exits by signal', async (t) => {
  t.equal(exitMessage(0, false, false, 0), 'exited with code 0');
  t.equal(exitMessage(3, false, false, 32 * MIB), 'exited with code 3');
  t.equal(exitMessage(143, false, false, 0), 'exited with code 143 (SIGTERM)');
  t.equal(exitMessage(137, false, false, 0), 'exited with code 137 (SIGKILL)');
  t.equal(exitMessage(200, false, false, 0), 'exited with code 200', 'no signal name for an unknown signal');
  t.equal(exitMessage(null, false, false, 0), 'exited');
});

t.test('a kill Orbit sent says so', async (t) => {
  t.equal(exitMessage(137, false, true, 32 * MIB), 'killed by SIGKILL');
  t.equal(exitMessage(143, false, true, 0), 'killed by SIGTERM');
  t.equal(exitMessage(1, false, true, 0), 'killed; exited with code 1');
  t.equal(exitMessage(null, false, true, 0), 'killed');
});

t.test('a SIGKILL Orbit did not send, under a memory limit, names the limit', async (t) => {
  // Docker can miss an OOM kill in a container's first milliseconds; the limit is the likely cause.
  t.equal(exitMessage(137, false, false, 32 * MIB), 'exited with code 137 (SIGKILL, not sent by Orbit; the memory limit is 32 MiB)');
  t.equal(exitMessage(143, false, false, 32 * MIB), 'exited with code 143 (SIGTERM)', 'only SIGKILL is the OOM killer\'s signal');
});
