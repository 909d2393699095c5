/**
 * What the strict wire check (src/common/wire-check.ts) adds to decoding a message, in the same
 * run: plain decoding (protobufjs decode + toObject with proto-loader's options, what grpc-js did
 * before) against the check alone and against check + decode (the deserializer orbitV1() hands
 * out). Two realistic messages: an Accept launching 100 tasks and an AgentLink batch of 100 status
 * updates. Rounds alternate between the variants so drift in the machine hits all of them.
 *
 *   node dist/bench/wire-check.js [--rounds 7] [--ms 300]
 */
import protobuf from 'protobufjs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { statusToProto, taskToProto } from '../src/common/codec.js';
import { orbitV1 } from '../src/common/proto.js';
import type { TaskStatus } from '../src/common/tasks.js';
import { checkWire, messageRule } from '../src/common/wire-check.js';
import { buildTask } from '../src/framework-sdk/index.js';
import { machineLine } from './lib/cluster.js';

/** proto-loader's deserializer with src/common/proto.ts' options: what runs after the check. */
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true };

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function reflection(): protobuf.Root {
  const protoDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'proto');
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoDir, target);
  root.loadSync(['orbit/v1/scheduler.proto', 'orbit/v1/agent.proto']);
  root.resolveAll();
  return root;
}

function acceptOf100Tasks(): Buffer {
  const tasks = Array.from({ length: 100 }, (_, i) => taskToProto(buildTask({
    taskId: `web-${i}-7f3a9c1e`,
    agentId: 'agent-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0',
    resources: 'cpus:0.5;mem:256;disk:128;ports:[31000-31001]',
    command: 'exec ./server --port $PORT0 --threads 4',
    env: { PORT0: '31000', ROLE: 'frontend', REGION: 'eu-west-1' },
    labels: { app: 'web', version: '2.4.1', team: 'storefront' },
    healthCheck: { type: 'http', port: 31000, path: '/health' },
  })));
  return orbitV1().Scheduler.service.Accept.requestSerialize({
    header: { frameworkId: 'fw-5e6f7a8b-9c0d', streamId: 'stream-1a2b3c4d' },
    offerIds: ['offer-1', 'offer-2', 'offer-3'],
    operations: [{ launch: { tasks } }],
    filters: { refuseSeconds: 5 },
  });
}

function batchOf100Updates(): Buffer {
  const messages = Array.from({ length: 100 }, (_, i) => {
    const status: TaskStatus = {
      taskId: `web-${i}-7f3a9c1e`, frameworkId: 'fw-5e6f7a8b-9c0d', agentId: 'agent-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0',
      state: 'RUNNING', source: 'AGENT', reason: 'NONE', message: 'container started', timestamp: 1_790_000_000.123,
      uuid: `7d1e4c2a-0b9f-4e8d-9a6c-${String(i).padStart(12, '0')}`, containerId: `c-${i}-9e8d7c6b`,
    };
    return { statusUpdate: { status: statusToProto(status) } };
  });
  return orbitV1().AgentLink.service.Connect.requestSerialize({ batch: { messages } });
}

/** Calls `fn` for about `ms` and returns nanoseconds per call. */
function time(fn: () => unknown, ms: number): number {
  let calls = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 50; i++) fn();
    calls += 50;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / calls;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function main(): void {
  const rounds = flag('--rounds', 7);
  const ms = flag('--ms', 300);
  const root = reflection();
  console.log(machineLine());
  const cases = [
    { name: 'Accept, 100 tasks', bytes: acceptOf100Tasks(), type: root.lookupType('orbit.v1.AcceptCall'), strict: orbitV1().Scheduler.service.Accept.requestDeserialize },
    { name: 'AgentLink batch, 100 status updates', bytes: batchOf100Updates(), type: root.lookupType('orbit.v1.AgentMessage'), strict: orbitV1().AgentLink.service.Connect.requestDeserialize },
  ];
  for (const c of cases) {
    const rule = messageRule(c.type);
    const variants: Record<string, () => unknown> = {
      decode: () => c.type.toObject(c.type.decode(c.bytes), TO_OBJECT),
      check: () => checkWire(rule, c.bytes),
      'check+decode': () => c.strict(c.bytes),
    };
    const samples: Record<string, number[]> = { decode: [], check: [], 'check+decode': [] };
    for (const fn of Object.values(variants)) time(fn, ms); // warm-up
    for (let r = 0; r < rounds; r++) for (const [name, fn] of Object.entries(variants)) samples[name]!.push(time(fn, ms));
    const decode = median(samples['decode']!);
    const check = median(samples['check']!);
    const both = median(samples['check+decode']!);
    const us = (ns: number) => `${(ns / 1000).toFixed(1)} µs`;
    console.log(`${c.name} (${c.bytes.length} bytes): decode ${us(decode)}, check ${us(check)} (${((check / decode) * 100).toFixed(1)}% of decode), check+decode ${us(both)} (×${(both / decode).toFixed(3)})`);
  }
}

main();
