/**
 * Preloaded into a benchmark's master (or bare server) with `node --expose-gc --import <this>`:
 * on SIGUSR2, two full collections, then one line on stdout with process.memoryUsage(), so the
 * benchmark can read live heap figures instead of RSS with garbage in it (and, with
 * ORBIT_BENCH_HEAP_DIR set, a heap snapshot for bench/state-heap.ts). Nothing else changes in
 * the process it is loaded into; without --expose-gc the line says so and carries the raw figures.
 */
import { writeHeapSnapshot } from 'node:v8';
import { join } from 'node:path';

const gc = (globalThis as { gc?: () => void }).gc;
/** With ORBIT_BENCH_HEAP_DIR set, each SIGUSR2 also writes a heap snapshot there (slow: seconds). */
const heapDir = process.env.ORBIT_BENCH_HEAP_DIR;
let snapshots = 0;

process.on('SIGUSR2', () => {
  gc?.();
  gc?.();
  const usage = process.memoryUsage();
  const snapshot = heapDir ? writeHeapSnapshot(join(heapDir, `${process.pid}-${++snapshots}.heapsnapshot`)) : undefined;
  process.stdout.write(`orbit-bench-gc ${JSON.stringify({ collected: gc !== undefined, ...usage, ...(snapshot ? { snapshot } : {}) })}\n`);
});
