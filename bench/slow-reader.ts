/**
 * What a framework that subscribes and never reads costs the master, and whether the memory comes
 * back. A master in this process; a raw HTTP/2 subscriber (test/helpers/raw-h2.ts) that reads its
 * SUBSCRIBED event and then never opens its flow-control window again; a driver on its own gRPC
 * connection that calls Reconcile with 1,000 unknown task ids at a time, each answered with 1,000
 * UPDATE events on the stalled stream. The master's heap (after a forced GC) is printed at the
 * start, once `--events` are queued or the stream is cut, and after the cut or the subscriber's
 * disconnect. Run twice, as the figures in the report were: with the default bound, and with the
 * bound at its maximum (about what the master did before it had one).
 *
 *   node --expose-gc dist/bench/slow-reader.js [--bound-mib 16] [--events 600000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/common/logging.js';
import { orbitV1 } from '../src/common/proto.js';
import { startMaster } from '../src/master/master.js';
import { FRAME, grpcData, grpcHeaders, RawH2 } from '../test/helpers/raw-h2.js';
import { machineLine } from './lib/cluster.js';
import { channelCredentials, CHANNEL_OPTIONS } from '../src/common/connection.js';
import { issuedBy } from './lib/security.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const gc = (globalThis as { gc?: () => void }).gc;
/** The JS heap plus Buffers (queued messages are Buffers, outside the heap), after a full GC, in MiB. */
const heapMiB = (): number => {
  gc?.();
  gc?.();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return (heapUsed + arrayBuffers) / 2 ** 20;
};
const rssMiB = (): string => `${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  if (!gc) throw new Error('run with node --expose-gc');
  const boundMiB = flag('--bound-mib', 16);
  const events = flag('--events', 600_000);
  console.log(machineLine());
  const workDir = mkdtempSync(join(tmpdir(), 'orbit-slow-reader-'));
  const master = await startMaster({ ip: '127.0.0.1', port: 0, httpPort: 0, workDir, logger: silentLogger, wireLimits: { maxStreamQueueBytes: boundMiB * 2 ** 20 } });
  const v1 = orbitV1();
  const driver = new v1.Scheduler(master.address, channelCredentials(await issuedBy(master, 'operator', 'bench')), CHANNEL_OPTIONS);
  try {
    const baseline = heapMiB();
    console.log(`RSS at the start: ${rssMiB()}`);
    const raw = await RawH2.open(master.port);
    const request = v1.Scheduler.service.Subscribe.requestSerialize({ framework: { name: 'slow-reader', roles: ['*'], hostname: 'bench', user: 'bench' } });
    raw.send(Buffer.concat([grpcHeaders(1, '/orbit.v1.Scheduler/Subscribe'), grpcData(1, request)]));
    let header: { frameworkId: string; streamId: string } | undefined;
    while (!header) {
      await sleep(10);
      const first = raw.received(FRAME.DATA, 1)[0];
      if (first) header = (v1.Scheduler.service.Subscribe.responseDeserialize(first.payload.subarray(5)) as { subscribed: { frameworkId: string; streamId: string } }).subscribed;
    }
    const tasks = Array.from({ length: 1000 }, (_, i) => ({ taskId: `ghost-${i}-0123456789abcdef`, agentId: '' }));
    const started = Date.now();
    let sent = 0;
    const cut = () => raw.received(FRAME.RST_STREAM, 1).length > 0;
    // Once the stream is cut the framework is gone (its failover timeout is 0) and Reconcile fails.
    let refused = false;
    while (sent < events && !cut() && !refused) {
      refused = await new Promise<boolean>((resolve) => driver.Reconcile({ header, tasks }, (err) => resolve(err !== null)));
      if (!refused) sent += tasks.length;
    }
    await sleep(50);
    const peak = heapMiB();
    const wasCut = cut();
    console.log(`bound ${boundMiB} MiB: ${sent.toLocaleString()} UPDATE events sent to a subscriber that does not read, in ${Date.now() - started} ms; ` +
      (wasCut ? `the stream was cut (RST_STREAM ${raw.received(FRAME.RST_STREAM, 1)[0]!.payload.readUInt32BE(0)})` : 'not cut'));
    console.log(`heap + buffers: ${baseline.toFixed(1)} MiB at the start, ${peak.toFixed(1)} MiB ${wasCut ? 'after the cut' : `with ${sent.toLocaleString()} events queued`} (RSS ${rssMiB()})`);
    raw.close();
    await sleep(200);
    console.log(`heap + buffers after the subscriber has gone: ${heapMiB().toFixed(1)} MiB (RSS ${rssMiB()})`);
  } finally {
    driver.close();
    await master.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

await main();
