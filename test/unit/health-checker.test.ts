// The health checker's rules (a pure function, table-driven) and its timing on a ManualClock.
import t from 'tap';
import { ManualClock } from '../../src/common/clock.js';
import type { HealthCheckSpec } from '../../src/common/tasks.js';
import { HealthChecker, INITIAL_HEALTH, recordResult, type HealthState, type ProbeResult } from '../../src/agent/health/health-checker.js';

const START = 1_700_000_000_000;

const spec = (overrides: Partial<HealthCheckSpec> = {}): HealthCheckSpec => ({
  type: 'tcp',
  port: 1,
  delayMs: 1000,
  intervalMs: 500,
  timeoutMs: 300,
  consecutiveFailures: 3,
  gracePeriodMs: 0,
  ...overrides,
});

/** Lets promise callbacks (a resolved probe, the checker's awaits) run. */
const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

t.test('recordResult', async (t) => {
  const healthy: HealthState = { healthy: true, consecutiveFailures: 0, passedOnce: true };
  const failing = (n: number): HealthState => ({ healthy: false, consecutiveFailures: n, passedOnce: true });
  const cases: Array<[string, HealthState, boolean, Partial<HealthCheckSpec>, number, { healthy: boolean | undefined; changed: boolean; kill: boolean; failures: number }]> = [
    ['a first success is a change to healthy', INITIAL_HEALTH, true, {}, 0, { healthy: true, changed: true, kill: false, failures: 0 }],
    ['a second success changes nothing', healthy, true, {}, 0, { healthy: true, changed: false, kill: false, failures: 0 }],
    ['a first failure is a change to unhealthy', INITIAL_HEALTH, false, {}, 0, { healthy: false, changed: true, kill: false, failures: 1 }],
    ['a failure after success flips to unhealthy', healthy, false, {}, 0, { healthy: false, changed: true, kill: false, failures: 1 }],
    ['a success after failures flips back and resets the count', failing(2), true, {}, 0, { healthy: true, changed: true, kill: false, failures: 0 }],
    ['the last allowed failure asks for a kill', failing(2), false, {}, 0, { healthy: false, changed: false, kill: true, failures: 3 }],
    ['one allowed failure kills at the first', INITIAL_HEALTH, false, { consecutiveFailures: 1 }, 0, { healthy: false, changed: true, kill: true, failures: 1 }],
    ['a failure within the grace period does not count', INITIAL_HEALTH, false, { gracePeriodMs: 5000 }, 4999, { healthy: undefined, changed: false, kill: false, failures: 0 }],
    ['a failure after the grace period counts', INITIAL_HEALTH, false, { gracePeriodMs: 5000 }, 5000, { healthy: false, changed: true, kill: false, failures: 1 }],
    ['after a success, the grace period no longer applies', healthy, false, { gracePeriodMs: 5000 }, 10, { healthy: false, changed: true, kill: false, failures: 1 }],
  ];
  for (const [name, state, ok, overrides, sinceStart, want] of cases) {
    const verdict = recordResult(state, ok, spec(overrides), START, START + sinceStart);
    t.strictSame(
      { healthy: verdict.state.healthy, changed: verdict.changed, kill: verdict.kill, failures: verdict.state.consecutiveFailures },
      want,
      name,
    );
  }
});

/** A checker on a manual clock whose probe answers from `answers` (the last one repeats). */
function setup(t: { teardown(fn: () => unknown): void }, s: HealthCheckSpec, answers: Array<boolean | 'hang'>, healthy?: boolean) {
  const clock = new ManualClock(START);
  const probes: number[] = [];
  const changes: boolean[] = [];
  const kills: string[] = [];
  const aborted: number[] = [];
  const checker = new HealthChecker({
    spec: s,
    clock,
    startedAt: START,
    ...(healthy !== undefined ? { healthy } : {}),
    probe: (signal) => {
      probes.push(clock.now() - START);
      const answer = answers[Math.min(probes.length - 1, answers.length - 1)];
      if (answer === 'hang') {
        return new Promise<ProbeResult>((resolve) => signal.addEventListener('abort', () => {
          aborted.push(clock.now() - START);
          resolve({ ok: false, message: 'aborted' });
        }));
      }
      return Promise.resolve({ ok: answer === true, message: answer ? 'up' : 'down' });
    },
    onHealthChange: (healthy) => changes.push(healthy),
    onUnhealthy: (message) => kills.push(message),
  });
  t.teardown(() => checker.stop());
  /** Advances the clock 1 ms at a time, letting probe results land in between. */
  const advance = async (ms: number, step = 1) => {
    for (let done = 0; done < ms; done += step) {
      clock.advance(Math.min(step, ms - done));
      await settle();
    }
  };
  return { clock, checker, probes, changes, kills, aborted, advance };
}

