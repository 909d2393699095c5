/**
 * Byte-level fuzzing of the gRPC surface (issue 11): random byte strings and mangled valid
 * encodings (cut short, bits flipped, bogus length prefixes, huge varints, spliced bytes) as the
 * request body of every method of every master service, sent to a live `orbit master` process;
 * and as master messages from a fake master to a live `orbit agent` process. Afterwards neither
 * process has died, every call ended with a status in time, and a well-behaved framework still
 * launches a task. The agents run simulated tasks only, and a message that would carry a health
 * check command is never sent, so nothing made of random bytes is ever executed on this machine.
 * FUZZ_SEED=n replays a run.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';
import { orbitV1 } from '../../src/common/proto.js';
import { agentProcesses, assertRunning, spawnMaster } from '../helpers/agent-cli.js';
import { cliBuildProblem } from '../helpers/cli.js';
import { eventually } from '../helpers/cluster.js';
import { launchOneTask } from '../helpers/well-behaved.js';
import { testChannel, testServerCredentials } from '../helpers/pki.js';

const SEED = Number(process.env['FUZZ_SEED'] ?? Date.now() % 2 ** 31);
const RUNS_PER_METHOD = 60;
/** Undecodable master messages sent to the agent, one per stream (each ends it). */
const UNDECODABLE_BODIES = 20;
const CALL_DEADLINE_MS = 5_000;
const identity = (b: Buffer): Buffer => b;

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => fileURLToPath(new URL(`../../proto/${target}`, import.meta.url));
root.loadSync(['orbit/v1/agent.proto', 'orbit/v1/scheduler.proto', 'orbit/v1/operator.proto']);
root.resolveAll();

const SCALARS: Record<string, unknown> = {
  double: 1.5, float: 1.5, int32: -1, uint32: 7, sint32: -3, fixed32: 9, sfixed32: -9,
  int64: '-12345', uint64: '12345', sint64: '-5', fixed64: '5', sfixed64: '-5', bool: true, string: 'fuzz', bytes: Buffer.from('fuzz'),
};

/** A message of `type` with every field set (the first member of each oneof; no health check), three deep. */
function example(type: protobuf.Type, depth = 0): Record<string, unknown> {
  const later = new Set(type.oneofsArray.filter((o) => o.fieldsArray.length > 1).flatMap((o) => o.fieldsArray.slice(1).map((f) => f.name)));
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    if (later.has(field.name) || field.name === 'healthCheck') continue;
    const resolved = field.resolvedType;
    const value = resolved instanceof protobuf.Type ? (depth < 3 ? example(resolved, depth + 1) : undefined)
      : resolved instanceof protobuf.Enum ? Object.keys(resolved.values)[1]
      : SCALARS[field.type];
    if (value !== undefined) out[field.name] = field.repeated ? [value, value] : value;
  }
  return out;
}

/** Valid encodings of `type`: one per member of its oneof (or the one example when it has none). */
function validEncodings(type: protobuf.Type): Buffer[] {
  const base = example(type);
  const oneof = type.oneofsArray.find((o) => o.fieldsArray.length > 1);
  const variants = !oneof ? [base] : oneof.fieldsArray.map((member) => {
    const variant: Record<string, unknown> = { ...base };
    for (const f of oneof.fieldsArray) delete variant[f.name];
    variant[member.name] = example(member.resolvedType as protobuf.Type, 1);
    return variant;
  });
  return variants.map((v) => Buffer.from(type.encode(type.fromObject(v)).finish()));
}

type Mutation =
  | { kind: 'cut'; at: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'overwrite'; at: number; bytes: number[] }
  | { kind: 'splice'; at: number; bytes: Uint8Array };

/** Length prefixes that lie (2 GiB, 2^32 + 3, 2^35) and varints too long for any reader. */
const BOGUS = [[0x80, 0x80, 0x80, 0x80, 0x08], [0x83, 0x80, 0x80, 0x80, 0x10], [0x80, 0x80, 0x80, 0x80, 0x80, 0x01], Array(11).fill(0xff), [...Array(9).fill(0xff), 0x7f]];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.constantFrom(...BOGUS) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.oneof(fc.uint8Array({ maxLength: 12 }), fc.constantFrom(...BOGUS.map((b) => Uint8Array.from(b)))) }),
);

