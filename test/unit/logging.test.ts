// Structured logs: JSON lines with component and ids for machines, readable lines for people.
import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger, prettyMessage, wantsPrettyLogs, withIds } from '../../src/common/logging.js';

/** A destination that keeps what was written. */
function sink(): { stream: Writable; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

t.test('JSON lines carry the component and the ids the caller gives', async (t) => {
  const out = sink();
  const log = createLogger('master', 'info', { pretty: false, destination: out.stream });
  log.info({ agentId: 'agent-1', taskId: 't1' }, 'task launched');
  withIds(log, { frameworkId: 'fw-1', taskId: undefined }).warn('framework disconnected');
  log.debug('not at info');
  await new Promise((r) => setImmediate(r));
  const lines = out.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(lines.length, 2, 'debug is below the level');
  t.match(lines[0], { component: 'master', agentId: 'agent-1', taskId: 't1', msg: 'task launched', level: 30 });
  t.match(lines[1], { component: 'master', frameworkId: 'fw-1', msg: 'framework disconnected', level: 40 });
  t.notOk('taskId' in lines[1]!, 'an undefined id is left out');
});

t.test('pretty lines put the component and ids up front', async (t) => {
  const out = sink();
  const log = createLogger('agent', 'info', { pretty: true, colorize: false, destination: out.stream });
  log.info({ agentId: 'agent-1', taskId: 't1', cpus: 1 }, 'task launched');
  await new Promise((r) => setImmediate(r));
  const line = out.text().trim();
  t.match(line, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: agent agent=agent-1 task=t1: task launched \{"cpus":1\}$/);
  t.notMatch(line, /"component"|"pid"|"hostname"/, 'no noise');
});

t.test('the format: $ORBIT_LOG_FORMAT decides, else whether stderr is a terminal', async (t) => {
  t.equal(wantsPrettyLogs({}, true), true);
  t.equal(wantsPrettyLogs({}, false), false);
  t.equal(wantsPrettyLogs({ ORBIT_LOG_FORMAT: 'json' }, true), false);
  t.equal(wantsPrettyLogs({ ORBIT_LOG_FORMAT: 'PRETTY' }, false), true);
  t.equal(prettyMessage({ component: 'master', msg: 'started' }, 'msg'), 'master: started');
  t.equal(prettyMessage({ component: 'sdk', frameworkId: 'fw-1' }, 'msg'), 'sdk framework=fw-1');
});
