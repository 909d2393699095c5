/**
 * The floor for the end-to-end benchmark: how many small messages grpc-js itself moves per second
 * over one bidirectional stream on this box. An echo server in a child process (pinned to core 0,
 * where the master runs in bench/e2e) answers every message; the client (this process) keeps
 * `window` messages in flight and counts the echoes over `seconds`. No Orbit code is involved, so
 * the rate is what any gRPC service in Node could do per stream with messages of this size.
 *
 *   node dist/bench/grpc-echo.js [--seconds 5] [--size 200] [--window 64]
 *
 * Run alone it pins itself to core 1; bench/e2e imports echoRate() and runs it from its own
 * process (already on core 1).
 */
import * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpuMs, machineLine } from './lib/cluster.js';
import { pinSelf, spawnNodePinned } from './e2e-pin.js';

const identity = (b: Buffer): Buffer => b;

/** A one-method service with raw Buffer messages: no proto file, no codec cost beyond the framing. */
const ECHO_SERVICE: grpc.ServiceDefinition = {
  Echo: {
    path: '/bench.Echo/Echo',
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

export interface EchoOptions {
  seconds: number;
  /** Bytes per message; about the size of an encoded status update by default. */
  size: number;
  /** Messages in flight at once. */
  window: number;
  /** Core for the server process; undefined = not pinned. */
  serverCore?: number;
}

export interface EchoResult {
  msgsPerS: number;
  /** The server's CPU over the window as a share of one core (1 = a whole core). */
  serverCoreShare: number;
  options: EchoOptions;
}

export const DEFAULT_ECHO: EchoOptions = { seconds: 5, size: 200, window: 64, serverCore: 0 };

/** Runs the echo server (the child's side): prints `port N` once it listens. */
async function serve(): Promise<void> {
  const server = new grpc.Server();
  server.addService(ECHO_SERVICE, {
    Echo: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => call.write(b));
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  process.stdout.write(`port ${port}\n`);
  process.on('SIGTERM', () => server.forceShutdown());
}

/** Starts the echo server in a child process and measures the echo rate from this one. */
export async function echoRate(options: EchoOptions = DEFAULT_ECHO): Promise<EchoResult> {
  const script = fileURLToPath(import.meta.url);
  const child = spawnNodePinned(script, ['--serve'], options.serverCore);
  try {
    let out = '';
    child.stdout!.setEncoding('utf8');
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (s: string) => {
        out += s;
        const m = /port (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`the echo server exited (${code}) before listening`)));
    });
    const Client = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const call = client.makeBidiStreamRequest(ECHO_SERVICE.Echo!.path, identity, identity) as grpc.ClientDuplexStream<Buffer, Buffer>;
    const payload = Buffer.alloc(options.size, 7);
    let received = 0;
    let counting = false;
    let counted = 0;
    let stopped = false;
    call.on('data', () => {
      received++;
      if (counting) counted++;
      if (!stopped) call.write(payload);
    });
    call.on('error', () => undefined);
    for (let i = 0; i < options.window; i++) call.write(payload);
    // Warm up (JIT, connection windows) before counting.
    await new Promise((r) => setTimeout(r, 1000));
    const cpu0 = cpuMs(child.pid!);
    const t0 = performance.now();
    counting = true;
    await new Promise((r) => setTimeout(r, options.seconds * 1000));
    counting = false;
    const wallMs = performance.now() - t0;
    const cpu1 = cpuMs(child.pid!);
    stopped = true;
    call.end();
    client.close();
    return { msgsPerS: counted / (wallMs / 1000), serverCoreShare: (cpu1 - cpu0) / wallMs, options };
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
}

function flag(argv: readonly string[], name: string, fallback: number): number {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(argv[i + 1]);
  if (!(v > 0)) throw new Error(`${name} needs a positive number`);
  return v;
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--serve')) return serve();
  pinSelf(1);
  const options: EchoOptions = {
    seconds: flag(argv, '--seconds', DEFAULT_ECHO.seconds),
    size: flag(argv, '--size', DEFAULT_ECHO.size),
    window: flag(argv, '--window', DEFAULT_ECHO.window),
    serverCore: 0,
  };
  console.log(machineLine());
  const r = await echoRate(options);
  console.log(`grpc-js bidi-stream echo, ${options.size}-byte messages, ${options.window} in flight: ${Math.round(r.msgsPerS).toLocaleString('en-US')} msgs/s (server ${Math.round(r.serverCoreShare * 100)}% of core 0)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
