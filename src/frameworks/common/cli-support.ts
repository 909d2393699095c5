/**
 * Pieces the `orbit services` and `orbit jobs` commands share: the `--api` address, reading a spec
 * file, waiting for a condition, and turning the frameworks' errors into one-line usage errors.
 */
import { readFileSync } from 'node:fs';
import { ApiCallError, ApiUnreachableError } from './api-client.js';
import { parseJsonSpec, SpecError } from './spec-reader.js';
import { StateDirLockedError } from './state-dir-lock.js';

/** `host:port` or `http://host:port` → `http://host:port`; throws `makeError` naming `flag`. */
export function apiBase(value: string, flag: string, makeError: (message: string) => Error): string {
  const text = value.trim();
  const withScheme = /^https?:\/\//.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw makeError(`${flag}: expected HOST:PORT, got '${value}'`);
  }
  if (!url.port || url.pathname !== '/' || url.search) throw makeError(`${flag}: expected HOST:PORT, got '${value}'`);
  return `${url.protocol}//${url.host}`;
}

/** Reads and parses a JSON spec file; a missing or malformed file becomes `makeError`. */
export function readSpecFile(path: string, makeError: (message: string) => Error): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw makeError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  try {
    return parseJsonSpec(text, path);
  } catch (err) {
    throw makeError((err as Error).message);
  }
}

/** Runs `fn`, turning the errors a user can act on into `makeError` (one line, no stack). */
export async function userErrors<T>(fn: () => Promise<T>, makeError: (message: string) => Error, what = ''): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ApiCallError) {
      const problems = err.problems.length > 0 ? err.problems.map((p) => `${p.field}: ${p.message}`).join('; ') : err.message;
      throw makeError(`${what}${problems}`);
    }
    if (err instanceof ApiUnreachableError || err instanceof SpecError || err instanceof StateDirLockedError) throw makeError(`${what}${err.message}`);
    throw err;
  }
}

/** Polls `check` every `everyMs` until it returns a value; undefined after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 250): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