t.test('the first check runs after the delay, the next ones an interval after each ends', async (t) => {
  const { checker, probes, advance } = setup(t, spec(), [true]);
  checker.start();
  await advance(999);
  t.strictSame(probes, [], 'nothing before the delay');
  await advance(2001);
  t.strictSame(probes, [1000, 1500, 2000, 2500, 3000]);
});

t.test('health is reported on the first result and on every flip, not on repeats', async (t) => {
  const { checker, changes, advance } = setup(t, spec({ consecutiveFailures: 10 }), [true, true, false, false, true, true]);
  checker.start();
  await advance(1000 + 5 * 500);
  t.strictSame(changes, [true, false, true]);
});

t.test('consecutive failures end the checks and ask for a kill, once', async (t) => {
  const { checker, probes, changes, kills, advance } = setup(t, spec({ consecutiveFailures: 3 }), [false]);
  checker.start();
  await advance(5000);
  t.strictSame(probes, [1000, 1500, 2000], 'three checks, then no more');
  t.strictSame(changes, [false], 'unhealthy once');
  t.equal(kills.length, 1);
  t.match(kills[0], /3 consecutive health check failures; last: down/);
});

t.test('a check that does not answer within its timeout is aborted and counts as a failure', async (t) => {
  const { checker, probes, aborted, changes, advance } = setup(t, spec({ consecutiveFailures: 5 }), ['hang']);
  checker.start();
  await advance(1000 + 300 + 500 + 300);
  t.strictSame(probes, [1000, 1800], 'the next check starts an interval after the timeout');
  t.strictSame(aborted, [1300, 2100], 'each is aborted at its timeout');
  t.strictSame(changes, [false]);
});

t.test('failures during the grace period are ignored', async (t) => {
  const { checker, changes, kills, advance } = setup(t, spec({ gracePeriodMs: 2000, consecutiveFailures: 2 }), [false, false, false, false]);
  checker.start();
  // Checks at 1000 and 1500 fail within the grace period; those at 2000 and 2500 count.
  await advance(2499);
  t.strictSame(changes, [false], 'unhealthy from the first failure after the grace period');
  t.equal(kills.length, 0);
  await advance(1);
  t.equal(kills.length, 1, 'killed at the second failure that counts');
});

t.test('after the first success, the grace period no longer protects failures', async (t) => {
  const { checker, changes, advance } = setup(t, spec({ gracePeriodMs: 5000, consecutiveFailures: 5 }), [false, true, false]);
  checker.start();
  // 1000: fails in grace (ignored); 1500: passes; 2000: fails, and counts though still in grace.
  await advance(2000);
  t.strictSame(changes, [true, false]);
});

t.test('stop() ends the checks and drops a result in flight', async (t) => {
  const { checker, probes, changes, advance } = setup(t, spec(), ['hang']);
  checker.start();
  await advance(1100);
  checker.stop();
  await advance(3000);
  t.strictSame(probes, [1000]);
  t.strictSame(changes, [], 'the aborted check reported nothing');
});

t.test('a checker that knows the health from before a restart reports only a change from it', async (t) => {
  const { checker, changes, advance } = setup(t, spec({ consecutiveFailures: 5 }), [true, true, false], true);
  checker.start();
  await advance(2000);
  t.strictSame(changes, [false], 'healthy again is no news; the flip to unhealthy is');
});
