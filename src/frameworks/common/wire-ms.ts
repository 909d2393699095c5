/**
 * Seconds as wire milliseconds for the SDK's task options. On the wire 0 means "the default"
 * (3 s for a kill grace, 15 s for a health check delay), so an explicit 0 is sent as 1 ms.
 */
export function wireMs(seconds: number): number {
  return Math.max(1, Math.round(seconds * 1000));
}
