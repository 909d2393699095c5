/**
 * What the master accepts, the agent can recover (issue 11, class 7). Random well-typed TaskInfos,
 * extreme values included, go through the wire as the master receives them; every one the
 * master's decode and accept planning let through is decoded by the agent, checkpointed, read back
 * from disk after a "restart" (a new Checkpoint on the same dir, strict), equal to what was
 * launched, adopted by a fresh task runner, and re-reported to a master that accepts it again.
 */
import t from 'tap';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpoint } from '../../src/agent/checkpoint.js';
import type { Containerizer, RecoveredContainer } from '../../src/agent/containerizer/containerizer.js';
import { TaskRunner } from '../../src/agent/task-runner.js';
import { ManualClock } from '../../src/common/clock.js';
import { frameworkInfoToProto, launchRefusal, taskFromProto, taskToProto } from '../../src/common/codec.js';
import { InvalidArgumentError } from '../../src/common/errors.js';
import { runTaskFromProto } from '../../src/common/message-codec.js';
import { silentLogger } from '../../src/common/logging.js';
import { orbitV1 } from '../../src/common/proto.js';
import { parseResources } from '../../src/common/resources.js';
import type { TaskSpec } from '../../src/common/tasks.js';
import type { CommandInfo } from '../../src/gen/orbit/v1/CommandInfo.js';
import type { HealthCheck } from '../../src/gen/orbit/v1/HealthCheck.js';
import type { Resource } from '../../src/gen/orbit/v1/Resource.js';
import type { RunTask__Output } from '../../src/gen/orbit/v1/RunTask.js';
import type { TaskInfo, TaskInfo__Output } from '../../src/gen/orbit/v1/TaskInfo.js';
import { planAccept } from '../../src/master/accept-plan.js';
import { frameworkInfo } from '../helpers/builders.js';

const FW = frameworkInfo({ id: 'fw-1', failoverTimeoutMs: 365 * 86_400_000 });
const AGENT = 'agent-1';
/** An offer nothing in range can outgrow. */
const POOL = parseResources('cpus:1000000000;mem:1000000000;disk:1000000000;gpus:1000000000;ports:[1-65535]');

// ---- arbitraries: well-typed, often extreme -------------------------------------------------------

/** Mostly values the master takes, sometimes ones it refuses: each field must be valid for a task to pass. */
const mostly = <T>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ weight: 30, arbitrary: valid }, { weight: 1, arbitrary: invalid });

/** Seconds: ordinary, at and just past the bounds, and what a double can hold that no bound wants. */
const seconds = mostly(
  fc.oneof(fc.double({ min: 0.1, max: 3_600, noNaN: true }), fc.constantFrom(0, -0, 0.1, 1, 3, 3_600)),
  fc.oneof(fc.constantFrom(0.0999, 3_600.0004, 86_400.01, 1e300, -1, NaN, Infinity, -Infinity), fc.double()),
);
const optionalSeconds = fc.option(seconds, { nil: undefined });
const text = mostly(fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 20 })), fc.constantFrom('', '..', '.', 'a/b', 'a\0b', 'é✓', 'x'.repeat(300), '\u001b'));
const id = mostly(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$/), text);
const envName = mostly(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/), text);

const resource: fc.Arbitrary<Resource> = fc.oneof(
  fc.record({
    name: fc.constantFrom('cpus', 'mem', 'disk', 'gpus'),
    type: fc.constant('SCALAR' as const),
    scalar: mostly(fc.oneof(fc.double({ min: 0, max: 1e9, noNaN: true }), fc.constantFrom(0.001, 1e9, -0)), fc.constantFrom(1e9 + 1, 1e308, NaN, -1)),
  }),
  fc.record({
    name: fc.constant('ports'),
    type: fc.constant('RANGES' as const),
    ranges: fc.array(fc.tuple(mostly(fc.integer({ min: 0, max: 65_500 }), fc.integer({ min: 65_536, max: 70_000 })), fc.integer({ min: 0, max: 20 })).map(([begin, n]) => ({ begin, end: begin + n })), { maxLength: 3 }),
  }),
);

const command: fc.Arbitrary<CommandInfo> = fc.record({
  shell: fc.boolean(),
  value: mostly(fc.constantFrom('true', 'sleep 1; echo "$A"'), text),
  arguments: fc.array(text, { maxLength: 3 }),
  environment: fc.uniqueArray(fc.record({ name: envName, value: fc.oneof(text, fc.string({ maxLength: 2_000 })) }), { maxLength: 4, selector: (e) => e.name }),
  user: mostly(fc.constantFrom('', 'root', 'nobody', '1000:1000'), fc.constant('../root')),
});

