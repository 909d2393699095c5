/**
 * A Docker task's output in its sandbox: `stdout` and `stderr` files, appended to from the
 * container's attach stream (at launch) or from its log (after an agent restart, when the log is
 * replayed from the start and the bytes the files already hold are skipped).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';

/** The sandbox's two output files as streams. */
export interface OutputFiles {
  stdout: Writable;
  stderr: Writable;
  /** Ends both streams and waits until the data is written and the files are closed. */
  close(): Promise<void>;
}

/**
 * Opens `stdout` and `stderr` in the sandbox for appending. With `resume`, the streams drop as
 * many leading bytes as each file already holds: the container's log, replayed from its start,
 * then continues the files exactly where the last agent left them.
 */
export async function openOutputFiles(sandboxDir: string, options: { resume?: boolean } = {}): Promise<OutputFiles> {
  const out = await open(join(sandboxDir, 'stdout'), 'a');
  let err: FileHandle;
  try {
    err = await open(join(sandboxDir, 'stderr'), 'a');
  } catch (e) {
    await out.close();
    throw e;
  }
  const stdoutFile: Writable = out.createWriteStream();
  const stderrFile: Writable = err.createWriteStream();
  const finish = (s: Writable) =>
    new Promise<void>((resolve) => {
      if (s.closed) return resolve();
      s.once('close', resolve);
      s.end();
    });
  for (const s of [stdoutFile, stderrFile]) s.on('error', () => {});
  const close = async () => void (await Promise.all([finish(stdoutFile), finish(stderrFile)]));
  if (!options.resume) return { stdout: stdoutFile, stderr: stderrFile, close };
  const [outSize, errSize] = await Promise.all([out.stat(), err.stat()]).then(([o, e]) => [o.size, e.size]);
  return { stdout: skipFirst(stdoutFile, outSize ?? 0), stderr: skipFirst(stderrFile, errSize ?? 0), close };
}

/**
 * A stream that drops the first `bytes` written to it and passes the rest to `target`. It forwards
 * each chunk synchronously and never buffers, so closing `target` after the last write loses nothing.
 */
function skipFirst(target: Writable, bytes: number): Writable {
  let left = bytes;
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (left >= chunk.length) {
        left -= chunk.length;
      } else {
        target.write(chunk.subarray(left));
        left = 0;
      }
      callback();
    },
  });
}

/** Settles when the stream ends, closes or fails; never rejects. */
export function streamEnded(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
}
