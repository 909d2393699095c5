/**
 * Loads the wire contract (proto/orbit/v1) once and hands out typed service constructors.
 * The proto directory is found by walking up from this module, so the same code works from
 * src/ (tests) and dist/ (the installed CLI).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType as AgentProto } from '../gen/agent.js';
import type { ProtoGrpcType as SchedulerProto } from '../gen/scheduler.js';
import type { ProtoGrpcType as OperatorProto } from '../gen/operator.js';
import type { ProtoGrpcType as SecurityProto } from '../gen/security.js';
import { checkWire, messageRule, type MessageRule } from './wire-check.js';

const PROTO_FILES = ['orbit/v1/common.proto', 'orbit/v1/agent.proto', 'orbit/v1/scheduler.proto', 'orbit/v1/operator.proto', 'orbit/v1/security.proto'];

function findProtoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'orbit/v1/common.proto'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('cannot find proto/orbit/v1 above ' + fileURLToPath(import.meta.url));
}

/** Options that match the generated types: camelCase fields, enums as strings, defaults filled. */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

type OrbitV1 = AgentProto['orbit']['v1'] & SchedulerProto['orbit']['v1'] & OperatorProto['orbit']['v1'] & SecurityProto['orbit']['v1'];

let cached: OrbitV1 | undefined;

/**
 * The orbit.v1 package: service constructors and service definitions. Every method's request and
 * response pass the strict wire check before protobufjs decodes them, on servers and clients
 * alike; a message that fails it is refused by grpc-js as a deserialization error (INTERNAL)
 * and never reaches a handler or a listener.
 */
export function orbitV1(): OrbitV1 {
  if (!cached) {
    const root = findProtoRoot();
    const definition = protoLoader.loadSync(PROTO_FILES, { ...LOADER_OPTIONS, includeDirs: [root] });
    const strict = strictDefinition(definition, reflectionRoot(root));
    cached = (grpc.loadPackageDefinition(strict) as unknown as { orbit: { v1: OrbitV1 } }).orbit.v1;
  }
  return cached;
}

/**
 * The same files as protobufjs reflection types, for the wire check. proto-loader keeps its own
 * Root to itself; parsing four small files again costs a few milliseconds, once.
 */
function reflectionRoot(protoRoot: string): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoRoot, target);
  root.loadSync(PROTO_FILES);
  root.resolveAll();
  return root;
}

function isService(definition: protoLoader.AnyDefinition): definition is protoLoader.ServiceDefinition {
  return !('format' in definition);
}

/** Checks `bytes` against `rule`, then decodes them as before. */
function strictDeserializer<T>(rule: MessageRule, deserialize: (bytes: Buffer) => T): (bytes: Buffer) => T {
  return (bytes) => {
    checkWire(rule, bytes);
    return deserialize(bytes);
  };
}

/**
 * Bytes given to a server stream's write are taken as the message already encoded: a bounded
 * stream (master/rpc/bounded-stream.ts) encodes at write time to count its queue in bytes, and
 * grpc-js then sends them as they are instead of encoding twice.
 */
function preEncodedPassthrough(serialize: (value: object) => Buffer): (value: object) => Buffer {
  return (value) => (Buffer.isBuffer(value) ? value : serialize(value));
}

/** `definition` with every service method's deserializers made strict (and server streams taking encoded bytes). */
function strictDefinition(definition: protoLoader.PackageDefinition, root: protobuf.Root): protoLoader.PackageDefinition {
  const rules = new Map<protobuf.Type, MessageRule>();
  const strict: protoLoader.PackageDefinition = { ...definition };
  for (const [name, service] of Object.entries(definition)) {
    if (!isService(service)) continue;
    const reflected = root.lookupService(name);
    const methods: protoLoader.ServiceDefinition = {};
    for (const [methodName, method] of Object.entries(service)) {
      const types = reflected.methods[methodName];
      if (!types?.resolvedRequestType || !types.resolvedResponseType) throw new Error(`wire check: no reflection types for ${method.path}`);
      methods[methodName] = {
        ...method,
        requestDeserialize: strictDeserializer(messageRule(types.resolvedRequestType, rules), method.requestDeserialize),
        responseDeserialize: strictDeserializer(messageRule(types.resolvedResponseType, rules), method.responseDeserialize),
        ...(method.responseStream ? { responseSerialize: preEncodedPassthrough(method.responseSerialize) } : {}),
      };
    }
    strict[name] = methods;
  }
  return strict;
}

/**
 * Server options every Orbit server shares: keepalives notice a dead peer (and close a connection
 * that never answers a ping, 15 s after it opened). Message and stream limits are the master's
 * (master/rpc/wire-limits.ts); grpc-js' own default receive limit is 4 MiB.
 */
export const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  'grpc.http2.min_time_between_pings_ms': 5_000,
};