const healthCheck: fc.Arbitrary<HealthCheck> = fc.record({
  type: mostly(fc.constantFrom('HEALTH_COMMAND' as const, 'HEALTH_HTTP' as const, 'HEALTH_TCP' as const), fc.constantFrom('HEALTH_CHECK_TYPE_UNKNOWN' as const, 7 as never)),
  command,
  port: mostly(fc.integer({ min: 1, max: 65_535 }), fc.constantFrom(0, 70_000)),
  path: mostly(fc.constantFrom('', '/', '/health?x=1'), fc.constant('/a b')),
  delaySeconds: optionalSeconds,
  intervalSeconds: seconds,
  timeoutSeconds: seconds,
  consecutiveFailures: mostly(fc.integer({ min: 0, max: 1_000 }), fc.constantFrom(1_001, 4_000_000_000)),
  gracePeriodSeconds: optionalSeconds,
}, { requiredKeys: ['type', 'port', 'path', 'intervalSeconds', 'timeoutSeconds', 'consecutiveFailures'] });

const taskInfo: fc.Arbitrary<TaskInfo> = fc.record({
  taskId: id,
  name: fc.oneof(fc.constant(''), text),
  agentId: mostly(fc.constantFrom('', AGENT), fc.constant('agent-2')),
  resources: fc.tuple(mostly(fc.constant<Resource[]>([{ name: 'cpus', type: 'SCALAR', scalar: 0.1 }]), fc.constant<Resource[]>([])), fc.array(resource, { maxLength: 4 })).map(([a, b]) => [...a, ...b]),
  command,
  container: fc.record({
    type: mostly(fc.constantFrom('PROCESS' as const, 'DOCKER' as const, 'SIMULATED' as const), fc.constantFrom('CONTAINER_TYPE_UNKNOWN' as const, 9 as never)),
    image: mostly(fc.constantFrom('alpine:3', 'registry:5000/a/b@sha256:00'), fc.constantFrom('', 'bad image')),
    forcePull: fc.boolean(),
  }),
  healthCheck: fc.option(healthCheck, { nil: undefined }),
  killGraceSeconds: optionalSeconds,
  labels: fc.uniqueArray(fc.record({ key: fc.oneof(id, fc.constant('__proto__')), value: text }), { maxLength: 4, selector: (l) => l.key }),
}, { requiredKeys: ['taskId', 'name', 'agentId', 'resources', 'command', 'container', 'labels'] });

// ---- the wire and the agent -----------------------------------------------------------------------

const v1 = orbitV1();
type Method = { requestSerialize(value: unknown): Buffer; requestDeserialize(bytes: Buffer): unknown };
const accept = v1.Scheduler.service.Accept as unknown as Method;
/** A TaskInfo as the master's Accept handler receives it. */
function overTheWire(task: TaskInfo): TaskInfo__Output {
  const decoded = accept.requestDeserialize(accept.requestSerialize({ operations: [{ launch: { tasks: [task] } }] })) as { operations: { launch: { tasks: TaskInfo__Output[] } }[] };
  return decoded.operations[0]!.launch.tasks[0]!;
}

/** What the master would launch from this message, or undefined when it refuses it (call or task). */
function masterLaunches(m: TaskInfo__Output): TaskSpec | undefined {
  let spec: TaskSpec;
  try {
    spec = taskFromProto(m, 'task');
  } catch (err) {
    if (err instanceof InvalidArgumentError) return undefined;
    throw err;
  }
  const refused = launchRefusal(m, 'task');
  const plan = planAccept(POOL, [{ type: 'LAUNCH', tasks: [spec], ...(refused ? { refused: new Map([[0, refused]]) } : {}) }], {
    agentId: AGENT,
    agentContainerizers: ['docker', 'process', 'simulated'],
    role: '*',
    isTaskIdTaken: () => false,
  });
  return plan.launch[0];
}

/** The run_task command the agent gets for a launch, as it decodes it. */
function runTaskOverTheWire(spec: TaskSpec): RunTask__Output {
  const m = overTheWire(taskToProto(spec));
  return { framework: { ...frameworkInfoToProto(FW), labels: [], roles: FW.roles } as RunTask__Output['framework'], task: m, acceptedAt: 0 };
}

