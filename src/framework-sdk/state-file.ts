/**
 * Durable framework state: a JSON document in one file, replaced atomically (write a temp file,
 * fsync it, rename it over the old one, fsync the directory), so a crash leaves either the old
 * document or the new one, never a torn one. A framework keeps its framework id here (to
 * re-subscribe after a restart) and whatever it must not forget about its tasks.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The state file exists but is not the JSON it should be. */
export class StateFileError extends Error {
  override readonly name = 'StateFileError';
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`state file ${path}: ${message}`, options);
  }
}

/** One JSON document on disk; `T` is trusted to be what was written (validate it when you read). */
export class JsonStateFile<T> {
  constructor(readonly path: string) {}

  /** The last document written, or undefined when there is none yet. Throws StateFileError when unreadable. */
  read(): T | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StateFileError(this.path, (err as Error).message, { cause: err });
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new StateFileError(this.path, `not valid JSON (${(err as Error).message})`, { cause: err });
    }
  }

  /** Replaces the document atomically and durably; creates the directory when missing. */
  write(value: T): void {
    const dir = dirname(this.path);
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.${process.pid}.${Date.now()}.tmp`);
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(value, null, 1)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}
