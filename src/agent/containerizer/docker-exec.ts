/**
 * Runs a command inside a running container (Docker's exec), as a command health check does:
 * bounded by a timeout, its output kept short for a status message. Written against the few
 * engine calls it needs, so only docker.ts imports dockerode.
 */
import type { Duplex, Writable } from 'node:stream';
import { Writable as WritableStream } from 'node:stream';
import type { ExecResult } from './containerizer.js';
import { streamEnded } from './docker-output.js';

/** Keep this much of a check's output for its status message. */
const MAX_OUTPUT_BYTES = 1024;

/** The engine calls exec needs: dockerode's Container and Exec, structurally. */
export interface ExecTarget {
  exec(options: { Cmd: string[]; AttachStdout: boolean; AttachStderr: boolean; AttachStdin: boolean; Tty: boolean }): Promise<{
    start(options: { hijack: boolean; stdin: boolean }): Promise<Duplex>;
    inspect(): Promise<{ ExitCode: number | null; Running: boolean }>;
  }>;
}

/** Splits Docker's multiplexed stream into stdout and stderr (dockerode's modem.demuxStream). */
export type Demux = (stream: Duplex, stdout: Writable, stderr: Writable) => void;

/**
 * Runs `command` in the container and waits up to `timeoutMs` for it to end. Never rejects: an
 * engine error or a timeout is a null exit code with the reason as output. (Docker cannot kill an
 * exec'd process; one that times out is left to finish on its own.)
 */
export async function execInContainer(target: ExecTarget, demux: Demux, command: readonly string[], timeoutMs: number): Promise<ExecResult> {
  let output = '';
  const collect = new WritableStream({
    write(chunk: Buffer, _encoding, callback) {
      if (output.length < MAX_OUTPUT_BYTES) output += chunk.toString('utf8').slice(0, MAX_OUTPUT_BYTES - output.length);
      callback();
    },
  });
  let timer: NodeJS.Timeout | undefined;
  let stream: Duplex | undefined;
  try {
    const exec = await target.exec({ Cmd: [...command], AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false });
    stream = await exec.start({ hijack: true, stdin: false });
    demux(stream, collect, collect);
    const ended = await Promise.race([
      streamEnded(stream).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs)))),
    ]);
    if (!ended) return { exitCode: null, output: `timed out after ${timeoutMs} ms` };
    // The stream can end a moment before the engine records the exit code.
    for (let i = 0; i < 20; i++) {
      const info = await exec.inspect();
      if (!info.Running) return { exitCode: info.ExitCode, output: output.trim() };
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { exitCode: null, output: 'the engine did not report an exit code' };
  } catch (err) {
    return { exitCode: null, output: `cannot exec in the container: ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    clearTimeout(timer);
    stream?.destroy();
  }
}
