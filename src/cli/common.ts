/** Pieces every `orbit` subcommand shares: the --master option, exits with a clear message. */
import { Option } from 'commander';
import { checkMasterSpec } from '../common/connection.js';
import type { ErrorReason } from '../common/errors.js';
import { LOG_LEVELS } from '../common/logging.js';

export const DEFAULT_MASTER = '127.0.0.1:5050';

/** `--master HOST:PORT[,HOST:PORT...]` or `etcd://HOST:PORT[,...]`, defaulting to $ORBIT_MASTER, then 127.0.0.1:5050. */
export function masterOption(): Option {
  return new Option('--master <host:port,...>', "the masters' gRPC addresses, tried in order, or etcd://HOST:PORT[,...] to read them from the masters' etcd (default: $ORBIT_MASTER or 127.0.0.1:5050)");
}

/** Resolves and validates the master list from the flag or environment; an error names where it came from. */
export function resolveMaster(flag: string | undefined): string {
  const env = process.env['ORBIT_MASTER'];
  const [value, source] = flag !== undefined ? [flag, '--master'] : env !== undefined ? [env, '$ORBIT_MASTER'] : [DEFAULT_MASTER, '--master'];
  return checkMasterSpec(value, source);
}

export function logLevelOption(): Option {
  return new Option('--log-level <level>', 'log level').choices([...LOG_LEVELS]).default('info');
}

/**
 * A failure the user caused or can fix: printed without a stack trace, exit code 1. When it is the
 * master's refusal, `reason` is the master's typed reason.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly reason: ErrorReason | undefined;
  constructor(message: string, options?: { reason?: ErrorReason | undefined }) {
    super(message);
    this.reason = options?.reason;
  }
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
