/**
 * An HTTP request's target (`req.url`) and its path segments, parsed without ever throwing: each
 * way a client can get them wrong is a value, `{ ok: false, problem }`, that a server answers
 * with a 400 (414 for an over-long target) naming the problem, where an unguarded `new URL()` or
 * `decodeURIComponent()` would throw inside the `request` event and end the process.
 *
 * The forms of RFC 9112 §3.2: origin-form (`/path?query`), absolute-form
 * (`http://host:port/path?query`; the authority is checked as a URL and otherwise ignored, there
 * is one site per server) and asterisk-form (`*`, which names nothing here). Node's parser already
 * refuses control bytes in a target; they are checked again so the result does not depend on it.
 */

import { quote } from './echo.js';


/** The longest request target accepted, in bytes (Node hands a target over one byte per char). */
export const MAX_TARGET_BYTES = 8 * 1024;

/** The parts of a target that routes look at. */
export interface RequestTarget {
  /** Still percent-encoded; decode a segment with decodePathSegment. */
  pathname: string;
  searchParams: URLSearchParams;
}

export type TargetResult = ({ ok: true } & RequestTarget) | { ok: false; status: 400 | 414; problem: string };

export type SegmentResult = { ok: true; value: string } | { ok: false; problem: string };

const hex = (code: number): string => `0x${code.toString(16).padStart(2, '0').toUpperCase()}`;

/** The problem with the first `%` that does not start a percent-escape (`%` and two hex digits), if any. */
function badEscape(text: string, where: string): string | undefined {
  const at = /%(?![0-9A-Fa-f]{2})/.exec(text)?.index;
  if (at === undefined) return undefined;
  const shown = /^%[^%/?#&=;]{0,2}/.exec(text.slice(at))?.[0] ?? '%';
  return `${quote(shown)} at offset ${at} of ${where} is not a percent-escape (% and two hex digits)`;
}

/** Parses a request target; never throws. */
export function parseRequestTarget(target: string | undefined): TargetResult {
  const bad = (problem: string): TargetResult => ({ ok: false, status: 400, problem });
  if (target === undefined || target === '') return bad('the request has no target');
  if (target.length > MAX_TARGET_BYTES) return { ok: false, status: 414, problem: `the request target is ${target.length} bytes; at most ${MAX_TARGET_BYTES} are accepted` };
  const odd = /[^\x21-\x7e]/.exec(target);
  if (odd) return bad(`the request target has byte ${hex(odd[0].charCodeAt(0))} at offset ${odd.index}; only printable ASCII is allowed (percent-encode the rest)`);
  const escape = badEscape(target, 'the request target');
  if (escape) return bad(escape);
  if (target === '*') return bad(`the asterisk-form target '*' names no resource here; ask for a path such as /health`);
  if (target.startsWith('/')) {
    // Never `new URL(target, base)`: `//host/...` would be read as an authority.
    return fromUrl(`http://localhost${target}`) ?? bad(`the request target ${quote(target)} is not a valid path`);
  }
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(target)?.[0].toLowerCase();
  if (scheme === undefined) return bad(`the request target ${quote(target)} is neither a path starting with '/' nor an absolute http URL`);
  if (scheme !== 'http:' && scheme !== 'https:') return bad(`the absolute-form target ${quote(target)} has scheme '${scheme}'; only http and https are served`);
  return fromUrl(target) ?? bad(`the absolute-form target ${quote(target)} is not a valid URL (check its host and port)`);
}

/** The path and query of `href`, or undefined when WHATWG URL refuses it. */
function fromUrl(href: string): TargetResult | undefined {
  try {
    const url = new URL(href);
    return { ok: true, pathname: url.pathname, searchParams: url.searchParams };
  } catch {
    return undefined;
  }
}

/** Decodes one path segment's percent-escapes; a malformed escape, bytes that are not UTF-8 or a decoded control character is a problem. Never throws. */
export function decodePathSegment(segment: string): SegmentResult {
  const escape = badEscape(segment, `path segment ${quote(segment)}`);
  if (escape) return { ok: false, problem: escape };
  let value: string;
  try {
    value = decodeURIComponent(segment);
  } catch {
    return { ok: false, problem: `the percent-escapes in path segment ${quote(segment)} do not decode to UTF-8` };
  }
  const control = /[\x00-\x1f\x7f]/.exec(value);
  if (control) return { ok: false, problem: `path segment ${quote(segment)} decodes to control character ${hex(control[0].charCodeAt(0))}` };
  return { ok: true, value };
}