function mutate(bytes: Buffer, m: Mutation): Buffer {
  const at = m.at % (bytes.length + 1);
  switch (m.kind) {
    case 'cut':
      return bytes.subarray(0, at);
    case 'flip': {
      if (bytes.length === 0) return bytes;
      const out = Buffer.from(bytes);
      out[at % bytes.length]! ^= 1 << m.bit;
      return out;
    }
    case 'overwrite':
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(m.bytes), bytes.subarray(at + m.bytes.length)]);
    case 'splice':
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(m.bytes), bytes.subarray(at)]);
  }
}

/** Random bytes, or a valid encoding of `type` mangled one to three times. */
function hostileBytes(type: protobuf.Type): fc.Arbitrary<Buffer> {
  const valid = validEncodings(type);
  return fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.tuple(fc.constantFrom(...valid), fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([bytes, ms]) => ms.reduce(mutate, bytes)),
  );
}

interface Method {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestType: protobuf.Type;
}

function methodsOf(...services: string[]): Method[] {
  const v1 = orbitV1() as unknown as Record<string, { service: grpc.ServiceDefinition }>;
  return services.flatMap((service) => Object.entries(v1[service]!.service).map(([name, def]) => ({
    path: def.path, requestStream: def.requestStream, responseStream: def.responseStream,
    requestType: root.lookupService(`orbit.v1.${service}`).methods[name]!.resolvedRequestType!,
  })));
}

/** What grpc-js answers when a request does not decode (the wire check refused it). */
const UNDECODABLE = 'Error deserializing request';

/**
 * Sends `body` as the one request message of `method` and resolves with the call's status; a
 * stream is cancelled at its first answer. 'hung' when no status came well past the deadline.
 */
function send(client: grpc.Client, method: Method, body: Buffer): Promise<{ code: grpc.status; details: string } | 'hung'> {
  return new Promise((resolve) => {
    const watchdog = setTimeout(() => resolve('hung'), CALL_DEADLINE_MS + 2_000);
    const done = (code: grpc.status, details = '') => {
      clearTimeout(watchdog);
      resolve({ code, details });
    };
    const options = { deadline: Date.now() + CALL_DEADLINE_MS };
    if (!method.responseStream) {
      client.makeUnaryRequest(method.path, identity, identity, body, options, (err) => done(err?.code ?? grpc.status.OK, err?.details));
      return;
    }
    const call = method.requestStream
      ? client.makeBidiStreamRequest(method.path, identity, identity, options)
      : client.makeServerStreamRequest(method.path, identity, identity, body, options);
    call.on('data', () => call.cancel());
    call.on('status', (s: grpc.StatusObject) => done(s.code, s.details));
    call.on('error', () => undefined);
    if ('write' in call) {
      call.write(body);
      call.end();
    }
  });
}

