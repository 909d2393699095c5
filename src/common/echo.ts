/**
 * Caller input quoted back in an error. Errors become gRPC status messages, which travel in the
 * `grpc-message` header: a 10 KB value there makes some clients drop the connection, and a control
 * character there can split a log line. So every error that quotes input quotes it through here.
 */

/** Characters of a value kept when it is quoted; the rest is counted, not shown. */
export const ECHO_MAX_CHARS = 64;

// Control characters (C0, DEL, C1) and the two line separators JSON leaves alone.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * `'value'`, with control characters escaped (`\u0000`); a value longer than ECHO_MAX_CHARS is cut
 * there and marked with its full size: `'aaaa…' (10240 bytes)`.
 */
export function quote(value: string): string {
  const long = value.length > ECHO_MAX_CHARS;
  let shown = long ? value.slice(0, ECHO_MAX_CHARS) : value;
  // Do not cut a surrogate pair in half.
  if (long && /[\ud800-\udbff]$/.test(shown)) shown = shown.slice(0, -1);
  const escaped = shown.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return long ? `'${escaped}…' (${Buffer.byteLength(value, 'utf8')} bytes)` : `'${escaped}'`;
}

/** Free text (a status message) cut to `maxChars`, marked when cut; never an error. */
export function truncateText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const marker = `… (${Buffer.byteLength(text, 'utf8')} bytes)`;
  let kept = text.slice(0, Math.max(0, maxChars - marker.length));
  if (/[\ud800-\udbff]$/.test(kept)) kept = kept.slice(0, -1);
  return kept + marker;
}
