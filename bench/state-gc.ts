/**
 * Preloaded into a benchmark's master (or bare server) with `node --expose-gc --import <this>`:
 * on SIGUSR2, two full collections, then one line on stdout with process.memoryUsage(), so the
 * benchmark can read live heap figures instead of RSS with garbage in it. Nothing else changes in
 * the process it is loaded into; without --expose-gc the line says so and carries the raw figures.
 */
const gc = (globalThis as { gc?: () => void }).gc;

process.on('SIGUSR2', () => {
  gc?.();
  gc?.();
  process.stdout.write(`orbit-bench-gc ${JSON.stringify({ collected: gc !== undefined, ...process.memoryUsage() })}\n`);
});
