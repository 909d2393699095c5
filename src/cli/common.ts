/** Pieces every `orbit` subcommand shares: the --master option, exits with a clear message. */
import { Option } from 'commander';
import { LOG_LEVELS } from '../common/logging.js';
import { parseAddress } from '../common/proto.js';

export const DEFAULT_MASTER = '127.0.0.1:5050';

/** `--master HOST:PORT`, defaulting to $ORBIT_MASTER, then 127.0.0.1:5050. */
export function masterOption(): Option {
  return new Option('--master <host:port>', "the master's gRPC address (default: $ORBIT_MASTER or 127.0.0.1:5050)");
}

/** Resolves and validates the master address from the flag or environment. */
export function resolveMaster(flag: string | undefined): string {
  const value = flag ?? process.env['ORBIT_MASTER'] ?? DEFAULT_MASTER;
  const { host, port } = parseAddress(value, flag ? '--master' : process.env['ORBIT_MASTER'] ? '$ORBIT_MASTER' : '--master');
  return `${host}:${port}`;
}

export function logLevelOption(): Option {
  return new Option('--log-level <level>', 'log level').choices([...LOG_LEVELS]).default('info');
}

/** A failure the user caused or can fix: printed without a stack trace, exit code 1. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Parses a non-negative number flag, naming the flag when it is not one. */
export function numberFlag(flag: string, { min = 0, integer = false } = {}): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      throw new UsageError(`${flag}: expected ${integer ? 'an integer' : 'a number'} >= ${min}, got '${value}'`);
    }
    return n;
  };
}
