/**
 * Runs `orbit services ...` and `orbit jobs ...` in this process, through commander exactly as
 * bin/orbit.js would (same parsing, same errors), with their output captured. A `serve` runs until
 * the test's teardown (or `stop()`), standing in for SIGTERM.
 */
import { Command } from 'commander';
import { registerJobsCommand } from '../../src/cli/jobs-command.js';
import { registerServicesCommand } from '../../src/cli/services-command.js';
import type { CommandIo } from '../../src/frameworks/common/command-io.js';
import type { TestLike } from './cluster.js';

export interface CommandResult {
  out: string;
  err: string;
  /** What the command threw (a UsageError is what the user sees as `orbit: message`, exit 1). */
  error?: Error;
}

export interface Serving {
  /** Output so far. */
  out(): string;
  /** Ends the serve command (as SIGTERM would) and waits for it. */
  stop(): Promise<CommandResult>;
  done: Promise<CommandResult>;
}

function program(io: CommandIo): Command {
  const p = new Command('orbit').exitOverride().configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  registerServicesCommand(p, io);
  registerJobsCommand(p, io);
  return p;
}

function run(args: string[], stopSignal: Promise<string>): { io: CommandIo; result: Promise<CommandResult>; out: () => string } {
  let out = '';
  let err = '';
  const io: CommandIo = { out: (s) => void (out += s), err: (s) => void (err += s), waitForStop: () => stopSignal };
  const result = program(io)
    .parseAsync(['node', 'orbit', ...args])
    .then(
      () => ({ out, err }),
      (error: Error) => ({ out, err, error }),
    );
  return { io, result, out: () => out };
}

/** Runs one command to its end. */
export function orbit(args: string[]): Promise<CommandResult> {
  return run(args, new Promise(() => undefined)).result;
}

/** Starts a `serve` command; it is stopped at teardown if the test does not stop it first. */
export function serve(t: TestLike, args: string[]): Serving {
  let stop!: (signal: string) => void;
  const signal = new Promise<string>((resolve) => (stop = resolve));
  const { result, out } = run(args, signal);
  const serving: Serving = {
    out,
    done: result,
    stop: () => {
      stop('SIGTERM');
      return result;
    },
  };
  t.teardown(() => serving.stop());
  return serving;
}

/** The API address a serve printed (`API on http://127.0.0.1:PORT`). */
export function servedApi(out: string): string | undefined {
  return /API on http:\/\/([^,\s]+)/.exec(out)?.[1];
}
