// A fault in a framework's API handler is answered 500 and logged to the framework's logger.
import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/common/logging.js';
import { startJobsApi } from '../../src/frameworks/jobs/jobs-api.js';
import type { JobsFramework } from '../../src/frameworks/jobs/jobs-framework.js';
import { startServicesApi } from '../../src/frameworks/services/services-api.js';
import type { ServicesFramework } from '../../src/frameworks/services/services-framework.js';

/** A logger that keeps what it wrote. */
function capturingLogger(): { logger: ReturnType<typeof createLogger>; text(): string } {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { logger: createLogger('framework', 'info', { pretty: false, destination }), text: () => text };
}

const broken = (): never => {
  throw new Error('the books do not add up');
};

t.test("a handler's fault is a 500, logged where the framework logs", async (t) => {
  const cases: [string, (log: ReturnType<typeof createLogger>) => ReturnType<typeof startServicesApi>, string][] = [
    ['services', (logger) => startServicesApi({ logger, list: broken } as unknown as ServicesFramework, '127.0.0.1', 0), '/v1/apps'],
    ['jobs', (logger) => startJobsApi({ logger, listRuns: broken } as unknown as JobsFramework, '127.0.0.1', 0), '/v1/runs'],
  ];
  for (const [kind, start, path] of cases) {
    const log = capturingLogger();
    const api = await start(log.logger);
    t.teardown(() => api.close());
    const res = await fetch(`${api.url}${path}`);
    t.equal(res.status, 500, `${kind}: answered 500`);
    t.match(log.text(), /"msg":"API handler failed"/, `${kind}: logged`);
    t.match(log.text(), /the books do not add up/, `${kind}: with the fault`);
  }
});