const fakeContainerizer = (kind: 'docker' | 'process' | 'simulated'): Containerizer => ({
  kind,
  launch: async (request) => ({ containerId: request.containerId, exited: new Promise(() => {}) }),
  kill: async () => {},
  recover: async () => new Map(),
  close: async () => {},
});

t.test('any launch the master accepts survives the agent\'s checkpoint, a restart and recovery', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orbit-roundtrip-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let runs = 0;
  let accepted = 0;
  await fc.assert(fc.asyncProperty(taskInfo, async (info) => {
    runs++;
    const launched = masterLaunches(overTheWire(info));
    if (!launched) return;
    accepted++;
    // The agent decodes the run_task with the same rules and gets the same task.
    const decoded = runTaskFromProto(runTaskOverTheWire(launched));
    assert.ok(decoded.type === 'runTask', `the agent refused what the master launched: ${decoded.type === 'runTask' ? '' : decoded.message}`);
    assert.deepStrictEqual(decoded.task, launched);

    // Checkpointed before the launch, then read back by a restarted agent (strict: a refusal throws).
    const workDir = mkdtempSync(join(dir, 'agent-'));
    const before = new Checkpoint(workDir);
    before.saveAgentId(AGENT);
    before.saveFramework(decoded.framework);
    before.saveTask({ frameworkId: FW.id, spec: decoded.task, containerId: 'ctr-1', sandboxDir: join(workDir, 'sandboxes', FW.id, decoded.task.taskId, 'ctr-1'), startedAt: 1_700_000_000_000 });
    const loaded = new Checkpoint(workDir).load(true);
    assert.equal(loaded.tasks.length, 1);
    const recovered = loaded.tasks[0]!;
    assert.deepStrictEqual(recovered.task.spec, launched, 'the spec read back is the one launched');

    // Recovery adopts it, its container still running.
    const runner = new TaskRunner({
      workDir,
      clock: new ManualClock(),
      logger: silentLogger,
      containerizers: new Map((['docker', 'process', 'simulated'] as const).map((k) => [k, fakeContainerizer(k)])),
      agentId: () => AGENT,
      emit: () => {},
    });
    const running: RecoveredContainer = { status: 'running', container: { containerId: 'ctr-1', exited: new Promise(() => {}) } };
    await runner.adopt({ ...recovered, state: 'RUNNING' }, running);
    assert.ok(runner.isActive(FW.id, launched.taskId), 'the task is active again');
    runner.stop();

    // And re-reported on re-registration, the master takes it back as it is.
    assert.deepStrictEqual(taskFromProto(overTheWire(taskToProto(recovered.task.spec)), 'reregister.tasks[0].task'), launched);
    rmSync(workDir, { recursive: true, force: true });
  }), { numRuns: 300 });
  t.ok(accepted >= runs / 10, `not vacuous: the master accepted ${accepted} of ${runs} random tasks`);
});

t.test('the extreme values the master accepts, each at its bound, survive the same way', async (t) => {
  const dir = t.testdir();
  const extreme = taskToProto({
    taskId: 'x'.repeat(200),
    name: 'n'.repeat(256),
    agentId: AGENT,
    resources: parseResources('cpus:1000000000;mem:0.001;ports:[1-1,65535-65535]'),
    command: { shell: true, value: 'sleep 1', arguments: [], env: { BIG: 'v'.repeat(60_000) }, user: 'root' },
    container: { kind: 'process' },
    healthCheck: { type: 'command', command: { shell: true, value: 'true', arguments: [], env: {} }, delayMs: 86_400_000, intervalMs: 86_400_000, timeoutMs: 3_600_000, consecutiveFailures: 1_000, gracePeriodMs: 86_400_000 },
    killGraceMs: 3_600_000,
    labels: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v'.repeat(1_024)])),
  });
  const launched = masterLaunches(overTheWire(extreme));
  t.ok(launched, 'the master accepts it');
  const cp = new Checkpoint(dir);
  cp.saveFramework(FW);
  cp.saveTask({ frameworkId: FW.id, spec: launched!, containerId: 'ctr-1', sandboxDir: '/s', startedAt: 1 });
  t.strictSame(new Checkpoint(dir).load(true).tasks[0]?.task.spec, launched, 'read back whole');
});