const problem = cliBuildProblem();
if (problem !== undefined) {
  t.fail(problem);
} else {
  t.test('random and mangled bytes to every method of a live master: it answers each and keeps launching tasks', async (t) => {
    const master = await spawnMaster(t);
    const agent = await agentProcesses(t, master.address, { hostname: 'bytes-target', resources: 'cpus:4;mem:4096', containerizers: 'simulated' });
    agent.start();
    await eventually('the agent to register', async () => (await master.state()).agents.find((a) => a.hostname === 'bytes-target' && a.active), 15_000);
    const client = new grpc.Client(master.address, testChannel());
    t.teardown(() => client.close());

    const methods = methodsOf('Scheduler', 'Operator', 'AgentLink');
    t.equal(methods.length, 21, 'Scheduler 10, Operator 10, AgentLink 1');
    const codes = new Map<string, number>();
    for (const method of methods) {
      // Each call ends in time, and an INTERNAL is always the refused decode, never a handler's fault.
      await fc.assert(fc.asyncProperty(hostileBytes(method.requestType), async (body) => {
        const answer = await send(client, method, body);
        const name = answer === 'hung' ? 'hung' : grpc.status[answer.code];
        codes.set(name, (codes.get(name) ?? 0) + 1);
        return answer !== 'hung' && (answer.code !== grpc.status.INTERNAL || answer.details === UNDECODABLE);
      }), { numRuns: RUNS_PER_METHOD, seed: SEED });
      assertRunning(master.process, `orbit master, after ${method.path}`);
    }
    t.comment(`seed ${SEED}; statuses: ${[...codes].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    t.ok((codes.get('INTERNAL') ?? 0) > methods.length, 'malformed bodies are refused as undecodable (INTERNAL)');
    t.doesNotThrow(() => assertRunning(master.process, 'orbit master'), 'the master is alive');
    t.doesNotThrow(() => assertRunning(agent.current(), 'orbit agent'), 'its agent is alive');

    const updates = await launchOneTask(t, master.address, 'bytes-target');
    t.equal(updates.at(-1)?.state, 'FINISHED', 'a well-behaved framework still launches a task');
  });

  t.test('random and mangled master messages to a live agent: it survives each and comes back', async (t) => {
    const masterMessage = root.lookupType('orbit.v1.MasterMessage');
    // At the highest epoch there is: an agent ignores commands below the highest it has seen, and
    // mangled epochs must not make the fake master's own messages stale.
    const registered = Buffer.from(masterMessage.encode(masterMessage.fromObject({ epoch: '18446744073709551615', registered: { agentId: 'agent-bytes', heartbeatIntervalSeconds: 1 } })).finish());
    const strict = orbitV1().AgentLink.service.Connect.responseDeserialize;
    /** What the agent will make of `bytes`: a message (as JSON), or undefined when it cannot decode them. */
    const decoded = (bytes: Buffer): string | undefined => {
      try {
        return JSON.stringify(strict(bytes));
      } catch {
        return undefined;
      }
    };
    // A message holding a health check would have the agent run its command on this host: never sent.
    const bodies = fc.sample(hostileBytes(masterMessage), { numRuns: 600, seed: SEED }).filter((b) => !decoded(b)?.includes('"healthCheck":{'));
    const decodable = bodies.filter((b) => decoded(b) !== undefined);
    // Each undecodable body ends its stream, and the agent backs off about half a second before the
    // next: the first UNDECODABLE_BODIES of them, one per stream.
    const undecodable = bodies.filter((b) => decoded(b) === undefined).slice(0, UNDECODABLE_BODIES);
    const planned = decodable.length + undecodable.length;
    let sent = 0;
    let streams = 0;
    let fuzzing = true;
    // A fake master: each stream is told it is registered (so the agent's backoff starts again),
    // then gets up to forty bodies the agent can decode and one it cannot, which ends the stream.
    const server = new grpc.Server();
    server.addService({
      Connect: { path: '/orbit.v1.AgentLink/Connect', requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
    }, {
      Connect(call: grpc.ServerDuplexStream<Buffer, Buffer>) {
        streams++;
        call.on('data', () => undefined);
        call.on('error', () => undefined);
        call.write(registered);
        if (!fuzzing) return;
        for (const body of [...decodable.splice(0, 40), ...undecodable.splice(0, 1)]) {
          call.write(body);
          sent++;
        }
        setTimeout(() => call.end(), 50);
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', testServerCredentials(), (e, p) => (e ? reject(e) : resolve(p))));
    t.teardown(() => server.forceShutdown());

    const agent = await agentProcesses(t, `127.0.0.1:${port}`, { hostname: 'bytes-agent', resources: 'cpus:4;mem:4096', containerizers: 'simulated' });
    agent.start();
    await eventually('the fake master to have sent every body', () => decodable.length === 0 && undecodable.length === 0, 30_000);
    fuzzing = false;
    t.comment(`seed ${SEED}; ${sent} bodies sent on ${streams} streams`);
    t.equal(sent, planned, 'every decodable body, and each undecodable one planned, reached the agent');
    t.ok(streams > 3, `the agent came back after stream after stream (${streams})`);
    t.doesNotThrow(() => assertRunning(agent.current(), 'orbit agent'), 'the agent is alive');
    // Past the fuzz, every stream is only told the agent is registered.
    await eventually('the agent to be registered again', async () => (await agent.state()).connected, 10_000);
    t.pass('and registers again, answering /state');
  });
}
